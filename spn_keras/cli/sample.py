"""spn_sample: draws images from a zoo pipeline (or upscales a real one) and writes a PNG grid.

  spn_sample --zoo=mnist28_mdu --num_images=16 --seed=0 --output=samples.png
  spn_sample --zoo=mnist28_mdu --upscale=thumbnail.png --output=upscaled.png

`--zoo` takes a registered name (pretrained weights: `$SPN_KERAS_HOME/<name>` or the
pipelines shipped with the package) or a pipeline folder; `--pipeline` a pipeline folder.
`--weights=random` samples the same architecture with fresh random weights. `--out` and
`--temperature` are aliases of `--output` and `--temperatures`.

The grid is enlarged by nearest-neighbour zoom, by default the smallest integer factor that
makes its longer side at least 512 pixels (16 MNIST digits: a 112x112 grid, zoom 5, 560x560);
`--zoom` sets the factor, and `--zoom=1` writes the images at their own size.
"""

import json
import math
import os
import sys
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

from spn_keras import zoo
from spn_keras.argument_checks import check_int
from spn_keras.argument_checks import check_seed
from spn_keras.cli import common
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --seed, --output, ...)
from spn_keras.visualization import image_grid

GRID_SIZE = 512  # the default zoom makes the grid's longer side at least this many pixels

FLAGS = flags.FLAGS
flags.DEFINE_string("weights", "pretrained", "'pretrained', 'random' or a pipeline folder.")
flags.DEFINE_integer("num_images", 16, "Images to sample.")
flags.DEFINE_list("temperatures", ["1.0"], "One temperature, or one per stage (paper: "
                  "0.99 for the first stage, 1.0 for the others).")
flags.DEFINE_string("upscale", None, "A PNG/JPEG image (or a .npy batch) of slice or full "
                    "size to complete with the later stages instead of sampling.")
flags.DEFINE_enum("method", "cached", ["cached", "naive"], "Sampler.")
flags.DEFINE_integer("zoom", None, "Nearest-neighbour zoom of the grid (1: none); default: "
                     f"the smallest that makes its longer side at least {GRID_SIZE} pixels.",
                     lower_bound=1)
for _name in ("zoo", "pipeline", "seed", "output", "progress"):  # shared flags, in --help
  flags.declare_key_flag(_name)
flags.DEFINE_alias("out", "output")
flags.DEFINE_alias("temperature", "temperatures")


def _read_images(path):
  """The images of `--upscale`: a `(B, h, w, C)` batch.

  Raises:
    ValueError: `path` is not a regular file, or not an image or `.npy` array that decodes.
  """
  if not tf.io.gfile.exists(path) or tf.io.gfile.isdir(path):
    raise ValueError(f"--upscale: no image file at `{path}`.")
  try:
    if path.endswith(".npy"):
      with tf.io.gfile.GFile(path, "rb") as f:
        images = np.load(f, allow_pickle=False)
      return images if images.ndim == 4 else images[None]
    return tf.io.decode_image(tf.io.read_file(path), expand_animations=False).numpy()[None]
  except (ValueError, OSError, tf.errors.OpError) as error:
    message = error.message if isinstance(error, tf.errors.OpError) else str(error)
    raise ValueError(f"--upscale: cannot read `{path}` as a PNG/JPEG image or a .npy array: "
                     f"{message.splitlines()[0]}") from None


def parse_temperatures(values):
  """The `--temperatures` flag's values as floats (one, or one per stage).

  Raises:
    ValueError: a value is not a number.
  """
  try:
    temperatures = [float(value) for value in values]
  except ValueError:
    raise ValueError(f"--temperatures must be one number or one per stage (comma-separated), "
                     f"got {','.join(values)!r}.") from None
  return temperatures[0] if len(temperatures) == 1 else temperatures


def default_zoom(height, width):
  """The smallest integer zoom that makes a grid's longer side at least `GRID_SIZE` pixels."""
  return max(1, math.ceil(GRID_SIZE / max(height, width)))


def sample(name_or_folder, weights="pretrained", num_images=16, temperatures=(1.0,), seed=0,
           output="samples.png", upscale=None, method="cached", progress=False, zoom=None):
  """Samples (or upscales) with a zoo pipeline and writes a PNG grid; returns a summary.

  Args:
    name_or_folder: a registered zoo name or a pipeline folder.
    weights: "pretrained", "random" or a pipeline folder.
    num_images: images to sample (ignored with `upscale`).
    temperatures: one temperature, or one per stage.
    seed: the sampling seed.
    output: the PNG file to write.
    upscale: an image file (PNG/JPEG, or a .npy batch) to complete with the later stages
      instead of sampling, or None.
    method: "cached" or "naive".
    progress: show a progress bar per stage.
    zoom: positive int, the nearest-neighbour zoom of the grid (1: none); None: `default_zoom`.

  Returns:
    dict with `output`, `images` (their number), `stages`, `seconds` (of sampling), `zoom`
    and the pipeline's `metadata`.

  Raises:
    ValueError: `zoom` is not a positive int or None.
  """
  zoom = check_int("zoom", zoom, allow_none=True)
  temperatures = parse_temperatures(temperatures)
  folder = os.path.dirname(output) or "."
  if tf.io.gfile.isdir(output) or not tf.io.gfile.isdir(folder):
    raise ValueError(f"--output must be a PNG file in an existing folder, got `{output}`.")
  low_resolution = _read_images(upscale) if upscale else None
  pipeline = zoo.load(name_or_folder, weights=None if weights == "random" else weights)
  start = time.perf_counter()
  stages = list(pipeline.stages)
  if upscale:
    images = pipeline.upscale(low_resolution, temperatures=temperatures, seed=seed,
                              method=method, progress=progress)
  else:
    images = pipeline.sample(num_images, temperatures=temperatures, seed=seed, method=method,
                             progress=progress)
  seconds = time.perf_counter() - start
  display = np.asarray(images).astype(np.uint8) << (8 - pipeline.bits)
  grid = image_grid(display)[0]
  zoom = zoom or default_zoom(*grid.shape[:2])
  grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
  tf.io.write_file(output, tf.io.encode_png(grid))
  return {"output": output, "images": int(images.shape[0]), "stages": stages,
          "seconds": seconds, "zoom": zoom, "metadata": getattr(pipeline, "metadata", {})}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if (FLAGS.zoo is None) == (FLAGS.pipeline is None):
    raise app.UsageError("Give one of --zoo (a registered name or a pipeline folder) and "
                         "--pipeline (a pipeline folder).")
  seed = check_seed("seed", FLAGS.seed, allow_none=False)
  keras.utils.set_random_seed(seed % 2**32)  # random weights (--weights=random); Keras: 32 bits
  print(json.dumps(sample(FLAGS.zoo or FLAGS.pipeline, FLAGS.weights, FLAGS.num_images,
                          FLAGS.temperatures, seed, FLAGS.output or "samples.png", FLAGS.upscale,
                          FLAGS.method, FLAGS.progress, FLAGS.zoom), default=str))


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
