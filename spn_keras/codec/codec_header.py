"""`CodecHeader`: the few bytes in front of a compressed image."""

import binascii
import dataclasses
import struct

from spn_keras.codec.codec_error import CodecError

# Version 2 added the header's own CRC; version 3 holds an image of any size, tiled into the
# model's image shape and coded as one range-coder stream; version 4 codes it as one
# interleaved rANS stream, decoded inside the compiled program (`spn_keras.codec.lossless`);
# version 5 starts the payload with the coding-batch row of the image's last tiles, which it
# decodes at (`coding_batches.coding_batches`).
# Files of older versions are refused by name: they decode differently, and files are meant
# for the environment (and so the spn-keras version) that made them.
FORMAT_VERSION = 5
MAX_IMAGE_SIDE = 65535  # a height or width beyond this is a damaged (or hostile) header
MODEL_FINGERPRINT_BYTES = 4
ENVIRONMENT_TAG_BYTES = 2
HEADER_CRC_BYTES = 2
# An archive's first bytes (`spn_keras.codec.archive_header`): no image file starts with them.
ARCHIVE_MAGIC = b"SPNA"


def _header_crc(header_bytes):
  """CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of the header's other bytes.

  16 bits suffice: it finds every error of up to 3 bits and every burst of up to 16 in a
  header this short, and all but 1 in 65536 other damages; what it misses cannot give a
  wrong image either (the pixels have their own CRC-32). CRC-32 would add two bytes to every
  file, 0.02 bits per dimension of a 28x28 digit.
  """
  return binascii.crc_hqx(header_bytes, 0xFFFF)


def write_varint(value):
  """`value` (a non-negative int) as an unsigned LEB128 varint: 7 bits a byte."""
  out = bytearray()
  while True:
    byte, value = value & 0x7F, value >> 7
    out.append(byte | (0x80 if value else 0))
    if not value:
      return bytes(out)


def read_varint(blob, offset, field="the image shape"):
  """The varint at `blob[offset:]` (at most 5 bytes): `(value, offset after it)`.

  Raises:
    CodecError: the blob ends inside it, or it runs past 5 bytes (`field` names it).
  """
  value = shift = 0
  while True:
    if offset >= len(blob) or shift > 28:
      raise CodecError(f"The header is damaged or the file truncated: the header ends inside "
                       f"{field}.")
    byte = blob[offset]
    offset += 1
    value |= (byte & 0x7F) << shift
    shift += 7
    if not byte & 0x80:
      return value, offset


@dataclasses.dataclass(frozen=True)
class CodecHeader:
  """What a compressed image carries besides its entropy-coded payload.

  Layout (16 bytes for a 28x28x1 image, 18 for 427x640x3): the format version (1 byte); the fingerprint of the
  model's weights and configuration (`MODEL_FINGERPRINT_BYTES`); the environment tag
  (`ENVIRONMENT_TAG_BYTES`: package, TensorFlow and numpy versions, CPU kind and cores; see `spn_keras.codec.environment`); height, width and channels as LEB128
  varints; the CRC-32 of the pixels (4 bytes, big-endian); the CRC-16 of all the header's
  bytes before it (`HEADER_CRC_BYTES`, big-endian), so that a damaged header is told from
  another model's file. The payload (one interleaved rANS stream for the whole image, however
  many tiles it takes) follows to the end of the file.

  Args:
    model_fingerprint: bytes of length `MODEL_FINGERPRINT_BYTES`.
    environment_tag: bytes of length `ENVIRONMENT_TAG_BYTES`.
    image_shape: `(height, width, channels)` of the whole image (any size, not the tile's).
    pixels_crc: CRC-32 (`zlib.crc32`) of the image's uint8 bytes in `(H, W, C)` order.
    format_version: the layout's version.
  """

  model_fingerprint: bytes
  environment_tag: bytes
  image_shape: tuple
  pixels_crc: int
  format_version: int = FORMAT_VERSION

  def to_bytes(self):
    """The header as bytes."""
    fields = (bytes([self.format_version]) +
              identity_bytes(self.model_fingerprint, self.environment_tag, self.image_shape) +
              struct.pack(">I", self.pixels_crc))
    return fields + struct.pack(">H", _header_crc(fields))

  @classmethod
  def from_bytes(cls, blob):
    """Reads the header at the start of `blob`.

    Returns:
      `(header, payload)`: the `CodecHeader` and the bytes after it.

    Raises:
      CodecError: `blob` is not a file of this format (another format or format version),
        is too short to hold a header, or its header fails its CRC (damaged).
    """
    blob = bytes(blob)
    if not blob:
      raise CodecError("The file is empty.")
    if blob.startswith(ARCHIVE_MAGIC):
      raise CodecError("An spn-keras archive, not an image file: read it with "
                       "`decompress_archive` (spn_decompress reads both).")
    if blob[0] != FORMAT_VERSION:
      older = (" (format versions 1-4 were made by older spn-keras versions, whose files "
               "decode only there)" if 1 <= blob[0] < FORMAT_VERSION else "")
      raise CodecError(f"Not an spn-keras image file of format version {FORMAT_VERSION}: its "
                       f"first byte is {blob[0]}{older} (a file of another format or spn-keras "
                       f"version, or a damaged one).")
    fingerprint, tag, shape, offset = read_identity(blob, 1, _truncated_error)
    end = offset + 4 + HEADER_CRC_BYTES
    if len(blob) < end:
      raise _truncated_error(blob)
    (pixels_crc,) = struct.unpack(">I", blob[offset:offset + 4])
    (header_crc,) = struct.unpack(">H", blob[offset + 4:end])
    if header_crc != _header_crc(blob[:offset + 4]):
      raise CodecError("The header is damaged: its CRC-16 does not match its bytes (the file "
                       "is corrupt).")
    check_image_shape(shape)
    return cls(fingerprint, tag, tuple(shape), pixels_crc), blob[end:]


def identity_bytes(model_fingerprint, environment_tag, image_shape):
  """The bytes that name the model, the environment and the image shape in a header (an image
  file's or an archive's): the fingerprint, the tag and the shape as three varints.

  Raises:
    ValueError: a fingerprint or tag of the wrong length.
  """
  if len(model_fingerprint) != MODEL_FINGERPRINT_BYTES:
    raise ValueError(f"`model_fingerprint` must be {MODEL_FINGERPRINT_BYTES} bytes.")
  if len(environment_tag) != ENVIRONMENT_TAG_BYTES:
    raise ValueError(f"`environment_tag` must be {ENVIRONMENT_TAG_BYTES} bytes.")
  return (model_fingerprint + environment_tag +
          b"".join(write_varint(int(size)) for size in image_shape))


def read_identity(blob, offset, truncated_error):
  """Inverse of `identity_bytes` at `blob[offset:]`.

  Args:
    blob: the header's bytes.
    offset: where the fingerprint starts.
    truncated_error: `fn(blob) -> CodecError` raised when `blob` ends before the tag does.

  Returns:
    `(model_fingerprint, environment_tag, image_shape list, offset after the shape)`.
  """
  end = offset + MODEL_FINGERPRINT_BYTES + ENVIRONMENT_TAG_BYTES
  if len(blob) < end:
    raise truncated_error(blob)
  fingerprint = blob[offset:offset + MODEL_FINGERPRINT_BYTES]
  tag = blob[offset + MODEL_FINGERPRINT_BYTES:end]
  offset = end
  shape = []
  for _ in range(3):
    size, offset = read_varint(blob, offset)
    shape.append(size)
  return fingerprint, tag, shape, offset


def check_image_shape(shape):
  """Raises a `CodecError` unless `shape`'s height and width are in `[1, MAX_IMAGE_SIDE]` and
  it has channels: a header that passes its CRC with such a shape was made to attack the
  decoder (which would allocate it)."""
  height, width, channels = shape
  if not (1 <= height <= MAX_IMAGE_SIDE and 1 <= width <= MAX_IMAGE_SIDE and channels >= 1):
    raise CodecError(f"The header holds an impossible image shape {tuple(shape)} (sides from "
                     f"1 to {MAX_IMAGE_SIDE}): the file is damaged.")


def _truncated_error(blob):
  """The error for `blob`, too short for the header it starts."""
  return CodecError(f"The file is truncated ({len(blob)} bytes, shorter than its header) or "
                    f"its header is damaged.")
