"""Tiny multidimensional-upscaling pipelines for tests: every stage kind, in milliseconds."""

import types

from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline
from spn_keras.testing.normalization import randomize_weights


# Read-only `tiny()` overrides of the smallest stages: no attention layers and one gated
# PixelCNN layer (an SPN keeps its conditioning network and decoder: 27 variables, not 75). For
# tests of training loops, tools and a pipeline's logic rather than of the layers: a train step
# traces in a third of the time.
MINIMAL_DECODER = types.MappingProxyType(  # SliceDecoderConfig.tiny
    {"attention_layers": 0, "pixelcnn_layers": 1})
MINIMAL_SPN = types.MappingProxyType(  # SPNConfig.tiny
    {"decoder": dict(MINIMAL_DECODER), "embedder": {"attention_layers": 0}})


def tiny_mdu_pipeline(image_size, channels=1, low_bits=3, high_bits=5, scale=2,
                      depth_scale=None, stddev=None, minimal=False):
  """A built `Pipeline` of `tiny()` stages: slice decoder, size upscaler, depth upscaler.

  Args:
    image_size: side of the full images.
    channels: 1 or 3.
    low_bits: bits of the slice decoder and the size upscaler.
    high_bits: bits the depth upscaler adds.
    scale: `S` of the size upscaler; the slice decoder models its slice 0.
    depth_scale: `S` of the depth upscaler (default `scale`; 1 gives a smaller graph).
    stddev: when given, each stage's weights are redrawn from `N(0, stddev**2)`
      (`randomize_weights`, seeded by the stage's index), so that its conditionals are far
      from uniform; None keeps Keras's initial weights.
    minimal: `MINIMAL_DECODER` / `MINIMAL_SPN` stages (no attention, one gated layer).

  Returns:
    The `Pipeline`.
  """
  decoder = MINIMAL_DECODER if minimal else {}
  parts = MINIMAL_SPN if minimal else {}
  shapes = dict(image_size=image_size, channels=channels)
  stages = {
      "slice_decoder": SliceDecoder(SliceDecoderConfig.tiny(
          image_size=image_size // scale, channels=channels, bits=low_bits, **decoder)),
      "size_upscaler": SubscalePixelNetwork(SPNConfig.tiny(bits=low_bits, scale=scale,
                                                           **shapes, **parts)),
      "depth_upscaler": SubscalePixelNetwork(SPNConfig.tiny(
          bits=high_bits, scale=depth_scale or scale, conditioning_bits=low_bits, **shapes,
          **parts)),
  }
  for seed, model in enumerate(stages.values()):
    model.build()
    if stddev is not None:
      randomize_weights(model, stddev, seed)
  return Pipeline(**stages)
