"""Archives: many images of one size in one file, `compress_archive` and `decompress_archive`.

For datasets of small images, where a file's 16-byte header is 10% of a 28x28 digit: one
`ArchiveHeader` (the model, the environment, the shape, the count, each image's payload length
and CRC-16, one CRC-32 over all the pixels) and each image's range-coder stream, coded as
`spn_keras.codec.compress` codes a file's (images of any size are tiled the same way).
"""

import numpy as np

from spn_keras.codec import environment
from spn_keras.codec import lossless
from spn_keras.codec.archive_header import ArchiveHeader
from spn_keras.codec.archive_header import image_crc
from spn_keras.codec.codec_error import CodecError


def compress_archive(model, images, conditioning=None, progress=False):
  """Compresses images of one size into one archive, losslessly.

  Args:
    model: a `Pipeline`, or one stage, float32 (as `spn_keras.codec.compress`).
    images: int `(N, H, W, C)` (or a list of `(H, W, C)` images of one shape) with values in
      `[0, 2**bits)`, any height and width, the model's channel count.
    conditioning: a depth-upscaling stage coded alone: the images' most significant bits.
    progress: show a progress bar over the stages' slices.

  Returns:
    bytes.

  Raises:
    TypeError: `model` is not a Pipeline or stage, or `images` is not an integer array.
    ValueError: images of several shapes, of another channel count or depth, none at all, or
      conditioning that does not match them.
  """
  stages = lossless.coding_stages(model)
  images = lossless.image_list("images", images, model.bits,
                                model.image_shape[2])
  if not images:
    raise ValueError("`images` must hold at least one image for an archive.")
  shapes = {image.shape for image in images}
  if len(shapes) > 1:
    raise ValueError(f"`images` of an archive must all have one shape, got {sorted(shapes)}: "
                     f"compress images of different sizes into files (`compress`).")
  conditioning = lossless.check_conditioning(
      model, conditioning, len(images))
  lossless.check_conditioning_shapes(
      conditioning, [image.shape for image in images])
  payloads = lossless.encode_streams(model, images, conditioning, progress)
  pixels = np.stack(images).astype(np.uint8)
  header = ArchiveHeader(model_fingerprint=environment.model_fingerprint(stages),
                         environment_tag=environment.environment_tag(),
                         image_shape=images[0].shape,
                         payload_lengths=tuple(len(payload) for payload in payloads),
                         image_crcs=tuple(image_crc(image.tobytes()) for image in pixels),
                         pixels_crc=lossless.pixels_crc(pixels))
  return header.to_bytes() + b"".join(payloads)


def decompress_archive(model, blob, conditioning=None, progress=False):
  """Decodes an archive made by `compress_archive` with the same model.

  Args:
    model: the `Pipeline` or stage the archive was made with.
    blob: the archive's bytes.
    conditioning: a depth-upscaling stage coded alone: the most significant bits given to
      `compress_archive`.
    progress: show a progress bar over the stages' slices.

  Returns:
    uint8 `(N, H, W, C)`.

  Raises:
    TypeError: `blob` is not bytes.
    CodecError: not an archive of this format and version, a truncated or damaged one, one
      made with another model or for another channel count, or one whose images fail their
      CRCs (corrupt, or made in another environment: the message compares the environments;
      its `file_index` names the first image that failed, or None when only the archive's
      CRC-32 did).
  """
  lossless.coding_stages(model)
  if not isinstance(blob, (bytes, bytearray, memoryview)):
    raise TypeError(f"`blob` must be the archive's bytes, got {type(blob).__name__}.")
  header, payloads = ArchiveHeader.from_bytes(blob)
  lossless.check_model_header(model, header, "The archive")
  conditioning = lossless.check_conditioning(
      model, conditioning, len(payloads))
  shapes = [tuple(header.image_shape)] * len(payloads)
  lossless.check_conditioning_shapes(conditioning, shapes)
  images = lossless.decode_streams(model, shapes, payloads, conditioning, progress)
  for index, (image, crc) in enumerate(zip(images, header.image_crcs)):
    if image_crc(image.tobytes()) != crc:
      raise CodecError(lossless.crc_failure(f"Image {index} of the archive",
                                            header.environment_tag), index)
  images = np.stack(images) if images else np.zeros((0, *header.image_shape), np.uint8)
  if lossless.pixels_crc(images) != header.pixels_crc:
    raise CodecError(lossless.crc_failure("The archive", header.environment_tag))
  return images
