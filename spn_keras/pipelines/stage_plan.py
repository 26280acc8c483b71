"""`StagePlan`: which stages of a pipeline run, in which order, on which part of the image."""

import tensorflow as tf

from spn_keras.ops import bit_depth
from spn_keras.pipelines.stage_step import StageStep

KNOWN_PARTS = ("first_slice", "low")  # the parts a plan may start from (`Pipeline.upscale`)


class StagePlan:
  """The steps of a pipeline (SPN_SPEC section 6), and how an image splits into their parts.

  In generation order: the slice decoder models slice 0 of the low-depth image (`"first_slice"`,
  or the whole low-depth image `"low"` without a size upscaler); the size upscaler models the
  low-depth image (`"low"`), given its slice 0 when there is a slice decoder (or when it is
  known); the depth upscaler models the low bits (`"lsb"`) given the low-depth image. Its steps
  are what `Pipeline.log_prob`, sampling, `upscale`, `stage_view` and the codec walk.

  Args:
    pipeline: a `Pipeline` (or any object with its `slice_decoder`, `size_upscaler`,
      `depth_upscaler`, `low_bits` and `bits`).
    known: the parts known before the first step (names from `KNOWN_PARTS`, or a dict keyed by
      them): none for the whole pipeline; `"first_slice"` (a thumbnail to size-upscale) skips
      the slice decoder; `"low"` (a low-depth image) skips the stages before depth upscaling.

  Attributes:
    known: tuple of the parts known before the first step.
    steps: tuple of `StageStep`, in the order they run.
  """

  def __init__(self, pipeline, known=()):
    known = set(known)
    if not known <= set(KNOWN_PARTS):
      raise ValueError(f"`known` must name parts in {KNOWN_PARTS}, got {sorted(known)}.")
    self.known = tuple(sorted(known))
    slice_decoder = pipeline.slice_decoder
    size_upscaler = pipeline.size_upscaler
    depth_upscaler = pipeline.depth_upscaler
    steps = []
    if not known and slice_decoder is not None:
      steps.append(StageStep("slice_decoder", slice_decoder,
                             "low" if size_upscaler is None else "first_slice"))
    if "low" not in known and size_upscaler is not None:
      first_slice_given = slice_decoder is not None or "first_slice" in known
      steps.append(StageStep("size_upscaler", size_upscaler, "low",
                             "first_slice" if first_slice_given else None))
    if depth_upscaler is not None:
      steps.append(StageStep("depth_upscaler", depth_upscaler, "lsb", "low"))
    self.steps = tuple(steps)
    uses_first_slice = any("first_slice" in (step.produces, step.given) for step in steps)
    self._first_slice_scale = size_upscaler.scale if uses_first_slice else None
    self._low_bits = pipeline.low_bits
    self._bits = pipeline.bits
    self._lsb_bits = None if depth_upscaler is None else depth_upscaler.bits

  @property
  def stage_names(self):
    """The names of the stages that run, in order."""
    return [step.name for step in self.steps]

  def step(self, name):
    """The `StageStep` of the stage `name` (a `KeyError` if it does not run)."""
    return {step.name: step for step in self.steps}[name]

  def split(self, images):
    """The parts of full images that the steps model and are given.

    Args:
      images: int `(B, H, W, C)` (or one image `(H, W, C)`) at the pipeline's `bits`.

    Returns:
      `{part: int tensor}` of the dtype of `images`: `"low"` (`(..., H, W, C)`, the `d1` most
      significant bits: `images` itself without a depth upscaler), `"lsb"` (`(..., H, W, C)`,
      the `d2` least significant bits) with a depth upscaler, and `"first_slice"`
      (`(..., H/S, W/S, C)`, slice 0 of `"low"`) when a step models it or is given it.
    """
    if self._lsb_bits is None:
      parts = {"low": images}
    else:
      low, lsb = bit_depth.split_bits(images, self._low_bits, total_bits=self._bits)
      parts = {"low": low, "lsb": lsb}
    if self._first_slice_scale is not None:
      s = self._first_slice_scale
      parts["first_slice"] = parts["low"][..., ::s, ::s, :]
    return parts

  def join(self, parts):
    """Inverse of `split`: the full images of the parts `"low"` and (with a depth upscaler)
    `"lsb"`.

    Args:
      parts: `{part: int (B, H, W, C)}`.

    Returns:
      int `(B, H, W, C)`: `parts["low"]` as it is without a depth upscaler, else the bits
      joined, int32.
    """
    if self._lsb_bits is None:
      return parts["low"]
    return bit_depth.join_bits(tf.cast(parts["low"], tf.int32), tf.cast(parts["lsb"], tf.int32),
                               self._lsb_bits)

  def run(self, run_step, known=None):
    """Runs the steps in order, each given what the steps before it produced, and joins them.

    Args:
      run_step: `fn(step, inputs) -> int (B, ...)`: runs `step` (sampling, coding) with the
        keyword arguments `inputs` (`StageStep.inputs`) and returns the part it produces.
      known: `{part: int tensor}`, the parts the plan was built as knowing (default none).

    Returns:
      int `(B, H, W, C)`: the full images (`join`).
    """
    parts = dict(known or {})
    for step in self.steps:
      parts[step.produces] = run_step(step, step.inputs(parts))
    return self.join(parts)
