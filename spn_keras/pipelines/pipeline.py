"""`Pipeline`: multidimensional upscaling, stages chained into one model of an image."""

import functools
import os
import random

import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.argument_checks import check_seed
from spn_keras.export.pipeline_exporter import PipelineExporter
from spn_keras.models.slice_decoder import SliceDecoder
from spn_keras.models.subscale_pixel_network import SubscalePixelNetwork
from spn_keras.ops import bit_depth
from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import nats_to_bits_per_dim
from spn_keras.ops.random_streams import stage_seed
from spn_keras.pipelines import serialization
from spn_keras.pipelines.stage_plan import StagePlan
from spn_keras.pipelines.stage_temperatures import stage_temperatures
from spn_keras.presets import pretrained_folder
from spn_keras.presets import spn_keras_home
from spn_keras.presets.folder_rules import STAGES
from spn_keras.presets.preset_folders import is_pipeline_folder
from spn_keras.sampling import SamplingProgress


def _eager_numpy(values):
  """`values` (a tensor or a dict of them) as numpy when executing eagerly; inside a traced
  graph (a `tf.function`, a SavedModel signature) the tensors as they are."""
  if not tf.executing_eagerly():
    return values
  return tf.nest.map_structure(lambda value: value.numpy(), values)


class Pipeline:
  """A model of full-size, full-depth images as a product of stages (paper sections 2.3-2.4).

  `log p(x) = log p_dec(x_low[::S, ::S]) + log p_size(x_low, slices >= 1 | slice 0)
  + log p_depth(x_lsb | x_low)`, where `x_low` are the `d1` most significant bits of `x` and
  `x_lsb` the rest (SPN_SPEC section 6). Any valid subset of stages is a pipeline:

  | stages | paper setting |
  | --- | --- |
  | `slice_decoder` | decoder baseline (the decoder models the whole image) |
  | `size_upscaler` | SPN |
  | `size_upscaler + depth_upscaler` | SPN + depth upscaling |
  | `slice_decoder + size_upscaler` | size upscaling |
  | `slice_decoder + depth_upscaler` | decoder + depth upscaling |
  | all three | multidimensional upscaling (MDU) |

  When both a slice decoder and a size upscaler are present, the decoder models slice 0 of
  the size upscaler (its `image_size` is the slice size) and the size upscaler scores slices
  `1 ..` only. A depth upscaler has the full image size and `conditioning_bits` equal to the
  bits of the stage below it.

  Args:
    slice_decoder: a `SliceDecoder`, or None.
    size_upscaler: a `SubscalePixelNetwork` without conditioning, or None.
    depth_upscaler: a `SubscalePixelNetwork` with `conditioning_bits > 0`, or None.

  Raises:
    ValueError: if the stages do not fit together.
  """

  def __init__(self, slice_decoder=None, size_upscaler=None, depth_upscaler=None):
    if slice_decoder is None and size_upscaler is None:
      raise ValueError("A pipeline needs a `slice_decoder` or a `size_upscaler` to generate "
                       "the low-depth image.")
    if slice_decoder is not None and not isinstance(slice_decoder, SliceDecoder):
      raise TypeError(f"`slice_decoder` must be a SliceDecoder, "
                      f"got {type(slice_decoder).__name__}.")
    for name, stage in (("size_upscaler", size_upscaler), ("depth_upscaler", depth_upscaler)):
      if stage is not None and not isinstance(stage, SubscalePixelNetwork):
        raise TypeError(f"`{name}` must be a SubscalePixelNetwork, got {type(stage).__name__}.")
    if size_upscaler is not None and size_upscaler.conditioning_bits:
      raise ValueError("`size_upscaler` must not be a depth upscaler (conditioning_bits = 0).")
    low = size_upscaler if size_upscaler is not None else slice_decoder
    if slice_decoder is not None and size_upscaler is not None:
      if size_upscaler.scale == 1:
        raise ValueError("With a `slice_decoder`, the `size_upscaler` needs `scale` > 1.")
      slice_shape = (size_upscaler.image_shape[0] // size_upscaler.scale,
                     size_upscaler.image_shape[1] // size_upscaler.scale,
                     size_upscaler.image_shape[2])
      if slice_decoder.image_shape != slice_shape or slice_decoder.bits != size_upscaler.bits:
        raise ValueError(
            f"`slice_decoder` must model slice 0 of the size upscaler: images {slice_shape} "
            f"at {size_upscaler.bits} bits, got {slice_decoder.image_shape} at "
            f"{slice_decoder.bits} bits.")
    if depth_upscaler is not None:
      if not depth_upscaler.conditioning_bits:
        raise ValueError("`depth_upscaler` must have `conditioning_bits` > 0.")
      if depth_upscaler.image_shape != low.image_shape:
        raise ValueError(f"`depth_upscaler` must model images {low.image_shape}, "
                         f"got {depth_upscaler.image_shape}.")
      if depth_upscaler.conditioning_bits != low.bits:
        raise ValueError(f"`depth_upscaler.conditioning_bits` ({depth_upscaler.conditioning_bits}"
                         f") must equal the bits of the stage below it ({low.bits}).")
    self.slice_decoder = slice_decoder
    self.size_upscaler = size_upscaler
    self.depth_upscaler = depth_upscaler
    self._low = low
    self.metadata = {}  # filled by `zoo.load` (name, dataset, recorded figures)

  def __repr__(self):
    name = self.metadata.get("name")
    height, width, channels = self.image_shape
    stages = ", ".join(f"{stage}={model!r}" for stage, model in self.stages.items())
    named = f"{name!r}, " if name else ""
    return f"Pipeline({named}{height}x{width}x{channels} at {self.bits} bits: {stages})"

  def summary(self, print_fn=print):
    """Prints a table of the stages: class, image shape, bits, scale, parameters, and the
    test bits/dim recorded in `metadata` (by `spn_eval --record`), with their total.

    Args:
      print_fn: called with each line (default `print`).
    """
    height, width, channels = self.image_shape
    name = self.metadata.get("name", "unnamed")
    dataset = f" on {self.metadata['dataset']}" if "dataset" in self.metadata else ""
    print_fn(f"Pipeline {name!r}: {height}x{width}x{channels} images at {self.bits} bits"
             f"{dataset}")
    rows = [("stage", "class", "image", "bits", "scale", "parameters", "test bits/dim")]
    total_parameters = 0
    for stage, model in self.stages.items():
      if not model.built:
        model.build()
      parameters = model.count_params()
      total_parameters += parameters
      stage_height, stage_width, stage_channels = model.image_shape
      bits = str(model.bits)
      if model.conditioning_bits:
        bits += f" given {model.conditioning_bits}"
      figure = self.metadata.get(f"{stage}_test_bits_per_dim")
      rows.append((stage, type(model).__name__, f"{stage_height}x{stage_width}x{stage_channels}",
                   bits, str(model.scale), f"{parameters:,}",
                   "-" if figure is None else f"{figure:.4f}"))
    figure = self.metadata.get("test_bits_per_dim")
    rows.append(("total", "", "", "", "", f"{total_parameters:,}",
                 "-" if figure is None else f"{figure:.4f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
      print_fn("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())

  @property
  def stages(self):
    """`{name: model}` of the stages present, in generation order."""
    return {name: getattr(self, name) for name in STAGES if getattr(self, name) is not None}

  @property
  def image_shape(self):
    """`(H, W, C)` of the full images."""
    return self._low.image_shape

  @property
  def low_bits(self):
    """`d1`: bits of the low-depth image (all bits when there is no depth upscaler)."""
    return self._low.bits

  @property
  def bits(self):
    """Bits per value of the full images: `d1 + d2`."""
    extra = self.depth_upscaler.bits if self.depth_upscaler is not None else 0
    return self.low_bits + extra

  @property
  def num_dims(self):
    return self.image_shape[0] * self.image_shape[1] * self.image_shape[2]

  @property
  def upscale_shapes(self):
    """The `(h, w, C)` of the images `upscale` completes, slice size first.

    The slice size `(H/S, W/S, C)` when there is a size upscaler, the full size `(H, W, C)`
    when there is a depth upscaler; empty for a pipeline with neither.
    """
    height, width, channels = self.image_shape
    shapes = []
    if self.size_upscaler is not None:
      s = self.size_upscaler.scale
      shapes.append((height // s, width // s, channels))
    if self.depth_upscaler is not None:
      shapes.append(self.image_shape)
    return shapes

  def upscale_plan(self, shape):
    """The `StagePlan` that `upscale` runs on images of `shape`: the stages after the part
    such an image is.

    Args:
      shape: `(h, w, C)`, one of `upscale_shapes`: the slice size is slice 0 of the low-depth
        image (`"first_slice"`: size then depth upscaling), the full size is the low-depth
        image (`"low"`: depth upscaling).

    Returns:
      A `StagePlan`; its `stage_names` are the stages that run.

    Raises:
      ValueError: `upscale` does not take images of `shape`.
    """
    shape = tuple(shape)
    if shape not in self.upscale_shapes:
      got = ", ".join(str(dim) for dim in ("B", *shape))
      raise ValueError(f"`images` must have shape (B, h, w, C) in {self.upscale_shapes} for "
                       f"this pipeline (stages {list(self.stages)}), got ({got}).")
    return StagePlan(self, ["low" if shape == self.image_shape else "first_slice"])

  def stage_view(self, stage, input_bits=8):
    """What `stage` trains and is evaluated on, as a function of one image.

    Args:
      stage: a stage name of this pipeline.
      input_bits: bit depth of the images the function receives (8 for uint8 datasets);
        they are first reduced to the pipeline's `bits`.

    Returns:
      A function of one int image `(H, W, C)` returning `{"images": ...}` (plus
      `"conditioning"` for the depth upscaler), for `tf.data.Dataset.map`: the slice decoder
      sees slice 0 of the low-depth image (or the whole low-depth image when there is no size
      upscaler), the size upscaler the low-depth image, the depth upscaler the low bits given
      the high ones (SPN_SPEC section 6).
    """
    if stage not in self.stages:
      raise ValueError(f"`stage` must be one of {list(self.stages)}, got {stage!r}.")
    full_image = self.stage_view_full_images(input_bits)
    plan = StagePlan(self)
    step = plan.step(stage)
    return lambda image: step.view(plan.split(full_image(image)))

  def stage_view_full_images(self, input_bits=8):
    """A function reducing one `input_bits` image to the pipeline's full images (`bits`)."""
    check_int("input_bits", input_bits, self.bits, 8)
    return lambda image: bit_depth.reduce_bits(image, self.bits, from_bits=input_bits)

  def save(self, path, metadata=None, overwrite=False):
    """Saves the pipeline as a folder; see `spn_keras.pipelines.save_pipeline`."""
    serialization.save_pipeline(self, path, metadata, overwrite)

  def export(self, path, version=1, overwrite=False, metadata=None, warmup=True):
    """Exports a SavedModel for TF Serving; see `spn_keras.export.PipelineExporter`.

    Args:
      path: the model's base folder (TF Serving's model base path).
      version: positive int, the version folder.
      overwrite: replace an existing version folder (atomically).
      metadata: JSON-serializable dict merged over `self.metadata` in `export.json`.
      warmup: also write TF Serving's warm-up records
        (`<version>/assets.extra/tf_serving_warmup_requests`, one small request per
        signature); needs tensorflow-serving-api (the `serving` extra).

    Returns:
      The version folder written, `<path>/<version>`.
    """
    return PipelineExporter(self).export(path, version, overwrite, metadata, warmup)

  @classmethod
  def load(cls, path, weights=True):
    """Loads a pipeline folder (checking weight digests); returns the `Pipeline`."""
    pipeline, metadata = load_pipeline(path, weights)
    pipeline.metadata = metadata
    return pipeline

  @classmethod
  def from_preset(cls, preset):
    """A pretrained pipeline by name, or a pipeline folder (keras-hub style).

    The same folder and weights as `spn_keras.zoo.load(preset)`: a name is looked for in
    `$SPN_KERAS_HOME/<name>`, then among the pipelines shipped with the package. (`zoo.load`
    also checks a registered name's architecture, and can build one with random weights.)

    Args:
      preset: a pipeline name (e.g. "mnist28_mdu") or folder.

    Returns:
      The `Pipeline`, with `metadata` (name, dataset, recorded test bits/dim, ...).

    Raises:
      ValueError: no pipeline by that name or in that folder; a corrupt weights file.
    """
    folder = os.path.expanduser(str(preset))
    if not is_pipeline_folder(folder):
      folder = pretrained_folder(str(preset))
    if folder is None:
      raise ValueError(f"Unknown preset {preset!r}: not a pipeline folder, and no pipeline of "
                       f"that name in {spn_keras_home()} ($SPN_KERAS_HOME) or among the "
                       f"pipelines shipped with spn-keras.")
    pipeline = cls.load(str(folder))
    name = os.path.basename(folder.rstrip("/"))
    pipeline.metadata = {"name": name, **pipeline.metadata, "weights": folder}
    return pipeline

  def log_prob(self, images):
    """Exact log-likelihood of full images, per stage and in total.

    Like `bits_per_dim`, `sample` and `upscale`, it returns numpy arrays when called eagerly
    and tensors inside a traced graph (a `tf.function`, as `spn_keras.export` traces it). The
    stages' own methods (`SubscalePixelNetwork.log_prob`, ...) always return tensors.

    Args:
      images: int `(B, H, W, C)` values in `[0, 2**bits)` (uint8 8-bit images for 8-bit
        pipelines).

    Returns:
      dict of numpy float32 `(B,)` arrays in nats: one per stage present, plus `"total"`.
    """
    return _eager_numpy(self._log_prob(images))

  def _log_prob(self, images):
    """`log_prob` as tensors."""
    images = check_images("images", images, self.bits, self.image_shape)
    plan = StagePlan(self)
    parts = plan.split(images)
    terms = {step.name: step.log_prob(parts) for step in plan.steps}
    terms["total"] = tf.add_n(list(terms.values()))
    return terms

  def bits_per_dim(self, images):
    """`log_prob` in bits per dimension of the *full* image, so the stages add up to the total.

    Args:
      images: as in `log_prob`.

    Returns:
      dict of numpy float32 `(B,)` arrays (tensors inside a traced graph), keys as in
      `log_prob`.
    """
    return _eager_numpy({name: nats_to_bits_per_dim(value, self.num_dims)
                         for name, value in self._log_prob(images).items()})

  def _generate(self, num_images, known, temperatures, seed, method, progress=False,
                jit_compile=True, compute_dtype=None):
    """Runs the stages after the `known` parts (`StagePlan`): `{}` (sampling), or
    `{"first_slice": ...}` or `{"low": ...}` (`upscale`); returns uint8 `(B, H, W, C)`."""
    if not tf.is_tensor(seed):
      seed = check_seed("seed", seed)
    if seed is None:
      seed = random.SystemRandom().randrange(2**62)
    seeds = {name: stage_seed(seed, i) for i, name in enumerate(STAGES)}
    plan = StagePlan(self, known)
    if not tf.is_tensor(num_images):
      check_int("num_images", num_images)
      for step in plan.steps:  # before any stage runs
        step.model.check_sampling_memory(num_images)
    bar = None
    if progress:
      bar = SamplingProgress([(step.name, step.num_slices, step.model.slice_sampling_cost())
                              for step in plan.steps])

    def sample(step, inputs):
      return step.model.sample(
          num_images, temperatures[step.name], seeds[step.name], method=method,
          jit_compile=jit_compile, compute_dtype=compute_dtype,
          progress=False if bar is None else functools.partial(bar.slice_done, step.name),
          **inputs)

    return tf.cast(plan.run(sample, known), tf.uint8)

  def sample(self, num_images, temperatures=1.0, seed=None, method="cached", progress=False,
             jit_compile=True, compute_dtype=None):
    """Draws full images: each stage samples given the outputs of the stages before it.

    Args:
      num_images: batch size.
      temperatures: one float for all stages, a sequence with one per stage present (in
        generation order), or a dict `{stage name: T}` (missing stages: 1.0). The paper uses
        0.99 for the first stage and 1.0 for the others.
      seed: int seed; the same seed gives the same images. None draws one.
      Inside a traced graph (a SavedModel signature, `spn_keras.export`) `num_images` and
      `seed` may be scalar tensors and `temperatures` a sequence or dict of scalar tensors.
      method: "cached" (incremental sampling) or "naive" (the reference; same images).
      progress: show one progress bar over all the stages' slices, with an ETA weighted by
        each slice's cost (`SamplingProgress`).
      jit_compile, compute_dtype: options of the cached sampler, as in
        `SubscalePixelNetwork.sample` (XLA by default; "bfloat16" is not bit-identical).

    Returns:
      numpy uint8 `(B, H, W, C)` with values in `[0, 2**bits)` (a tensor inside a traced
      graph).
    """
    return _eager_numpy(self._generate(num_images, {}, stage_temperatures(list(self.stages), temperatures), seed,
                                       method, progress, jit_compile, compute_dtype))

  def upscale(self, images, input_bits=None, temperatures=1.0, seed=None, method="cached",
              progress=False, jit_compile=True, compute_dtype=None):
    """Completes real low-resolution and/or low-depth images with the later stages.

    Images of the slice size go through size upscaling (they become slice 0) and then depth
    upscaling; images of the full size go through depth upscaling only. Values are first
    reduced from `input_bits` to the pipeline's low depth `d1` (keeping the most significant
    bits), so a real 8-bit thumbnail can be passed directly.

    Args:
      images: int `(B, h, w, C)` (slice size) or `(B, H, W, C)` (full size).
      input_bits: bit depth of `images`; defaults to the pipeline's full depth `bits`.
      temperatures, seed, method, progress, jit_compile, compute_dtype: as in `sample`.

    Returns:
      numpy uint8 `(B, H, W, C)` full images at `bits` bits (a tensor inside a traced graph).
    """
    input_bits = self.bits if input_bits is None else input_bits
    check_int("input_bits", input_bits, self.low_bits, 8)
    images = check_images("images", images, input_bits)
    plan = self.upscale_plan(images.shape[1:])
    low = bit_depth.reduce_bits(images, self.low_bits, from_bits=input_bits)
    num_images = images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]
    known = {part: low for part in plan.known}
    return _eager_numpy(self._generate(num_images, known, stage_temperatures(list(self.stages), temperatures),
                                       seed, method, progress, jit_compile, compute_dtype))


def load_pipeline(path, weights=True):
  """Loads a pipeline folder saved by `Pipeline.save` (`spn_keras.pipelines.save_pipeline`).

  Args:
    path: the folder.
    weights: load (and sha256-check) the weights; False builds the stages with random ones.

  Returns:
    `(pipeline, metadata)`.
  """
  stages, metadata = serialization.load_stages(path, weights)
  return Pipeline(**stages), metadata
