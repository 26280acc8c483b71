"""spn_decompress: restores images from files made by spn_compress, as PNGs.

  spn_decompress --zoo=mnist28_mdu compressed/*.spn --output_dir=restored
  spn_decompress --zoo=mnist28_mdu digits.spna --output_dir=restored

`--zoo` and `--pipeline` name the model the same way (give one): a zoo name or a pipeline folder.
Writes `<output_dir>/<name>.png` for each `<name>.spn`, and `<output_dir>/<name>_<i>.png` for
each image `i` (0-based, zero-padded to one width) of an archive `<name>.spna` (told from a
file by its first bytes, whatever its extension), and prints JSON naming them. Decode with
the pipeline the files were made with, on a machine like the one that made them (see
`spn_keras.codec`): a file of another pipeline, a corrupt or truncated file, or one made in
another environment is an error, and nothing is written. Inputs (readable regular files) and
outputs (none exists unless `--overwrite`) are checked before any work; a mistake is one line
naming the file, exit status 2.
"""

import os
import sys
import time

from absl import flags
import tensorflow as tf

from spn_keras import codec
from spn_keras.cli import common
from spn_keras.codec.codec_header import ARCHIVE_MAGIC
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --output_dir, ...)

for _name in ("zoo", "pipeline", "output_dir", "overwrite", "progress"):
  flags.declare_key_flag(_name)


def _archive_outputs(path, blob, output):
  """`[png path]`: one for each image of the archive `blob` read from `path`, beside `output`
  (the `.png` path a file would get), named `<name>_<i>.png`.

  Raises:
    CodecError: naming `path`, when `blob`'s header does not read.
  """
  try:
    count = codec.ArchiveHeader.from_bytes(blob)[0].count
  except codec.CodecError as e:
    raise codec.CodecError(f"{path}: {e}") from None
  stem = os.path.splitext(output)[0]
  width = len(str(max(count - 1, 0)))
  return [f"{stem}_{index:0{width}d}.png" for index in range(count)]


def decompress_files(inputs, output_dir, zoo_name=None, pipeline_dir=None, overwrite=False,
                     progress=False):
  """Decodes `.spn` files and `.spna` archives into PNGs in `output_dir`; returns a summary.

  Args:
    inputs: paths of files and archives made by `spn_compress`.
    output_dir: the folder for the PNGs.
    zoo_name: `--zoo`: a registered zoo name (pretrained weights) or a pipeline folder.
    pipeline_dir: `--pipeline`, the same; give exactly one of `zoo_name` and `pipeline_dir`.
    overwrite: replace existing outputs.
    progress: show a progress bar.

  Returns:
    dict with `files` (`[{input, output}]`, one per image: an archive's entries also have
    `image`, the index in it) and `seconds`.

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
  archives = {path: _archive_outputs(path, blob, outputs[path])
              for path, blob in zip(inputs, blobs) if blob.startswith(ARCHIVE_MAGIC)}
  for path, pngs in archives.items():
    for png in pngs:
      if tf.io.gfile.exists(png) and not overwrite:
        raise FileExistsError(f"{png} exists (an image of {path}); pass --overwrite to "
                              f"replace it.")
  files = [(path, blob) for path, blob in zip(inputs, blobs) if path not in archives]
  pipeline = common.load_pipeline(zoo_name, pipeline_dir)
  start = time.perf_counter()
  try:
    images = codec.decompress(pipeline, [blob for _, blob in files], progress=progress)
  except codec.CodecError as e:  # name the file, not its index
    if e.file_index is None:
      raise
    path = files[e.file_index][0]
    raise codec.CodecError(f"{path}: {e}", e.file_index) from None
  pngs, entries = {}, []
  for (path, _), image in zip(files, images):
    pngs[outputs[path]] = tf.io.encode_png(image).numpy()
    entries.append({"input": path, "output": outputs[path]})
  for path, blob in zip(inputs, blobs):
    if path not in archives:
      continue
    try:
      images = codec.decompress_archive(pipeline, blob, progress=progress)
    except codec.CodecError as e:
      raise codec.CodecError(f"{path}: {e}", e.file_index) from None
    for index, (png, image) in enumerate(zip(archives[path], images)):
      pngs[png] = tf.io.encode_png(image).numpy()
      entries.append({"input": path, "image": index, "output": png})
  seconds = time.perf_counter() - start
  common.write_outputs(pngs, overwrite)
  order = {path: index for index, path in enumerate(inputs)}
  entries.sort(key=lambda entry: (order[entry["input"]], entry.get("image", 0)))
  return {"files": entries, "seconds": seconds}


def main(argv):
  common.convert_files_main(decompress_files, argv)  # CodecError is a ValueError


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
