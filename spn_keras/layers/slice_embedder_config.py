"""`SliceEmbedderConfig`: the settings of an SPN's conditioning network, one per argument."""

import dataclasses

from spn_keras.argument_checks import check_channels
from spn_keras.argument_checks import check_int
from spn_keras.json_config import JsonConfig

# Upper bounds that no real model reaches (Table 4: up to 15 layers, widths up to 1280, 10
# heads, embeddings of 8), checked before anything is built: a config read from a folder
# someone else made cannot make the package build or allocate for ever. `SPNConfig` and
# `SliceDecoderConfig` use the same bounds.
MAX_LAYERS = 128
MAX_WIDTH = 8192
MAX_HEADS = 64
MAX_EMBEDDING_DIM = 1024
MAX_SCALE = 64


@dataclasses.dataclass(frozen=True)
class SliceEmbedderConfig(JsonConfig):
  """The conditioning network of SPN_SPEC section 3 (`SliceEmbedder`); Table 4 "Slice Embedder".

  Field defaults are the paper's ImageNet 32/64 widths. Inside an `SPNConfig` the first four
  fields are the SPN's (its `scale`, `channels`, `bits` and `conditioning_bits`): the SPN sets
  them, whatever they hold.
  """

  scale: int = 2  # S: S*S slices, meta-positions 0 .. S*S - 1.
  channels: int = 3  # colour channels of the slices.
  bits: int = 8  # bits per value of the slices (2**bits embedding rows per channel).
  conditioning_bits: int = 0  # bits of the low-depth image of a depth upscaler (0: none).
  embedding_dim: int = 8  # units of the value and meta-position embeddings (paper: 8).
  conv_layers: int = 5  # residual 3x3 convolution blocks.
  conv_channels: int = 256  # width of the residual stream.
  residual_channels: int = 1024  # hidden width inside each residual block.
  attention_layers: int = 6  # unmasked self-attention layers over the slice (0: none).
  attention_heads: int = 4  # heads of each attention layer.
  attention_channels: int = 64  # width of the attention stack = context features per position.
  attention_ffn_channels: int = 256  # hidden width of its feed-forward layers.

  def __post_init__(self):
    check_int("scale", self.scale, 1, MAX_SCALE)
    check_channels("channels", self.channels)
    check_int("bits", self.bits, 1, 8)
    check_int("conditioning_bits", self.conditioning_bits, 0, 8)
    check_int("embedding_dim", self.embedding_dim, 1, MAX_EMBEDDING_DIM)
    check_int("conv_layers", self.conv_layers, 1, MAX_LAYERS)
    check_int("attention_layers", self.attention_layers, 0, MAX_LAYERS)
    check_int("attention_heads", self.attention_heads, 1, MAX_HEADS)
    for name in ("conv_channels", "residual_channels", "attention_channels",
                 "attention_ffn_channels"):
      check_int(name, getattr(self, name), 1, MAX_WIDTH)

  @classmethod
  def tiny(cls, **fields):
    """The smallest sensible conditioning network (for tests); `fields` override any field."""
    values = dict(embedding_dim=2, conv_layers=1, conv_channels=6, residual_channels=6,
                  attention_layers=1, attention_heads=1, attention_channels=6,
                  attention_ffn_channels=6)
    values.update(fields)
    return cls(**values)
