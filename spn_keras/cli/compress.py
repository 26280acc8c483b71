"""spn_compress: compresses images losslessly with a pipeline's exact likelihood.

  spn_compress --zoo=mnist28_mdu digit0.png digit1.png --output_dir=compressed
  spn_compress --pipeline=my_pipeline photos/*.png --output_dir=out --overwrite
  spn_compress --zoo=mnist28_mdu digits/*.png --archive=digits.spna

`--zoo` and `--pipeline` name the model the same way (give one): a zoo name (its pretrained
weights) or a pipeline folder, local or a bucket path.
Writes `<output_dir>/<name>.spn` for each `<name>.png` (any image TensorFlow decodes: PNG,
JPEG, BMP, GIF; of any height and width, tiled into the pipeline's image size) and prints JSON
with the files, their bytes and bits per dimension. With `--archive=<path>` (instead of
`--output_dir`) writes one archive of all the images, which must then have one size
(`spn_keras.codec.compress_archive`). Every input and output is checked before any work
(inputs are readable regular files; outputs do not exist unless `--overwrite`), and every
image before any is coded (the pipeline's channels and bit depth): a wrong one is one line
naming the file, exit status 2, and nothing is written.
`spn_decompress` restores the images exactly, with the same pipeline, where the files were made
(see `spn_keras.codec`).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from spn_keras import codec
from spn_keras.cli import common
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --output_dir, ...)

SUFFIX = ".spn"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # a PNG's IHDR bit depth is byte 24
ARCHIVE_SUFFIX = ".spna"
_ARCHIVE = flags.DEFINE_string(
    "archive", None, "Write one archive of all the images (of one size) to this path, instead "
    "of a file per image into --output_dir.")
for _name in ("zoo", "pipeline", "output_dir", "overwrite", "progress"):
  flags.declare_key_flag(_name)


def decode_image(path, contents, pipeline):
  """Decodes one image file's `contents` as uint8 `(H, W, C)`, checked against the pipeline.

  Args:
    path: the file's path, for the messages.
    contents: its bytes.
    pipeline: the `Pipeline` whose images it must be.

  Returns:
    uint8 `(H, W, C)`.

  Raises:
    ValueError: naming the file: not an image, or another channel count or depth.
  """
  if contents[:8] == _PNG_SIGNATURE and len(contents) > 24 and contents[24] == 16:
    raise ValueError(f"{path}: a 16-bit PNG; the pipeline codes {pipeline.bits}-bit values.")
  try:
    image = tf.io.decode_image(contents, expand_animations=False).numpy()
  except tf.errors.OpError as error:
    reason = common.user_error_message(error)
    raise ValueError(f"{path}: not a readable image ({reason}).") from None
  channels = pipeline.image_shape[2]
  if image.shape[2] != channels:
    raise ValueError(f"{path}: a {image.shape[0]}x{image.shape[1]} image with "
                     f"{image.shape[2]} channel(s); the pipeline codes images with {channels}.")
  if image.max() >= 2**pipeline.bits:
    raise ValueError(f"{path}: values up to {image.max()}; the pipeline codes "
                     f"{pipeline.bits}-bit values (below {2**pipeline.bits}).")
  return image


def compress_files(inputs, output_dir, zoo_name=None, pipeline_dir=None, overwrite=False,
                   progress=False):
  """Compresses image files into `<output_dir>/<name>.spn`; returns a summary.

  The inputs and outputs are checked, and the inputs read, before the pipeline is loaded;
  the images are checked before any is coded; nothing is written unless all are coded.

  Args:
    inputs: image file paths.
    output_dir: the folder for the compressed files.
    zoo_name: `--zoo`: a registered zoo name (pretrained weights) or a pipeline folder.
    pipeline_dir: `--pipeline`, the same; give exactly one of `zoo_name` and `pipeline_dir`.
    overwrite: replace existing outputs.
    progress: show a progress bar.

  Returns:
    dict with `files` (`[{input, output, bytes, bits_per_dim}]`), `bits_per_dim` (their
    mean), `seconds`.

  Raises:
    ValueError: naming the file: no inputs, a missing or unreadable input, one that is not
      an image of the pipeline's shape and depth, an `output_dir` that is a file.
    FileExistsError: an output exists and `overwrite` is False.
    OSError: an output cannot be written.
  """
  if not inputs:
    raise ValueError("Give at least one image file to compress.")
  outputs = common.checked_output_paths(inputs, output_dir, SUFFIX, overwrite)
  contents = [common.read_input_file(path) for path in inputs]
  pipeline = common.load_pipeline(zoo_name, pipeline_dir)
  images = [decode_image(path, blob, pipeline) for path, blob in zip(inputs, contents)]
  start = time.perf_counter()
  blobs = codec.compress(pipeline, images, progress=progress)
  seconds = time.perf_counter() - start
  common.write_outputs(dict(zip(outputs.values(), blobs)), overwrite)
  files = [{"input": path, "output": outputs[path], "bytes": len(blob),
            "bits_per_dim": 8 * len(blob) / image.size}
           for path, blob, image in zip(inputs, blobs, images)]
  return {"files": files, "bits_per_dim": float(np.mean([f["bits_per_dim"] for f in files])),
          "seconds": seconds}


def compress_archive(inputs, archive, zoo_name=None, pipeline_dir=None, overwrite=False,
                     progress=False):
  """Compresses image files of one size into one archive at `archive`; returns a summary.

  Checked as `compress_files` checks (inputs must also have distinct file names).

  Returns:
    dict with `archive`, `images` (the inputs in order), `bytes`, `bits_per_dim`, `seconds`.

  Raises:
    ValueError: naming the file: no inputs, a missing or unreadable input, one that is not an
      image of the pipeline's channels and depth, images of several sizes, an archive path
      that is a folder.
    FileExistsError: the archive exists and `overwrite` is False.
    OSError: the archive cannot be written.
  """
  if not inputs:
    raise ValueError("Give at least one image file to compress.")
  common.checked_output_paths(inputs, os.path.dirname(archive), ARCHIVE_SUFFIX, True)
  if tf.io.gfile.isdir(archive):
    raise ValueError(f"--archive {archive} is a folder, not a file.")
  if tf.io.gfile.exists(archive) and not overwrite:
    raise FileExistsError(f"{archive} exists; pass --overwrite to replace it.")
  contents = [common.read_input_file(path) for path in inputs]
  pipeline = common.load_pipeline(zoo_name, pipeline_dir)
  images = [decode_image(path, blob, pipeline) for path, blob in zip(inputs, contents)]
  for path, image in zip(inputs, images):
    if image.shape != images[0].shape:
      raise ValueError(f"{path}: a {image.shape[0]}x{image.shape[1]} image; an archive holds "
                       f"images of one size, and {inputs[0]} is "
                       f"{images[0].shape[0]}x{images[0].shape[1]}.")
  start = time.perf_counter()
  blob = codec.compress_archive(pipeline, images, progress=progress)
  seconds = time.perf_counter() - start
  common.write_outputs({archive: blob}, overwrite)
  return {"archive": archive, "images": list(inputs), "bytes": len(blob),
          "bits_per_dim": 8 * len(blob) / sum(image.size for image in images),
          "seconds": seconds}


def main(argv):
  if _ARCHIVE.value is None:
    common.convert_files_main(compress_files, argv)
    return
  flag_values = flags.FLAGS
  try:  # as `convert_files_main`, with --archive in place of --output_dir
    common.model_name_from_flags(flag_values.zoo, flag_values.pipeline)
    if flag_values.output_dir:
      raise app.UsageError("Give --archive or --output_dir, not both.")
    summary = compress_archive(argv[1:], _ARCHIVE.value, flag_values.zoo, flag_values.pipeline,
                               flag_values.overwrite,
                               flag_values.progress and not common.progress_silenced(flag_values))
  except (app.UsageError, ValueError, OSError) as error:
    common.exit_with_error(common.user_error_message(error))
  print(json.dumps(summary))


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
