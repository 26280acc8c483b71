"""The built-in zoo entries: the paper's settings (Table 4) and the pipelines shipped here.

Slices are 32 x 32 in every paper setting of Table 4 (SPN_SPEC section 7), except Table 1's
ImageNet 32 ablations with 16 x 16 and 8 x 8 slices; depth upscaling uses d1 = 3.

`imagenet128_mdu`'s slice decoder (32 x 32, 3 bits) has the ImageNet 128 decoder's widths (384
PixelCNN channels): the paper gives no separate row for the decoder that generates the first
slice of its multidimensional-upscaling samples (Figure 6, right), and the decoder of the same
pipeline's SPNs is the one Table 4 specifies at that resolution.
"""

from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SliceEmbedderConfig
from spn_keras.models import SPNConfig
from spn_keras.zoo.zoo_entry import ZooEntry

_PAPER = "Menick & Kalchbrenner 2019, Table 4"
_SCHED = dict(learning_rate=1e-4, learning_rate_boundaries=(50_000, 100_000),
              learning_rate_values=(3e-5, 1e-5))


def _imagenet_decoder(size):
  """Table 4 decoder widths for ImageNet at `size` (conv channels 256/256/384/384)."""
  return dict(attention_layers=8, attention_heads=10, attention_channels=128,
              attention_ffn_channels=512, pixelcnn_layers=15,
              pixelcnn_channels=256 if size <= 64 else 384, pixelcnn_residual_channels=1280)


def _imagenet_embedder(size):
  """Table 4 embedder widths for ImageNet (attention 6/6/8/8 layers, 4/4/8/8 heads)."""
  small = size <= 64
  return SliceEmbedderConfig(conv_layers=5, conv_channels=256, residual_channels=1024,
                             attention_layers=6 if small else 8,
                             attention_heads=4 if small else 8,
                             attention_channels=64 if small else 128,
                             attention_ffn_channels=256 if small else 512)


_CELEBA_DECODER = dict(attention_layers=5, attention_heads=5, attention_channels=128,
                       attention_ffn_channels=512, pixelcnn_layers=15, pixelcnn_channels=128,
                       pixelcnn_residual_channels=1280)
_CELEBA_EMBEDDER = SliceEmbedderConfig(conv_layers=5, conv_channels=256, residual_channels=1024,
                                       attention_layers=6, attention_heads=4,
                                       attention_channels=64, attention_ffn_channels=256)


def _spn(size, bits, decoder, embedder, conditioning_bits=0, slice_size=32):
  """An RGB SPN with the decoder widths `decoder` (a dict) and the `SliceEmbedderConfig`."""
  return SPNConfig(image_size=size, channels=3, bits=bits, scale=size // slice_size,
                   conditioning_bits=conditioning_bits, decoder=SliceDecoderConfig(**decoder),
                   embedder=embedder)


def _imagenet(size, kind):
  """ImageNet entry: kind "" (SPN, 8 bit), "du" (3 + 5 bits) or "mdu" (decoder + SPN + du)."""
  decoder, embedder = _imagenet_decoder(size), _imagenet_embedder(size)
  if kind == "":
    stages = {"size_upscaler": _spn(size, 8, decoder, embedder)}
  else:
    stages = {"size_upscaler": _spn(size, 3, decoder, embedder),
              "depth_upscaler": _spn(size, 5, decoder, embedder, conditioning_bits=3)}
  if kind == "mdu":
    stages = {"slice_decoder": SliceDecoderConfig(image_size=32, channels=3, bits=3, **decoder),
              **stages}
  dataset = (f"tfds:downsampled_imagenet/{size}x{size}" if size <= 64 else
             f"tfds:imagenet2012@{size}")
  schedule = _SCHED if size <= 64 else dict(learning_rate=1e-5)
  what = {"": "SPN, 8 bit", "du": "SPN (3 bit) + depth upscaling to 8 bit",
          "mdu": "multidimensional upscaling: 32x32 3-bit decoder, size + depth upscaling"}[kind]
  return ZooEntry(name=f"imagenet{size}" + (f"_{kind}" if kind else ""),
                  description=f"ImageNet {size}x{size}: {what} (S={size // 32}).",
                  dataset=dataset, stages=stages, batch_size=2048, reference=_PAPER,
                  **schedule)


def builtin_entries():
  """All built-in entries, in registry order."""
  entries = [
      ZooEntry(name="imagenet32",
               description="ImageNet 32x32: the decoder baseline (no subscaling), 8 bit.",
               dataset="tfds:downsampled_imagenet/32x32",
               stages={"slice_decoder": SliceDecoderConfig(image_size=32, channels=3, bits=8,
                                                           **_imagenet_decoder(32))},
               batch_size=1024, reference=_PAPER, **_SCHED),
      *[ZooEntry(name=f"imagenet32_s{32 // slice_size}",
                 description=(f"ImageNet 32x32: SPN with {slice_size}x{slice_size} slices "
                              f"(S={32 // slice_size}), 8 bit (Table 1's ablation, {nll})."),
                 dataset="tfds:downsampled_imagenet/32x32",
                 stages={"size_upscaler": _spn(32, 8, _imagenet_decoder(32),
                                               _imagenet_embedder(32), slice_size=slice_size)},
                 batch_size=1024, reference="Menick & Kalchbrenner 2019, Tables 1 and 4",
                 **_SCHED)
        for slice_size, nll in ((16, "3.85 bits/dim"), (8, "3.91 bits/dim"))],
      _imagenet(64, ""), _imagenet(64, "du"),
      ZooEntry(name="imagenet64_5bit",
               description="ImageNet 64x64 at 5 bit: SPN (S=2) (Table 3, 1.41 bits/dim).",
               dataset="tfds:downsampled_imagenet/64x64",
               stages={"size_upscaler": _spn(64, 5, _imagenet_decoder(64),
                                             _imagenet_embedder(64))},
               batch_size=2048, reference="Menick & Kalchbrenner 2019, Tables 3 and 4",
               **_SCHED),
      _imagenet(128, ""), _imagenet(128, "du"), _imagenet(128, "mdu"),
      _imagenet(256, ""), _imagenet(256, "du"),
      ZooEntry(name="celebahq256",
               description=("CelebA-HQ 256x256 at 8 bit: SPN (S=8); Figure 5's samples come "
                            "from its depth-upscaling variant, celebahq256_du."),
               dataset="tfds:celeb_a_hq/256",
               stages={"size_upscaler": _spn(256, 8, _CELEBA_DECODER, _CELEBA_EMBEDDER)},
               batch_size=256, learning_rate=5e-5, reference=_PAPER),
      ZooEntry(name="celebahq256_du",
               description="CelebA-HQ 256x256: 3-bit SPN (S=8) + depth upscaling to 8 bit.",
               dataset="tfds:celeb_a_hq/256",
               stages={"size_upscaler": _spn(256, 3, _CELEBA_DECODER, _CELEBA_EMBEDDER),
                       "depth_upscaler": _spn(256, 5, _CELEBA_DECODER, _CELEBA_EMBEDDER,
                                              conditioning_bits=3)},
               batch_size=256, learning_rate=5e-5, reference=_PAPER),
      ZooEntry(name="celebahq256_5bit",
               description="CelebA-HQ 256x256 at 5 bit: SPN (S=8).",
               dataset="tfds:celeb_a_hq/256",
               stages={"size_upscaler": _spn(256, 5, _CELEBA_DECODER, _CELEBA_EMBEDDER)},
               batch_size=256, learning_rate=5e-5, reference=_PAPER),
  ]
  return entries + shipped_entries()


def _small_decoder(**fields):
  return dict(value_embedding_dim=8, attention_layers=2, attention_heads=4,
              attention_channels=64, attention_ffn_channels=128, pixelcnn_layers=6,
              pixelcnn_channels=64, pixelcnn_residual_channels=128, **fields)


_SMALL_EMBEDDER = SliceEmbedderConfig(embedding_dim=8, conv_layers=2, conv_channels=64,
                                      residual_channels=128, attention_layers=1,
                                      attention_heads=4, attention_channels=64,
                                      attention_ffn_channels=128)


def shipped_entries():
  """The small MDU pipelines trained on this package's embedded datasets and shipped in zoo/."""

  def mdu(name, dataset, size, channels, description, scale=2, learning_rate=1e-3,
          reference="spn-keras (CPU-sized widths; trained on this package's embedded data)"):
    return ZooEntry(
        name=name, description=description, dataset=dataset,
        stages={
            "slice_decoder": SliceDecoderConfig(image_size=size // scale, channels=channels,
                                                bits=3, **_small_decoder()),
            "size_upscaler": SPNConfig(image_size=size, channels=channels, bits=3, scale=scale,
                                       decoder=SliceDecoderConfig(**_small_decoder()),
                                       embedder=_SMALL_EMBEDDER),
            "depth_upscaler": SPNConfig(image_size=size, channels=channels, bits=5,
                                        scale=scale, conditioning_bits=3,
                                        decoder=SliceDecoderConfig(**_small_decoder()),
                                        embedder=_SMALL_EMBEDDER),
        },
        batch_size=32, learning_rate=learning_rate, ema_momentum=0.999, reference=reference)

  return [
      mdu("mnist28_mdu", "mnist5k", 28, 1,
          "MNIST 28x28 gray: 14x14 3-bit decoder, S=2 size upscaling, depth upscaling to 8 bit."),
      mdu("photos32_mdu", "photos32", 32, 3,
          "RGB photo patches 32x32: 16x16 3-bit decoder, S=2 size upscaling, depth to 8 bit."),
      mdu("photos128_mdu", "crops:~/spn_keras_photos@128", 128, 3,
          "RGB photos 128x128: imagenet128_mdu's shape at reduced widths (32x32 3-bit "
          "decoder, S=4 size upscaling, depth to 8 bit).", scale=4, learning_rate=3e-4,
          reference="spn-keras (imagenet128_mdu's stage layout at CPU-sized widths; "
          "trained on photographs from Debian packages)"),
  ]
