"""Archives: many images of one size in one file, `compress_archive` and `decompress_archive`.

For datasets of small images, where a file's 16-byte header is 10% of a 28x28 digit: one
`ArchiveHeader` (the model, the environment, the shape, the count, the payload's length, one
CRC-32 over all the pixels) and ONE interleaved rANS stream of all the images (tiled as
`spn_keras.codec.compress` tiles a file's, their tiles coded in batches of up to 64), so that
an image pays no header, length or CRC of its own: an archive costs the model's bits of its
images plus about 25 bytes plus the coder's lanes' states (8 bytes for each of up to 64
lanes: 0.01 bits per dimension of 500 digits of 28x28).
"""

import numpy as np

from spn_keras.codec import environment
from spn_keras.codec import lossless
from spn_keras.codec.archive_header import ArchiveHeader
from spn_keras.codec.archive_header import check_archive_size
from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.coding_streams import decode_streams
from spn_keras.codec.coding_streams import encode_streams


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
    ValueError: images of several shapes, of another channel count or depth, none at all,
      more than an archive holds (`archive_header.MAX_ARCHIVE_IMAGES` and
      `MAX_ARCHIVE_SUBPIXELS`: split them into several archives), or conditioning that does
      not match them.
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
  too_many = check_archive_size(len(images), images[0].shape, model.image_shape)
  if too_many:
    raise ValueError(f"`images`: {too_many}; split them into several archives.")
  conditioning = lossless.check_conditioning(
      model, conditioning, len(images))
  lossless.check_conditioning_shapes(
      conditioning, [image.shape for image in images])
  payload, = encode_streams(model, images, conditioning, progress, one_stream=True)
  header = ArchiveHeader(model_fingerprint=environment.model_fingerprint(stages),
                         environment_tag=environment.environment_tag(),
                         image_shape=images[0].shape, count=len(images),
                         payload_length=len(payload),
                         pixels_crc=lossless.pixels_crc(np.stack(images)))
  return header.to_bytes() + payload


def decompress_archive(model, blob, conditioning=None, progress=False):
  """Decodes an archive made by `compress_archive` with the same model.

  Its images are one stream, so a damaged payload is found (the pixels' CRC-32
  fails) but the image it hit cannot be named (the error's `file_index` is None), and nothing
  of a damaged archive is returned.

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
      made with another model or for another channel count, one claiming more images than an
      archive holds, or one whose pixels fail their CRC-32 (a corrupt payload, or an archive
      made in another environment: the message compares the environments).
  """
  lossless.coding_stages(model)
  if not isinstance(blob, (bytes, bytearray, memoryview)):
    raise TypeError(f"`blob` must be the archive's bytes, got {type(blob).__name__}.")
  header, payload = ArchiveHeader.from_bytes(blob)
  lossless.check_model_header(model, header, "The archive")
  too_many = check_archive_size(header.count, header.image_shape, model.image_shape)
  if too_many:
    raise CodecError(f"The archive's header claims {too_many}: the archive is damaged or "
                     f"made to attack the decoder.")
  conditioning = lossless.check_conditioning(model, conditioning, header.count)
  shapes = [tuple(header.image_shape)] * header.count
  lossless.check_conditioning_shapes(conditioning, shapes)
  images = np.stack(decode_streams(model, shapes, [payload], conditioning, progress,
                                  one_stream=True))
  if lossless.pixels_crc(images) != header.pixels_crc:
    if header.environment_tag != environment.environment_tag():
      raise CodecError(lossless.crc_failure("The archive", header.environment_tag))
    raise CodecError("The archive is truncated or corrupt: its images did not decode to the "
                     "pixels it was made of (pixel CRC-32 mismatch; its images share one "
                     "stream and one CRC, so the damaged image cannot be named).")
  return images
