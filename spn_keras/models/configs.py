"""Configurations of the SPN stages: frozen dataclasses whose fields are constructor arguments.

Field defaults are the paper's ImageNet 64 settings (Table 4); the registry of named
configurations holds the others. `tiny()` gives the smallest sensible network for tests.
"""

import dataclasses

from spn_keras.argument_checks import check_channels
from spn_keras.argument_checks import check_int
from spn_keras.json_config import JsonConfig
from spn_keras.layers.slice_embedder_config import MAX_EMBEDDING_DIM
from spn_keras.layers.slice_embedder_config import MAX_HEADS
from spn_keras.layers.slice_embedder_config import MAX_LAYERS
from spn_keras.layers.slice_embedder_config import MAX_SCALE
from spn_keras.layers.slice_embedder_config import MAX_WIDTH
from spn_keras.layers.slice_embedder_config import SliceEmbedderConfig

# Upper bounds that no real model reaches (the paper's largest: 256x256 images, 32x32 slices,
# S = 8, 15 PixelCNN layers, widths up to 1280, 10 heads), checked before anything is built so
# that a config from a folder someone else made cannot make the package allocate or build for
# ever. The layers, widths and heads bounds are `SliceEmbedderConfig`'s.
MAX_IMAGE_SIDE = 1024
MAX_SLICE_POSITIONS = 128 * 128  # a decoder's attention is quadratic in its positions
MAX_KERNEL_SIZE = 15


def _size_pair(image_size):
  """`(H, W)` of an `image_size` (an int or a pair of ints, each in [1, MAX_IMAGE_SIDE])."""
  if isinstance(image_size, int) and not isinstance(image_size, bool):
    pair = (image_size, image_size)
  elif (isinstance(image_size, (tuple, list)) and len(image_size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in image_size)):
    pair = tuple(image_size)
  else:
    raise ValueError(f"`image_size` must be an int or a pair (H, W) of ints, got "
                     f"{image_size!r}.")
  if not all(1 <= side <= MAX_IMAGE_SIDE for side in pair):
    raise ValueError(f"`image_size` sides must be in [1, {MAX_IMAGE_SIDE}], got {image_size!r}.")
  return pair


def _check_ints(config, names, minimum=1, maximum=None):
  for name in names:
    check_int(name, getattr(config, name), minimum, maximum)


class _ImageConfig(JsonConfig):
  """`height` and `width` of a config's `image_size` (an int or a pair)."""

  @property
  def height(self):
    return _size_pair(self.image_size)[0]

  @property
  def width(self):
    return _size_pair(self.image_size)[1]


@dataclasses.dataclass(frozen=True)
class SliceDecoderConfig(_ImageConfig):
  """The decoder of SPN_SPEC section 4: masked 1D self-attention, then a gated PixelCNN.

  As a stage of its own it models whole `image_size` images (the "decoder baseline", or slice
  0 of a multidimensional-upscaling pipeline); inside an SPN it models one slice given the
  `context_channels` features of the conditioning network. Inside an `SPNConfig` the SPN sets
  `image_size` (its slice size), `channels`, `bits` and `context_channels`, whatever they hold.
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
    height, width = _size_pair(self.image_size)
    if height * width > MAX_SLICE_POSITIONS:
      raise ValueError(f"A slice decoder models at most {MAX_SLICE_POSITIONS} positions "
                       f"(its attention is quadratic in them), got `image_size` "
                       f"{self.image_size!r}: use an SPN's `scale` for larger images.")
    check_channels("channels", self.channels)
    check_int("bits", self.bits, 1, 8)
    check_int("value_embedding_dim", self.value_embedding_dim, 1, MAX_EMBEDDING_DIM)
    check_int("attention_heads", self.attention_heads, 1, MAX_HEADS)
    _check_ints(self, ("attention_channels", "attention_ffn_channels"), maximum=MAX_WIDTH)
    check_int("pixelcnn_layers", self.pixelcnn_layers, 1, MAX_LAYERS)
    check_int("kernel_size", self.kernel_size, 1, MAX_KERNEL_SIZE)
    _check_ints(self, ("pixelcnn_channels", "pixelcnn_residual_channels"),
                minimum=self.channels, maximum=MAX_WIDTH)
    check_int("attention_layers", self.attention_layers, 0, MAX_LAYERS)
    check_int("context_channels", self.context_channels, 0, MAX_WIDTH)
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
class SPNConfig(_ImageConfig):
  """A Subscale Pixel Network (paper section 3.2; SPN_SPEC sections 3-6).

  The image is cut into `scale**2` slices of `image_size / scale`; a conditioning network
  (`embedder`) embeds the preceding slices (and, for depth upscaling, the
  `conditioning_bits` most significant bits of the whole image) and a slice decoder
  (`decoder`) generates the target slice. The SPN sets the fields of its parts that it
  determines: the decoder's `image_size` (the slice size), `channels`, `bits` and
  `context_channels` (the embedder's `attention_channels`, or 0 without a conditioning
  network), and the embedder's `scale`, `channels`, `bits` and `conditioning_bits`.
  """

  image_size: object = 64  # int or (H, W), divisible by `scale`.
  channels: int = 3  # 1 or 3.
  bits: int = 8  # bits this stage models (the least significant ones for depth upscaling).
  scale: int = 2  # S: S*S slices of (H/S, W/S); S = 1 is the decoder baseline.
  conditioning_bits: int = 0  # 0: none; > 0: depth upscaling given that many msb.
  decoder: SliceDecoderConfig = None  # the slice decoder's widths (None: Table 4's).
  embedder: SliceEmbedderConfig = None  # the conditioning network's widths (None: Table 4's).

  def __post_init__(self):
    height, width = _size_pair(self.image_size)
    check_int("scale", self.scale, 1, MAX_SCALE)
    if height % self.scale or width % self.scale:
      raise ValueError(f"`scale` ({self.scale}) must divide `image_size` ({height}, {width}).")
    check_int("conditioning_bits", self.conditioning_bits, 0)
    if self.conditioning_bits + self.bits > 8:
      raise ValueError(f"`conditioning_bits` + `bits` must be at most 8, got "
                       f"{self.conditioning_bits} + {self.bits}.")
    for name, cls in (("decoder", SliceDecoderConfig), ("embedder", SliceEmbedderConfig)):
      value = getattr(self, name)
      if value is not None and not isinstance(value, cls):
        raise TypeError(f"`{name}` must be a {cls.__name__} or None, got "
                        f"{type(value).__name__}.")
    # Frozen: the completed parts are set the way dataclasses set fields in `__init__`.
    embedder = dataclasses.replace(self.embedder or SliceEmbedderConfig(), scale=self.scale,
                                   channels=self.channels, bits=self.bits,
                                   conditioning_bits=self.conditioning_bits)
    object.__setattr__(self, "embedder", embedder)
    decoder = dataclasses.replace(
        self.decoder or SliceDecoderConfig(), image_size=self.slice_size,
        channels=self.channels, bits=self.bits,
        context_channels=embedder.attention_channels if self.has_context else 0)
    object.__setattr__(self, "decoder", decoder)

  @property
  def slice_size(self):
    """`(h, w)` of each slice."""
    height, width = _size_pair(self.image_size)
    return (height // self.scale, width // self.scale)

  @property
  def has_context(self):
    """Whether a conditioning network exists: earlier slices (S > 1) or low bits to see."""
    return self.scale > 1 or self.conditioning_bits > 0

  @classmethod
  def from_dict(cls, values):
    """The config of `to_dict`'s dict; also reads the flat dicts that earlier versions wrote
    into pipeline folders, whose decoder and embedder fields were the SPN's own
    (`pixelcnn_channels`, `embedder_conv_layers`, ...)."""
    values = dict(values)
    decoder_fields = {f.name for f in dataclasses.fields(SliceDecoderConfig)}
    own_fields = {f.name for f in dataclasses.fields(cls)}
    flat_decoder = {name: values.pop(name) for name in list(values)
                    if name in decoder_fields and name not in own_fields}
    flat_embedder = {_FLAT_EMBEDDER_FIELDS[name]: values.pop(name) for name in list(values)
                     if name in _FLAT_EMBEDDER_FIELDS}
    decoder = values.get("decoder") or (flat_decoder or None)
    embedder = values.get("embedder") or (flat_embedder or None)
    if isinstance(decoder, dict):
      values["decoder"] = SliceDecoderConfig.from_dict(decoder)
    if isinstance(embedder, dict):
      values["embedder"] = SliceEmbedderConfig.from_dict(embedder)
    return super().from_dict(values)

  @classmethod
  def tiny(cls, decoder=None, embedder=None, **fields):
    """The smallest sensible SPN (for tests); valid down to 1 x 1 slices.

    Args:
      decoder: dict of `SliceDecoderConfig.tiny` fields to override.
      embedder: dict of `SliceEmbedderConfig.tiny` fields to override.
      **fields: `SPNConfig` fields to override.
    """
    values = dict(image_size=4, channels=1, bits=1, scale=2)
    values.update(fields)
    return cls(decoder=SliceDecoderConfig.tiny(**(decoder or {})),
               embedder=SliceEmbedderConfig.tiny(**(embedder or {})), **values)


# The embedder fields of the flat `SPNConfig` dicts of earlier versions, and their
# `SliceEmbedderConfig` names.
_FLAT_EMBEDDER_FIELDS = {
    "embedding_dim": "embedding_dim",
    **{f"embedder_{name}": name for name in (
        "conv_layers", "conv_channels", "residual_channels", "attention_layers",
        "attention_heads", "attention_channels", "attention_ffn_channels")},
}
