"""`ArchiveHeader`: the header of an archive of many images of one size."""

import dataclasses
import struct
import zlib

from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import ARCHIVE_MAGIC
from spn_keras.codec.codec_header import check_image_shape
from spn_keras.codec.codec_header import identity_bytes
from spn_keras.codec.codec_header import read_identity
from spn_keras.codec.codec_header import read_varint
from spn_keras.codec.codec_header import write_varint
from spn_keras.codec.tiling import tile_grid

# Version 3 codes all the images as one interleaved rANS stream; version 2 (one range-coder
# stream) and version 1 (a stream, a length and a CRC-16 per image) are refused: they decode
# differently.
ARCHIVE_FORMAT_VERSION = 3
# The most images an archive holds, and the most sub-pixels of their tiles (count * tiles *
# h * w * C, the images' own H * W * C where the model is not known yet: the decoder allocates
# its tiles, about 15 bytes a sub-pixel while it decodes, 2 GiB at this limit, and its time
# grows with them): a header claiming more is refused before anything is allocated. A header
# passes its CRC-32 only if made so; these limits bound what one can make the decoder allocate
# and run (decoding time grows with the count and shape, not with the payload's size).
MAX_ARCHIVE_IMAGES = 1 << 20
MAX_ARCHIVE_SUBPIXELS = 1 << 27


def check_archive_size(count, image_shape, tile_shape=None):
  """`None` if `count` images of `image_shape` fit an archive, else the reason (text).

  Args:
    count: the number of images.
    image_shape: `(H, W, C)` of each.
    tile_shape: the model's `(h, w, C)`, or None: the sub-pixels counted are then the tiles'
      (the image padded to whole tiles), else the images' own.
  """
  height, width, channels = image_shape
  if tile_shape is not None:
    rows, cols = tile_grid(image_shape, tile_shape)
    height, width = rows * tile_shape[0], cols * tile_shape[1]
  subpixels = count * height * width * channels
  if count > MAX_ARCHIVE_IMAGES or subpixels > MAX_ARCHIVE_SUBPIXELS:
    return (f"{count} images of {tuple(image_shape)} ({subpixels} sub-pixels"
            f"{' in tiles' if tile_shape is not None else ''}) are more than an archive holds "
            f"(at most {MAX_ARCHIVE_IMAGES} images and {MAX_ARCHIVE_SUBPIXELS} sub-pixels)")
  return None


@dataclasses.dataclass(frozen=True)
class ArchiveHeader:
  """What an archive carries besides its images' coded stream.

  Layout: `ARCHIVE_MAGIC` (4 bytes, `SPNA`: no image file starts so); the archive format
  version (1 byte, `ARCHIVE_FORMAT_VERSION`); the model fingerprint (`MODEL_FINGERPRINT_BYTES`)
  and environment tag (`ENVIRONMENT_TAG_BYTES`) as in a `CodecHeader`; height, width and
  channels, the image count and the payload's length in bytes as LEB128 varints; the CRC-32 of
  all the images' pixels (4 bytes, big-endian); the CRC-32 of all the header's bytes before it
  (4 bytes). The payload follows to the end: ONE interleaved rANS stream of all the images,
  in coding order (`coding_streams.encode_streams` with `one_stream`), so that an image pays
  no header, length or CRC of its own. The price: a damaged payload is found (the pixels' CRC-32) but the image it hit
  cannot be named, and the archive decodes only whole. The payload's length is recorded so
  that a truncated archive is refused as such before decoding.

  Args:
    model_fingerprint: bytes of length `MODEL_FINGERPRINT_BYTES`.
    environment_tag: bytes of length `ENVIRONMENT_TAG_BYTES`.
    image_shape: `(height, width, channels)` of every image.
    count: the number of images.
    payload_length: the payload's bytes.
    pixels_crc: `zlib.crc32` of all the images' uint8 bytes, `(N, H, W, C)` order.
    format_version: the layout's version.
  """

  model_fingerprint: bytes
  environment_tag: bytes
  image_shape: tuple
  count: int
  payload_length: int
  pixels_crc: int
  format_version: int = ARCHIVE_FORMAT_VERSION

  def to_bytes(self):
    """The header as bytes."""
    identity = identity_bytes(self.model_fingerprint, self.environment_tag, self.image_shape)
    too_many = check_archive_size(self.count, self.image_shape)
    if too_many or self.count < 1:
      raise ValueError(f"`count`: {too_many or 'an archive holds at least one image'}.")
    fields = (ARCHIVE_MAGIC + bytes([self.format_version]) + identity +
              write_varint(int(self.count)) + write_varint(int(self.payload_length)) +
              struct.pack(">I", self.pixels_crc))
    return fields + struct.pack(">I", zlib.crc32(fields))

  @classmethod
  def from_bytes(cls, blob):
    """Reads the header at the start of `blob`; the rest is the payload.

    The count and shape are bounded (`MAX_ARCHIVE_IMAGES`, `MAX_ARCHIVE_SUBPIXELS`) before
    anything is allocated, and the payload must be exactly as long as the header says.

    Returns:
      `(header, payload)`: the `ArchiveHeader` and the payload's bytes.

    Raises:
      CodecError: `blob` is not an archive (another format, or another format version), is
        truncated, its header fails its CRC (damaged), or claims no images or more than an
        archive holds.
    """
    blob = bytes(blob)
    if not blob:
      raise CodecError("The archive is empty.")
    if not blob.startswith(ARCHIVE_MAGIC):
      raise CodecError(f"Not an spn-keras archive: it does not start with {ARCHIVE_MAGIC!r} (a "
                       f"file of another format, an image file, or a damaged archive).")
    offset = len(ARCHIVE_MAGIC)
    if len(blob) <= offset:
      raise _truncated_error(blob)
    if blob[offset] != ARCHIVE_FORMAT_VERSION:
      older = (" (versions 1 and 2 were made by older spn-keras versions, whose archives "
               "decode only there)" if 1 <= blob[offset] < ARCHIVE_FORMAT_VERSION else "")
      raise CodecError(f"Not an spn-keras archive of format version {ARCHIVE_FORMAT_VERSION}: "
                       f"its version byte is {blob[offset]}{older} (another spn-keras "
                       f"version, or a damaged archive).")
    fingerprint, tag, shape, offset = read_identity(blob, offset + 1, _truncated_error)
    count, offset = read_varint(blob, offset, "the image count")
    length, offset = read_varint(blob, offset, "the payload length")
    end = offset + 4 + 4
    if len(blob) < end:
      raise _truncated_error(blob)
    (pixels_crc, header_crc) = struct.unpack(">II", blob[offset:end])
    if header_crc != zlib.crc32(blob[:end - 4]):
      raise CodecError("The archive's header is damaged: its CRC-32 does not match its bytes "
                       "(the archive is corrupt).")
    check_image_shape(shape)
    if count < 1:
      raise CodecError("The archive's header claims no images (an archive holds at least "
                       "one): the archive is damaged.")
    too_many = check_archive_size(count, shape)
    if too_many:
      raise CodecError(f"The archive's header claims {too_many}: the archive is damaged or "
                       f"made to attack the decoder.")
    if length != len(blob) - end:
      raise CodecError(f"The archive is truncated or corrupt: its header lists {length} bytes "
                       f"of images, and {len(blob) - end} follow it.")
    return cls(fingerprint, tag, tuple(shape), count, length, pixels_crc), blob[end:]


def _truncated_error(blob):
  """The error for `blob`, too short for the header it starts."""
  return CodecError(f"The archive is truncated ({len(blob)} bytes, shorter than its header) "
                    f"or its header is damaged.")
