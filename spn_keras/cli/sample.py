"""spn_sample: draws images from a zoo pipeline (or upscales a real one) and writes a PNG grid.

  spn_sample --zoo=mnist28_mdu --num_images=16 --seed=0 --output=samples.png
  spn_sample --zoo=mnist28_mdu --upscale=thumbnail.png --num_images=4 --output=upscaled.png
  spn_sample --zoo=mnist28_mdu --upscale=digit.png --from_bits=3 --output=depth.png

`--zoo` and `--pipeline` name the model the same way (give one): a registered name
(pretrained weights: `$SPN_KERAS_HOME/<name>` or the pipelines shipped with the package) or a
pipeline folder. `--weights=random` samples the same architecture with fresh random weights.
`--out` and `--temperature` are aliases of `--output` and `--temperatures`.

`--upscale` completes real images with the stages that follow them, `--num_images` times each
(default: once): an image of the slice size (e.g. 14x14 for 28x28 MNIST) is upscaled in size
and then in depth; one of the full size is upscaled in depth only, and only with
`--from_bits=d1` (the pipeline's low depth): its d1 most significant bits are kept and the
others sampled. A PNG/JPEG holds 8-bit values; a `.npy` batch values of the pipeline's depth.
The JSON's `stages` are the stages that ran.

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
from spn_keras.ops.likelihood import check_images
from spn_keras.visualization import image_grid

GRID_SIZE = 512  # the default zoom makes the grid's longer side at least this many pixels

FLAGS = flags.FLAGS
flags.DEFINE_string("weights", "pretrained", "'pretrained', 'random' or a pipeline folder.")
flags.DEFINE_integer("num_images", 16, "Images to sample; with --upscale, upscalings of each "
                     "input image (default with --upscale: 1).")
flags.DEFINE_list("temperatures", ["1.0"], "One temperature, or one per stage (paper: "
                  "0.99 for the first stage, 1.0 for the others).")
flags.DEFINE_string("upscale", None, "A PNG/JPEG image (or a .npy batch) of slice or full "
                    "size to complete with the later stages instead of sampling.")
flags.DEFINE_integer("from_bits", None, "With --upscale: the input's significant bits, its "
                     "most significant ones (default: all of them); the others are sampled. A "
                     "full-size input needs it, equal to the pipeline's low depth d1 (mnist28_mdu:"
                     " 3).", lower_bound=1)
flags.DEFINE_enum("method", "cached", ["cached", "naive"], "Sampler.")
flags.DEFINE_integer("zoom", None, "Nearest-neighbour zoom of the grid (1: none); default: "
                     f"the smallest that makes its longer side at least {GRID_SIZE} pixels.",
                     lower_bound=1)
for _name in ("zoo", "pipeline", "seed", "output", "progress"):  # shared flags, in --help
  flags.declare_key_flag(_name)
flags.DEFINE_alias("out", "output")
flags.DEFINE_alias("temperature", "temperatures")


def _read_images(path):
  """The images of `--upscale`: a `(B, h, w, C)` batch (PNG/JPEG: uint8).

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


def _describe_shape(shape):
  return "x".join(map(str, shape))


def upscaling_plan(pipeline, shape, container_bits, from_bits=None):
  """Which stages `Pipeline.upscale` runs on images of `shape`, and the input's bits it keeps.

  Args:
    pipeline: the `Pipeline`.
    shape: `(h, w, C)` of the input images.
    container_bits: the depth of the input's values (8 for PNG/JPEG, the pipeline's `bits` for
      a `.npy` batch).
    from_bits: `--from_bits`, the input's significant (most significant) bits; None: all of
      them for a slice-size input (a full-size one must say it).

  Returns:
    `(stages, from_bits)`: the names of the stages that run, in order, and the bits kept.

  Raises:
    ValueError: the pipeline does not upscale images of `shape` (the message lists the sizes
      and depths it takes), or `from_bits` does not fit them.
  """
  slice_shape = tuple(pipeline.upscale_shapes[0]) if pipeline.size_upscaler else None
  accepted = []
  if slice_shape:
    accepted.append(f"{_describe_shape(slice_shape)} (slice size, at least "
                    f"{pipeline.low_bits} significant bits: size then depth upscaling)"
                    if pipeline.depth_upscaler else
                    f"{_describe_shape(slice_shape)} (slice size: size upscaling)")
  if pipeline.depth_upscaler:
    accepted.append(f"{_describe_shape(pipeline.image_shape)} (full size with "
                    f"--from_bits={pipeline.low_bits}: depth upscaling)")
  if not accepted:
    raise ValueError(f"--upscale: this pipeline (stages {list(pipeline.stages)}) has no stage "
                     f"that upscales; sample instead.")
  takes = f"this pipeline upscales images of {' or '.join(accepted)}"
  shape = tuple(shape)
  if from_bits is not None and not 1 <= from_bits <= container_bits:
    raise ValueError(f"--from_bits must be in [1, {container_bits}] (the input's depth), got "
                     f"{from_bits}.")
  if shape == slice_shape:
    from_bits = container_bits if from_bits is None else from_bits
    if from_bits < pipeline.low_bits:
      raise ValueError(f"--from_bits must be at least {pipeline.low_bits} for a slice-size "
                       f"input (the bits of the stages it conditions), got {from_bits}.")
    return pipeline.upscale_plan(shape).stage_names, from_bits
  if shape == tuple(pipeline.image_shape) and pipeline.depth_upscaler:
    if from_bits != pipeline.low_bits:
      given = "none" if from_bits is None else f"--from_bits={from_bits}"
      raise ValueError(
          f"--upscale: a full-size {_describe_shape(shape)} input keeps its "
          f"{pipeline.low_bits} most significant bits and has the other "
          f"{pipeline.bits - pipeline.low_bits} sampled: give --from_bits={pipeline.low_bits} "
          f"to say so (got {given}); {takes}.")
    return pipeline.upscale_plan(shape).stage_names, from_bits
  raise ValueError(f"--upscale: the input images are {_describe_shape(shape)}; {takes}.")


def sample(name_or_folder, weights="pretrained", num_images=None, temperatures=(1.0,), seed=0,
           output="samples.png", upscale=None, method="cached", progress=False, zoom=None,
           from_bits=None):
  """Samples (or upscales) with a zoo pipeline and writes a PNG grid; returns a summary.

  Args:
    name_or_folder: a registered zoo name or a pipeline folder.
    weights: "pretrained", "random" or a pipeline folder.
    num_images: images to sample (None: 16); with `upscale`, upscalings of each input image
      (None: 1), drawn together (the grid has one row per input when there are several).
    temperatures: one temperature, or one per stage.
    seed: the sampling seed.
    output: the PNG file to write.
    upscale: an image file (PNG/JPEG: 8-bit values, or a .npy batch: values of the
      pipeline's `bits`) to complete with the later stages instead of sampling, or None. See
      `upscaling_plan` for the sizes and depths it may have.
    method: "cached" or "naive".
    progress: show a progress bar per stage.
    zoom: positive int, the nearest-neighbour zoom of the grid (1: none); None: `default_zoom`.
    from_bits: with `upscale`, the input's significant bits (its most significant ones; the
      others are sampled); None: all of them. A full-size input needs it, equal to the
      pipeline's low depth `low_bits`.

  Returns:
    dict with `output`, `images` (their number), `stages` (those that ran), `seconds` (of
    sampling), `zoom` and the pipeline's `metadata`; with `upscale`, also `inputs` (their
    number), `per_input` (upscalings of each) and `from_bits`.

  Raises:
    ValueError: `zoom` or `num_images` is not a positive int (or None); `from_bits` without
      `upscale`; an `upscale` input of a size or depth that the pipeline does not upscale.
  """
  zoom = check_int("zoom", zoom, allow_none=True)
  num_images = check_int("num_images", num_images, allow_none=True)
  from_bits = check_int("from_bits", from_bits, allow_none=True)
  if from_bits is not None and not upscale:
    raise ValueError("--from_bits goes with --upscale (the input's significant bits).")
  temperatures = parse_temperatures(temperatures)
  folder = os.path.dirname(output) or "."
  if tf.io.gfile.isdir(output) or not tf.io.gfile.isdir(folder):
    raise ValueError(f"--output must be a PNG file in an existing folder, got `{output}`.")
  low_resolution = _read_images(upscale) if upscale else None
  pipeline = zoo.load(name_or_folder, weights=None if weights == "random" else weights)
  columns, extra = None, {}
  if upscale:
    container_bits = pipeline.bits if upscale.endswith(".npy") else 8
    stages, from_bits = upscaling_plan(pipeline, low_resolution.shape[1:], container_bits,
                                       from_bits)
    try:  # the values' type and range, before they are shifted to `from_bits`
      inputs = check_images("upscale", low_resolution, container_bits).numpy()
    except (TypeError, ValueError) as error:
      raise ValueError(f"--upscale: `{upscale}`: {error}") from None
    per_input = num_images or 1
    inputs = np.repeat(inputs >> (container_bits - from_bits), per_input, axis=0)
    columns = per_input if len(low_resolution) > 1 and per_input > 1 else None
    extra = {"inputs": len(low_resolution), "per_input": per_input, "from_bits": from_bits}
  else:
    stages = list(pipeline.stages)
  start = time.perf_counter()
  if upscale:
    images = pipeline.upscale(inputs, input_bits=from_bits, temperatures=temperatures,
                              seed=seed, method=method, progress=progress)
  else:
    images = pipeline.sample(16 if num_images is None else num_images,
                             temperatures=temperatures, seed=seed, method=method,
                             progress=progress)
  seconds = time.perf_counter() - start
  display = np.asarray(images).astype(np.uint8) << (8 - pipeline.bits)
  grid = image_grid(display, columns)[0]
  zoom = zoom or default_zoom(*grid.shape[:2])
  grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
  tf.io.write_file(output, tf.io.encode_png(grid))
  return {"output": output, "images": int(images.shape[0]), "stages": stages, **extra,
          "seconds": seconds, "zoom": zoom, "metadata": getattr(pipeline, "metadata", {})}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  model = common.model_name_from_flags(FLAGS.zoo, FLAGS.pipeline)
  seed = check_seed("seed", FLAGS.seed, allow_none=False)
  keras.utils.set_random_seed(seed % 2**32)  # random weights (--weights=random); Keras: 32 bits
  # --num_images left out: 16 samples, or one upscaling of each --upscale input.
  num_images = FLAGS.num_images if FLAGS["num_images"].present else None
  print(json.dumps(sample(model, FLAGS.weights, num_images, FLAGS.temperatures, seed,
                          FLAGS.output or "samples.png", FLAGS.upscale, FLAGS.method,
                          FLAGS.progress and not common.progress_silenced(FLAGS), FLAGS.zoom,
                          FLAGS.from_bits), default=str))


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
