"""`SubscalePixelNetwork`: a conditioning network over preceding slices feeding a slice decoder."""

import keras
from keras import ops

from spn_keras.layers import SliceEmbedder
from spn_keras.layers import SubscaleSlicer
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.models.autoregressive_image_model import check_images
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
    training: whether dropout is active.

  Returns:
    float32 logits `(B, H/S, W/S, C, 2**bits)` of each example's target slice.
  """

  def __init__(self, config, **kwargs):
    if isinstance(config, dict):
      config = SPNConfig.from_dict(config)
    if not isinstance(config, SPNConfig):
      raise TypeError(f"`config` must be an SPNConfig, got {type(config).__name__}.")
    super().__init__(**kwargs)
    self.config = config
    c = config
    policy = self.dtype_policy
    self.slicer = SubscaleSlicer(c.scale, name="slicer")
    self.embedder = SliceEmbedder(
        c.scale, c.channels, c.bits, c.conditioning_bits, c.embedding_dim,
        c.embedder_conv_layers, c.embedder_conv_channels, c.embedder_residual_channels,
        c.embedder_attention_layers, c.embedder_attention_heads,
        c.embedder_attention_channels, c.embedder_attention_ffn_channels, dtype=policy,
        name="embedder") if c.has_context else None
    self.decoder = SliceDecoder(c.decoder_config(), dtype=policy, name="decoder")

  @property
  def image_shape(self):
    return (self.config.height, self.config.width, self.config.channels)

  @property
  def bits(self):
    return self.config.bits

  @property
  def scale(self):
    return self.config.scale

  @property
  def conditioning_bits(self):
    return self.config.conditioning_bits

  def _slicer(self):
    return self.slicer

  def _slice_context(self, slices, target, conditioning_slices):
    if self.embedder is None:
      return None
    return self.embedder(slices, target, conditioning_slices)

  def _decode(self, target_values, context):
    return self.decoder(target_values, context=context)

  def build(self, inputs_shape=None):
    c = self.config
    h, w = c.slice_size
    slices = ops.zeros((1, c.scale**2, h, w, c.channels), "int32")
    conditioning = slices if c.conditioning_bits else None
    self._target_logits(slices, ops.zeros((1,), "int32"), conditioning)

  def call(self, inputs, training=False):
    if not isinstance(inputs, dict) or "images" not in inputs or "target_slice" not in inputs:
      raise ValueError("SubscalePixelNetwork expects a dict with 'images', 'target_slice' "
                       "and, for depth upscaling, 'conditioning'.")
    slices, conditioning_slices = self._prepare(inputs["images"], inputs.get("conditioning"))
    target = ops.cast(inputs["target_slice"], "int32")
    logits, _ = self._target_logits(slices, target, conditioning_slices, training)
    return logits

  def get_config(self):
    return {**super().get_config(), "config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(SPNConfig.from_dict(config.pop("config")), **config)
