"""spn_decompress: restores images from files made by spn_compress, as PNGs.

  spn_decompress --zoo=mnist28_mdu compressed/*.spn --output_dir=restored

`--zoo` and `--pipeline` name the model the same way (give one): a zoo name or a pipeline folder.
Writes `<output_dir>/<name>.png` for each `<name>.spn` and prints JSON naming them. Decode with
the pipeline the files were made with, on a machine like the one that made them (see
`spn_keras.codec`): a file of another pipeline, a corrupt or truncated file, or one made in
another environment is an error, and nothing is written. Inputs (readable regular files) and
outputs (none exists unless `--overwrite`) are checked before any work; a mistake is one line
naming the file, exit status 2.
"""

import sys
import time

from absl import flags
import tensorflow as tf

from spn_keras import codec
from spn_keras.cli import common
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --output_dir, ...)

for _name in ("zoo", "pipeline", "output_dir", "overwrite", "progress"):
  flags.declare_key_flag(_name)


def decompress_files(inputs, output_dir, zoo_name=None, pipeline_dir=None, overwrite=False,
                     progress=False):
  """Decodes `.spn` files into `<output_dir>/<name>.png`; returns a summary.

  Args:
    inputs: paths of files made by `spn_compress`.
    output_dir: the folder for the PNGs.
    zoo_name: `--zoo`: a registered zoo name (pretrained weights) or a pipeline folder.
    pipeline_dir: `--pipeline`, the same; give exactly one of `zoo_name` and `pipeline_dir`.
    overwrite: replace existing outputs.
    progress: show a progress bar.

  Returns:
    dict with `files` (`[{input, output}]`) and `seconds`.

  Raises:
    ValueError: naming the file: no inputs, a missing or unreadable input, an `output_dir`
      that is a file.
    spn_keras.codec.CodecError: a file that does not decode with this pipeline here.
    FileExistsError: an output exists and `overwrite` is False.
    OSError: an output cannot be written.
  """
  if not inputs:
    raise ValueError("Give at least one .spn file to decompress.")
  outputs = common.checked_output_paths(inputs, output_dir, ".png", overwrite)
  blobs = [common.read_input_file(path) for path in inputs]
  pipeline = common.load_pipeline(zoo_name, pipeline_dir)
  start = time.perf_counter()
  try:
    images = codec.decompress(pipeline, blobs, progress=progress)
  except codec.CodecError as e:  # name the file, not its index
    if e.file_index is None:
      raise
    raise codec.CodecError(f"{inputs[e.file_index]}: {e}", e.file_index) from None
  seconds = time.perf_counter() - start
  common.write_outputs({outputs[path]: tf.io.encode_png(image).numpy()
                        for path, image in zip(inputs, images)}, overwrite)
  return {"files": [{"input": path, "output": outputs[path]} for path in inputs],
          "seconds": seconds}


def main(argv):
  common.convert_files_main(decompress_files, argv)  # CodecError is a ValueError


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
