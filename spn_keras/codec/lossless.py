"""Lossless image compression with a model's exact likelihood: `compress` and `decompress`.

Each image, of any size (tiled into the model's image shape: `spn_keras.codec.tiling`),
becomes one self-contained file: a `CodecHeader` and the entropy-coded sub-pixels,
coded with the model's own distribution of each one given all before it, so that a file
costs `-log2 p(image)` bits plus the header and 8 bytes per coder lane (a lane per tile of a
coding batch). The encoder and the decoder run the same program
(`AutoregressiveImageModel.code_slices`: the cached sampler's slice programs, float32,
XLA-compiled) and quantize the same logits the same way (`quantized_frequencies`, inside the
program); the decoder's program decodes each sub-pixel from the stream as it goes, the
encoder's takes the image's and records what the numpy encoder then codes. Entropy coding is
interleaved rANS (`spn_keras.codec.interleaved_rans`).

A file decodes where it was made: the same model (its fingerprint is in the header, which has
its own CRC: another model's file, or a damaged header, is refused before decoding) and the
same environment (package, TensorFlow and numpy versions, CPU kind and core count: the
header's tag). Elsewhere float rounding may differ; then the pixels fail their CRC
and `decompress` says so, naming both environments, instead of returning a wrong image.
"""

import collections.abc
import zlib

import numpy as np

from spn_keras.codec import environment
from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import CodecHeader
from spn_keras.codec.coding_streams import coding_stages
from spn_keras.codec.coding_streams import decode_streams
from spn_keras.codec.coding_streams import encode_streams
from spn_keras.ops.likelihood import check_images
from spn_keras.pipelines import Pipeline


def image_list(name, values, bits, channels):
  """`values` as a list of int32 numpy images `(H, W, channels)` of any height and width.

  Args:
    name: the argument's name, for the messages.
    values: one image `(H, W, C)`, an array `(N, H, W, C)`, or a list (tuple) of images.
    bits: values must lie in `[0, 2**bits)`.
    channels: the channel count `C` every image must have.

  Raises:
    TypeError: `values` is not an array or list of arrays (None, text, bytes, a dict) or
      not of integers.
    ValueError: an image of another rank or channel count, an empty side, or values out of
      range.
  """
  def refuse_type(what):
    raise TypeError(f"`{name}` must be an integer array (N, H, W, C), an image (H, W, C) or "
                    f"a list of images, got {what}.")

  if values is None or isinstance(values, (str, bytes, bytearray, memoryview, dict)):
    refuse_type(type(values).__name__)
  if isinstance(values, (list, tuple)):
    items, named = list(values), True
  else:
    values = np.asarray(values)
    if values.dtype == object:
      refuse_type("an array of Python objects")
    if values.ndim not in (3, 4):
      raise ValueError(f"`{name}` must have rank 4 (N, H, W, C) or 3 (H, W, C), got shape "
                       f"{values.shape}.")
    items, named = list(values) if values.ndim == 4 else [values], values.ndim == 3
  images = []
  for index, item in enumerate(items):
    label = f"{name}[{index}]" if named and isinstance(values, list | tuple) else name
    if item is None or isinstance(item, (str, bytes, bytearray, memoryview, dict)):
      refuse_type(f"{type(item).__name__} at index {index}")
    try:
      item = np.asarray(item)
    except ValueError:  # numpy: an inhomogeneous shape
      refuse_type(f"a ragged nested list at index {index}")
    if item.dtype == object:
      refuse_type("an array of Python objects")
    if item.ndim != 3 or item.shape[2] != channels or 0 in item.shape:
      raise ValueError(f"`{label}` must be images (H, W, {channels}) of any height and width "
                       f"(at least 1), got an image of shape {item.shape}.")
    images.append(check_images(label, item[None], bits).numpy()[0])
  return images


def check_conditioning(model, conditioning, num_images):
  """`conditioning` checked against `model` for `num_images` images: a list of int32 images
  (None where the model has none).

  Raises:
    TypeError, ValueError: naming `conditioning` and what `model` expects.
  """
  if isinstance(model, Pipeline):
    if conditioning is not None:
      raise ValueError("`conditioning` must be None for a Pipeline: its stages code the most "
                       "significant bits themselves.")
    return None
  if not model.conditioning_bits or conditioning is None:
    model.check_conditioning(conditioning, num_images)  # the error, or None
    return None
  conditioning = image_list("conditioning", conditioning, model.conditioning_bits,
                             model.image_shape[2])
  if len(conditioning) != num_images:
    raise ValueError(f"`conditioning` must have batch size {num_images} (one per image), got "
                     f"{len(conditioning)}.")
  return conditioning


def check_conditioning_shapes(conditioning, shapes):
  """Raises a `ValueError` unless each conditioning image has its image's shape."""
  for index, (given, shape) in enumerate(zip(conditioning or (), shapes)):
    if given.shape != tuple(shape):
      raise ValueError(f"`conditioning[{index}]` must have shape {tuple(shape)}, the shape of "
                       f"image {index}, got {given.shape}.")


def _check_files(files):
  """`files` as a list of `bytes`.

  Raises:
    TypeError: `files` is not a sequence (list, tuple, array) of bytes-like objects: e.g. one
      file's bytes alone, a str, a dict.
  """
  if (isinstance(files, (str, bytes, bytearray, memoryview)) or
      not isinstance(files, (collections.abc.Sequence, np.ndarray))):
    raise TypeError(f"`files` must be a list of bytes objects, one per file, got "
                    f"{type(files).__name__}.")
  files = list(files)
  for index, file in enumerate(files):
    if not isinstance(file, (bytes, bytearray, memoryview)):
      raise TypeError(f"`files[{index}]` must be a bytes object (one file's contents), got "
                      f"{type(file).__name__}.")
  return [bytes(file) for file in files]


def pixels_crc(image):
  """CRC-32 of `image`'s uint8 bytes in `(H, W, C)` order."""
  return zlib.crc32(np.ascontiguousarray(image, np.uint8).tobytes())


def check_model_header(model, header, what, index=None):
  """Raises a `CodecError` (naming `what`, e.g. "File 3", with `file_index` `index`) unless
  `header` (a `CodecHeader` or `ArchiveHeader`) is `model`'s: its fingerprint, and images of
  the model's channel count."""
  channels = model.image_shape[2]
  fingerprint = environment.model_fingerprint(coding_stages(model))
  if header.model_fingerprint != fingerprint:
    raise CodecError(f"{what} was compressed with another model (fingerprint "
                     f"{header.model_fingerprint.hex()}; this model's is "
                     f"{fingerprint.hex()}): decode it with the model that made it.", index)
  if header.image_shape[2] != channels:
    raise CodecError(f"{what} holds a {tuple(header.image_shape)} image; this model "
                     f"codes images with {channels} channel(s).", index)


def compress(model, images, conditioning=None, progress=False):
  """Compresses each image, of any size, into a self-contained file, losslessly.

  Each image is cut into tiles of the model's image shape, row-major (`tiling.to_tiles`); the
  tiles at the right and bottom edges are padded with `tiling.pad_value(bits)` (mid-range:
  the decoder knows it before decoding anything, and it is the constant least unlike an
  image's edge). Padded sub-pixels cost nothing: the coder skips them (no symbol, no bits),
  while the model still conditions on their pad values. An image's tiles are coded
  `coding_batch_size(tiles)` at a time (1, 8 or 64; the last batch padded with blank tiles):
  TensorFlow's kernels round differently at different batch shapes, so the decoder runs the
  batch shape the encoder ran, which the tile count in the header decides.

  A file is a `CodecHeader` (format version 5: the whole image's shape, the CRC-32 of its
  pixels), the coding-batch row of the image's last tiles (1 byte: on some CPUs a row's
  logits depend on its position in the batch, so the decoder puts the tiles at the rows the
  encoder did, whatever files it decodes them with) and ONE interleaved rANS stream for all
  the image's tiles: a lane (a 64-bit state,
  8 bytes) per row of its coding batch, sharing one stream of words in the order the decoder
  reads them (`coding_streams.encode_streams`). A 512x512 photo of 256 tiles of 32x32 pays 64
  lanes, 512 bytes: about 0.2% of its ~250 kB; a one-tile image one lane.

  Args:
    model: a `Pipeline`, or one stage (`SliceDecoder` or `SubscalePixelNetwork`), float32.
    images: int images with values in `[0, 2**bits)` (uint8 for the zoo's 8-bit pipelines)
      and the model's channel count, of any height and width (at least 1): one image
      `(H, W, C)`, an array `(N, H, W, C)`, or a list of images of different sizes.
    conditioning: a depth-upscaling stage coded alone: its images' most significant bits,
      one per image and of its shape, as `images` (the decoder needs the same).
    progress: show a progress bar over the stages' slices.

  Returns:
    list of `bytes`, one file per image (a list of one for a single image).

  Raises:
    TypeError: `model` is not a Pipeline or stage, or `images` or `conditioning` is not an
      integer array or list of them.
    ValueError: an image of another channel count or depth, an empty one, or conditioning that
      does not match the images.
  """
  stages = coding_stages(model)
  images = image_list("images", images, model.bits, model.image_shape[2])
  conditioning = check_conditioning(model, conditioning, len(images))
  check_conditioning_shapes(conditioning, [image.shape for image in images])
  header_start = dict(model_fingerprint=environment.model_fingerprint(stages),
                      environment_tag=environment.environment_tag())
  payloads = encode_streams(model, images, conditioning, progress)
  return [CodecHeader(image_shape=image.shape, pixels_crc=pixels_crc(image),
                      **header_start).to_bytes() + payload
          for image, payload in zip(images, payloads)]


def decompress(model, files, conditioning=None, progress=False):
  """Decodes files made by `compress` with the same model.

  Args:
    model: the `Pipeline` or stage the files were compressed with.
    files: a list (or tuple) of `bytes` objects, one per file.
    conditioning: a depth-upscaling stage coded alone: the most significant bits given to
      `compress`, one per file.
    progress: show a progress bar over the stages' slices.

  Returns:
    uint8 `(N, H, W, C)` when all files hold images of one shape (also for no files:
    `(0, *model.image_shape)`); otherwise a list of N uint8 `(H, W, C)` images, one per file.

  Raises:
    TypeError: `model` is not a Pipeline or stage, or `files` is not a list of bytes (one
      file's bytes alone, a str).
    ValueError: `conditioning` is not what the model expects for `len(files)` images.
    CodecError: a file that is not of this format (or of an older format version, or an
      archive), has a damaged header, was made with another model or for another channel
      count, or whose pixels fail their CRC (corrupt, truncated, or made in another
      environment: the message compares the environments). Its `file_index` says which file.
  """
  coding_stages(model)
  files = _check_files(files)
  conditioning = check_conditioning(model, conditioning, len(files))
  parsed = []
  for index, blob in enumerate(files):
    try:
      header, payload = CodecHeader.from_bytes(blob)
    except CodecError as e:
      raise CodecError(f"File {index}: {e}", index) from None
    check_model_header(model, header, f"File {index}", index)
    parsed.append((header, payload))
  shapes = [tuple(header.image_shape) for header, _ in parsed]
  check_conditioning_shapes(conditioning, shapes)
  images = decode_streams(model, shapes, [payload for _, payload in parsed], conditioning,
                          progress)
  for index, (image, (header, _)) in enumerate(zip(images, parsed)):
    if pixels_crc(image) != header.pixels_crc:
      raise CodecError(crc_failure(f"File {index}", header.environment_tag), index)
  if not images:
    return np.zeros((0, *model.image_shape), np.uint8)
  return np.stack(images) if len(set(shapes)) == 1 else images


def crc_failure(what, environment_tag):
  """The message for `what` ("File 3", "Image 3 of the archive") whose decoded pixels fail
  their CRC, made in the environment of `environment_tag`."""
  here = environment.environment_tag()
  if environment_tag != here:
    return (f"{what} did not decode to its image (pixel CRC mismatch). It was made in "
            f"another environment (tag {environment_tag.hex()}; this one is "
            f"{here.hex()}: {environment.environment_description()}): files decode where "
            f"they were made (the same package, TensorFlow and numpy versions and CPU kind "
            f"and core count), since float rounding elsewhere may differ. Decode "
            f"it there.")
  return (f"{what} did not decode to its image (pixel CRC mismatch): the file is corrupt or "
          f"truncated.")
