import pytest

from spn_keras.codec import CodecError
from spn_keras.codec import CodecHeader


def _header(shape=(28, 28, 1)):
  return CodecHeader(b"\x01\x02\x03\x04", b"\xaa\xbb", shape, 0xDEADBEEF)


def test_round_trip_and_size():
  blob = _header().to_bytes()
  assert len(blob) == 16  # version, fingerprint 4, tag 2, shape 3, pixels CRC 4, header CRC 2
  header, payload = CodecHeader.from_bytes(blob + b"payload")
  assert header == _header() and payload == b"payload"


def test_large_shapes_take_more_varint_bytes():
  header, payload = CodecHeader.from_bytes(_header((300, 65535, 3)).to_bytes())
  assert header.image_shape == (300, 65535, 3) and payload == b""
  assert len(_header((427, 640, 3)).to_bytes()) == 18


@pytest.mark.parametrize("blob, message", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n", "Not an spn-keras image file of format version 5: its first byte is "
     "137 \\(a file"),
    (bytes([1]) + _header().to_bytes()[1:], "format version 5: its first byte is 1 \\(format "
     "versions 1-4 were made by older spn-keras versions"),
    (bytes([3]) + _header().to_bytes()[1:], "format version 5: its first byte is 3 \\(format "
     "versions 1-4"),
    (b"SPNA\x01" + _header().to_bytes()[5:], "An spn-keras archive, not an image file"),
    (_header().to_bytes()[:5], "truncated"),
    (_header().to_bytes()[:8], "truncated"),
    (_header().to_bytes()[:12], "truncated"),
    (_header().to_bytes()[:15], "truncated"),
], ids=["empty", "png", "format_version_1", "format_version_3", "archive", "in_fingerprint", "in_shape", "in_pixels_crc",
        "in_header_crc"])
def test_bad_files(blob, message):
  with pytest.raises(CodecError, match=message):
    CodecHeader.from_bytes(blob)


def test_any_flipped_bit_after_the_version_is_a_damaged_header():
  blob = _header().to_bytes() + b"payload"
  for bit in range(8, 8 * len(_header().to_bytes())):
    damaged = bytearray(blob)
    damaged[bit // 8] ^= 1 << (bit % 8)
    # A flipped varint bit can move the fields after it: then the header seems to end early.
    message = "header is damaged: its CRC-16" if not 7 <= bit // 8 < 10 else "header is damaged"
    with pytest.raises(CodecError, match=message):
      CodecHeader.from_bytes(bytes(damaged))


def test_bad_field_lengths():
  with pytest.raises(ValueError, match="model_fingerprint"):
    CodecHeader(b"\x01", b"\xaa\xbb", (1, 1, 1), 0).to_bytes()
  with pytest.raises(ValueError, match="environment_tag"):
    CodecHeader(b"\x01\x02\x03\x04", b"\xaa", (1, 1, 1), 0).to_bytes()


@pytest.mark.parametrize("shape", [(0, 5, 1), (5, 0, 3), (70000, 2, 1), (3, 3, 0)])
def test_an_impossible_shape_is_refused_even_with_a_valid_crc(shape):
  with pytest.raises(CodecError, match=r"impossible image shape .*sides from 1 to 65535"):
    CodecHeader.from_bytes(_header(shape).to_bytes())
