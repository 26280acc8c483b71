"""Configurations of the SPN stages: frozen dataclasses whose fields are constructor arguments.

Field defaults are the paper's ImageNet 64 settings (Table 4); the registry of named
configurations holds the others. `tiny()` gives the smallest sensible network for tests.
"""

import dataclasses
import json

from spn_keras.argument_checks import check_int


def _size_pair(image_size):
  if isinstance(image_size, int) and not isinstance(image_size, bool):
    return (image_size, image_size)
  if (isinstance(image_size, (tuple, list)) and len(image_size) == 2
      and all(isinstance(v, int) and not isinstance(v, bool) for v in image_size)):
    return tuple(image_size)
  raise ValueError(f"`image_size` must be an int or a pair (H, W) of ints, got {image_size!r}.")


def _check_ints(config, names, minimum=1):
  for name in names:
    check_int(name, getattr(config, name), minimum)


class _ConfigMixin:
  """JSON round-trip shared by the config dataclasses."""

  def to_dict(self):
    return dataclasses.asdict(self)

  def to_json(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values):
    values = dict(values)
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"Unknown {cls.__name__} fields: {sorted(unknown)}.")
    if isinstance(values.get("image_size"), list):
      values["image_size"] = tuple(values["image_size"])
    return cls(**values)

  @classmethod
  def from_json(cls, text):
    return cls.from_dict(json.loads(text))

  @property
  def height(self):
    return _size_pair(self.image_size)[0]

  @property
  def width(self):
    return _size_pair(self.image_size)[1]


@dataclasses.dataclass(frozen=True)
class SliceDecoderConfig(_ConfigMixin):
  """The decoder of SPN_SPEC section 4: masked 1D self-attention, then a gated PixelCNN.

  As a stage of its own it models whole `image_size` images (the "decoder baseline", or slice
  0 of a multidimensional-upscaling pipeline); inside an SPN it models one slice given the
  `context_channels` features of the conditioning network.
  """

  image_size: object = 32  # int or (H, W): the images (slices) this decoder models.
  channels: int = 3  # 1 (gray) or 3 (RGB): sub-pixels per pixel, generated R, G, B.
  bits: int = 8  # bits per sub-pixel value; logits over 2**bits values.
  value_embedding_dim: int = 8  # units per sub-pixel value entering the decoder.
  attention_layers: int = 8  # masked 1D self-attention layers (Table 4: 8 ImageNet, 5 CelebA).
  # Heads of each attention layer; each is attention_channels // attention_heads wide (Table
  # 4's 10 heads over 128 channels: 12 each, 120 in all; `head_width` warns when not exact).
  attention_heads: int = 10
  attention_channels: int = 128  # width of the attention stack.
  attention_ffn_channels: int = 512  # hidden width of its position-wise feed-forward layers.
  pixelcnn_layers: int = 15  # gated PixelCNN layers, the first with mask A.
  pixelcnn_channels: int = 256  # feature maps of each stack (Table 4: 256/256/384/384, 128).
  pixelcnn_residual_channels: int = 1280  # hidden width of the masked 1x1 output layers.
  kernel_size: int = 3  # PixelCNN filter size.
  context_channels: int = 0  # features per position from a conditioning network (0: none).

  def __post_init__(self):
    _size_pair(self.image_size)
    if self.channels not in (1, 3):
      raise ValueError(f"`channels` must be 1 or 3, got {self.channels!r}.")
    check_int("bits", self.bits, 1, 8)
    _check_ints(self, ("value_embedding_dim", "attention_heads", "attention_channels",
                           "attention_ffn_channels", "pixelcnn_layers", "kernel_size"))
    _check_ints(self, ("pixelcnn_channels", "pixelcnn_residual_channels"),
                    minimum=self.channels)
    _check_ints(self, ("attention_layers", "context_channels"), minimum=0)
    if self.kernel_size < 3 or self.kernel_size % 2 == 0:
      raise ValueError(f"`kernel_size` must be an odd int >= 3, got {self.kernel_size!r}.")

  @classmethod
  def tiny(cls, **fields):
    """The smallest sensible decoder (for tests); `fields` override any field."""
    values = dict(image_size=4, channels=1, bits=1, value_embedding_dim=2, attention_layers=1,
                  attention_heads=1, attention_channels=6, attention_ffn_channels=6,
                  pixelcnn_layers=2, pixelcnn_channels=6, pixelcnn_residual_channels=6)
    values.update(fields)
    return cls(**values)


@dataclasses.dataclass(frozen=True)
class SPNConfig(_ConfigMixin):
  """A Subscale Pixel Network (paper section 3.2; SPN_SPEC sections 3-6).

  The image is cut into `scale**2` slices of `image_size / scale`; a conditioning network
  embeds the preceding slices (and, for depth upscaling, the `conditioning_bits` most
  significant bits of the whole image) and a `SliceDecoder` generates the target slice.
  """

  image_size: object = 64  # int or (H, W), divisible by `scale`.
  channels: int = 3  # 1 or 3.
  bits: int = 8  # bits this stage models (the least significant ones for depth upscaling).
  scale: int = 2  # S: S*S slices of (H/S, W/S); S = 1 is the decoder baseline.
  conditioning_bits: int = 0  # 0: none; > 0: depth upscaling given that many msb.
  # Decoder (SliceDecoderConfig fields, Table 4 "Decoder").
  value_embedding_dim: int = 8
  attention_layers: int = 8
  attention_heads: int = 10
  attention_channels: int = 128
  attention_ffn_channels: int = 512
  pixelcnn_layers: int = 15
  pixelcnn_channels: int = 256
  pixelcnn_residual_channels: int = 1280
  kernel_size: int = 3
  # Conditioning network (Table 4 "Slice Embedder").
  embedding_dim: int = 8  # units of the value and meta-position embeddings (paper: 8).
  embedder_conv_layers: int = 5  # residual 3x3 convolution blocks.
  embedder_conv_channels: int = 256  # width of the residual stream.
  embedder_residual_channels: int = 1024  # hidden width inside each residual block.
  embedder_attention_layers: int = 6  # unmasked self-attention layers over the slice.
  embedder_attention_heads: int = 4
  embedder_attention_channels: int = 64  # width of the attention stack = context features.
  embedder_attention_ffn_channels: int = 256  # hidden width of its feed-forward layers.

  def __post_init__(self):
    height, width = _size_pair(self.image_size)
    _check_ints(self, ("scale",))
    if height % self.scale or width % self.scale:
      raise ValueError(f"`scale` ({self.scale}) must divide `image_size` ({height}, {width}).")
    check_int("conditioning_bits", self.conditioning_bits, 0)
    if self.conditioning_bits + self.bits > 8:
      raise ValueError(f"`conditioning_bits` + `bits` must be at most 8, got "
                       f"{self.conditioning_bits} + {self.bits}.")
    _check_ints(self, ("embedding_dim", "embedder_conv_layers", "embedder_conv_channels",
                           "embedder_residual_channels", "embedder_attention_heads",
                           "embedder_attention_channels", "embedder_attention_ffn_channels"))
    _check_ints(self, ("embedder_attention_layers",), minimum=0)
    self.decoder_config()  # validates the decoder fields

  @property
  def slice_size(self):
    """`(h, w)` of each slice."""
    height, width = _size_pair(self.image_size)
    return (height // self.scale, width // self.scale)

  @property
  def has_context(self):
    """Whether a conditioning network exists: earlier slices (S > 1) or low bits to see."""
    return self.scale > 1 or self.conditioning_bits > 0

  def decoder_config(self):
    """The `SliceDecoderConfig` of this SPN's decoder."""
    names = {f.name for f in dataclasses.fields(SliceDecoderConfig)}
    values = {n: getattr(self, n) for n in names if hasattr(self, n)}
    values["image_size"] = self.slice_size
    values["context_channels"] = self.embedder_attention_channels if self.has_context else 0
    return SliceDecoderConfig(**values)

  @classmethod
  def tiny(cls, **fields):
    """The smallest sensible SPN (for tests); valid down to 1 x 1 slices."""
    values = dict(image_size=4, channels=1, bits=1, scale=2, value_embedding_dim=2,
                  attention_layers=1, attention_heads=1, attention_channels=6,
                  attention_ffn_channels=6, pixelcnn_layers=2, pixelcnn_channels=6,
                  pixelcnn_residual_channels=6, embedding_dim=2, embedder_conv_layers=1,
                  embedder_conv_channels=6, embedder_residual_channels=6,
                  embedder_attention_layers=1, embedder_attention_heads=1,
                  embedder_attention_channels=6, embedder_attention_ffn_channels=6)
    values.update(fields)
    return cls(**values)
