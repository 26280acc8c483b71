"""`SubscalePixelNetwork`: a conditioning network over preceding slices feeding a slice decoder."""

import keras
from keras import ops

from spn_keras.layers import SliceEmbedder
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.models.configs import SPNConfig
from spn_keras.models.slice_decoder import SliceDecoder


@keras.saving.register_keras_serializable(package="spn_keras")
class SubscalePixelNetwork(AutoregressiveImageModel):
  """A Subscale Pixel Network (paper section 3.2, Figure 4a; SPN_SPEC sections 2-6).

  The image is generated as `S*S` slices `x[a::S, b::S]` in meta-raster order. For each target
  slice a `SliceEmbedder` embeds the preceding slices (target-relative layout, padding and
  presence channels, meta-position) and, for depth upscaling, the whole low-depth image; a
  `SliceDecoder` generates the target slice given those features, position by position.

  Stage kinds (SPN_SPEC section 6):
  - a complete image model (`log_prob(images)` scores all slices); `S = 1` without
    conditioning is the decoder baseline on the whole image (no conditioning network);
  - a size upscaler: `log_prob(images, first_slice_given=True)` and
    `sample(..., first_slice=...)` take slice 0 as given;
  - a depth upscaler (`conditioning_bits > 0`): models the `bits` least significant bits
    given the `conditioning_bits` most significant bits of every pixel (`conditioning=`).

  Training picks one random target slice per example (`training_loss`, or `call` with
  `target_slice`); evaluation sums over all slices and is exact.

  Args:
    config: an `SPNConfig`.
    **kwargs: passed to `keras.Model`.

  Call args:
    inputs: dict with `"images"` int `(B, H, W, C)`, `"target_slice"` int `(B,)` and, for depth
      upscalers, `"conditioning"` int `(B, H, W, C)`.
    training: unused (the stages have no dropout); accepted for Keras.

  Returns:
    float32 logits `(B, H/S, W/S, C, 2**bits)` of each example's target slice.
  """

  config_class = SPNConfig

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    policy = self.dtype_policy
    self.embedder = SliceEmbedder(c.embedder, dtype=policy,
                                  name="embedder") if c.has_context else None
    self.decoder = SliceDecoder(c.decoder, dtype=policy, name="decoder")

  def _slice_context(self, slices, target, conditioning_slices):
    if self.embedder is None:
      return None
    return self.embedder(slices, target, conditioning_slices)

  def _decode(self, target_values, context):
    return self.decoder(target_values, context=context)

  def _slice_decoder(self):
    return self.decoder

  def build(self, inputs_shape=None):
    c = self.config
    self.slicer.build((None, *self.image_shape))
    h, w = c.slice_size
    slices = ops.zeros((1, c.scale**2, h, w, c.channels), "int32")
    conditioning = slices if c.conditioning_bits else None
    self._target_logits(slices, ops.zeros((1,), "int32"), conditioning)

  def compute_output_shape(self, inputs_shape=None):
    c = self.config
    h, w = c.slice_size
    return (None, h, w, c.channels, 2**c.bits)

  def call(self, inputs, training=False):
    if not isinstance(inputs, dict) or "images" not in inputs or "target_slice" not in inputs:
      raise ValueError("SubscalePixelNetwork expects a dict with 'images', 'target_slice' "
                       "and, for depth upscaling, 'conditioning'.")
    slices, conditioning_slices = self._prepare(inputs["images"], inputs.get("conditioning"))
    target = ops.cast(inputs["target_slice"], "int32")
    logits, _ = self._target_logits(slices, target, conditioning_slices)
    return logits
