"""`ArchiveHeader`: the header of an archive of many images of one size."""

import binascii
import dataclasses
import struct
import zlib

from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import ARCHIVE_MAGIC
from spn_keras.codec.codec_header import ENVIRONMENT_TAG_BYTES
from spn_keras.codec.codec_header import MODEL_FINGERPRINT_BYTES
from spn_keras.codec.codec_header import check_image_shape
from spn_keras.codec.codec_header import read_varint
from spn_keras.codec.codec_header import write_varint

ARCHIVE_FORMAT_VERSION = 1
# The least bytes an image takes in the header: a length varint and its CRC-16.
_MIN_BYTES_PER_IMAGE = 1 + 2


def image_crc(image_bytes):
  """CRC-16/CCITT-FALSE of one image's uint8 bytes: the archive's per-image check."""
  return binascii.crc_hqx(image_bytes, 0xFFFF)


@dataclasses.dataclass(frozen=True)
class ArchiveHeader:
  """What an archive carries besides its images' payloads.

  Layout: `ARCHIVE_MAGIC` (4 bytes, `SPNA`: no image file starts so); the archive format
  version (1 byte); the model fingerprint (`MODEL_FINGERPRINT_BYTES`) and environment tag
  (`ENVIRONMENT_TAG_BYTES`) as in a `CodecHeader`; height, width, channels and the image count
  as LEB128 varints; each image's payload length (varints); each image's CRC-16 (2 bytes,
  big-endian; `image_crc`); the CRC-32 of all the images' pixels (4 bytes: an archive that
  decodes wrong is caught as surely as a file, while a damaged image is named by its CRC-16,
  at 2 bytes an image rather than 4: 0.02 bits per dimension of a 28x28 digit); the CRC-32 of
  all the header's bytes before it (4 bytes). The payloads follow, in order, to the end.

  Args:
    model_fingerprint: bytes of length `MODEL_FINGERPRINT_BYTES`.
    environment_tag: bytes of length `ENVIRONMENT_TAG_BYTES`.
    image_shape: `(height, width, channels)` of every image.
    payload_lengths: tuple of each image's payload bytes.
    image_crcs: tuple of each image's `image_crc`.
    pixels_crc: `zlib.crc32` of all the images' uint8 bytes, `(N, H, W, C)` order.
    format_version: the layout's version.
  """

  model_fingerprint: bytes
  environment_tag: bytes
  image_shape: tuple
  payload_lengths: tuple
  image_crcs: tuple
  pixels_crc: int
  format_version: int = ARCHIVE_FORMAT_VERSION

  def to_bytes(self):
    """The header as bytes."""
    if len(self.model_fingerprint) != MODEL_FINGERPRINT_BYTES:
      raise ValueError(f"`model_fingerprint` must be {MODEL_FINGERPRINT_BYTES} bytes.")
    if len(self.environment_tag) != ENVIRONMENT_TAG_BYTES:
      raise ValueError(f"`environment_tag` must be {ENVIRONMENT_TAG_BYTES} bytes.")
    if len(self.payload_lengths) != len(self.image_crcs):
      raise ValueError("`payload_lengths` and `image_crcs` must have one entry per image.")
    fields = (ARCHIVE_MAGIC + bytes([self.format_version]) + self.model_fingerprint +
              self.environment_tag +
              b"".join(write_varint(int(size)) for size in self.image_shape) +
              write_varint(len(self.payload_lengths)) +
              b"".join(write_varint(int(length)) for length in self.payload_lengths) +
              b"".join(struct.pack(">H", crc) for crc in self.image_crcs) +
              struct.pack(">I", self.pixels_crc))
    return fields + struct.pack(">I", zlib.crc32(fields))

  @classmethod
  def from_bytes(cls, blob):
    """Reads the header at the start of `blob` and splits the rest into the payloads.

    The image count and the lengths are bounded by the blob's size before anything is
    allocated, and the lengths must add up to the bytes after the header exactly.

    Returns:
      `(header, payloads)`: the `ArchiveHeader` and a list of each image's payload bytes.

    Raises:
      CodecError: `blob` is not an archive (another format or version), is truncated, or its
        header fails its CRC (damaged).
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
      raise CodecError(f"Not an spn-keras archive of format version {ARCHIVE_FORMAT_VERSION}: "
                       f"its version byte is {blob[offset]} (another spn-keras version, or a "
                       f"damaged archive).")
    offset += 1
    end = offset + MODEL_FINGERPRINT_BYTES + ENVIRONMENT_TAG_BYTES
    if len(blob) < end:
      raise _truncated_error(blob)
    fingerprint = blob[offset:offset + MODEL_FINGERPRINT_BYTES]
    tag = blob[offset + MODEL_FINGERPRINT_BYTES:end]
    offset = end
    shape = []
    for _ in range(3):
      size, offset = read_varint(blob, offset)
      shape.append(size)
    count, offset = read_varint(blob, offset, "the image count")
    if count * _MIN_BYTES_PER_IMAGE > len(blob) - offset:
      raise CodecError(f"The archive is truncated or its header damaged: it claims {count} "
                       f"images, more than its {len(blob)} bytes can hold.")
    lengths = []
    for _ in range(count):
      length, offset = read_varint(blob, offset, "the payload lengths")
      lengths.append(length)
    end = offset + 2 * count + 4 + 4
    if len(blob) < end:
      raise _truncated_error(blob)
    crcs = struct.unpack(f">{count}H", blob[offset:offset + 2 * count])
    (pixels_crc, header_crc) = struct.unpack(">II", blob[end - 8:end])
    if header_crc != zlib.crc32(blob[:end - 4]):
      raise CodecError("The archive's header is damaged: its CRC-32 does not match its bytes "
                       "(the archive is corrupt).")
    check_image_shape(shape)
    if sum(lengths) != len(blob) - end:
      raise CodecError(f"The archive is truncated or corrupt: its header lists {sum(lengths)} "
                       f"bytes of images, and {len(blob) - end} follow it.")
    payloads, start = [], end
    for length in lengths:
      payloads.append(blob[start:start + length])
      start += length
    header = cls(fingerprint, tag, tuple(shape), tuple(lengths), tuple(crcs), pixels_crc)
    return header, payloads


def _truncated_error(blob):
  """The error for `blob`, too short for the header it starts."""
  return CodecError(f"The archive is truncated ({len(blob)} bytes, shorter than its header) "
                    f"or its header is damaged.")
