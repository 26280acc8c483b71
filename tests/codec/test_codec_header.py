import pytest

from spn_keras.codec import CodecError
from spn_keras.codec import CodecHeader


def _header(shape=(28, 28, 1)):
  return CodecHeader(b"\x01\x02\x03\x04", b"\xaa\xbb", shape, 0xDEADBEEF)


def test_round_trip_and_size():
  blob = _header().to_bytes()
  assert len(blob) == 14  # version, fingerprint 4, tag 2, shape 3, CRC 4
  header, payload = CodecHeader.from_bytes(blob + b"payload")
  assert header == _header() and payload == b"payload"


def test_large_shapes_take_more_varint_bytes():
  header, payload = CodecHeader.from_bytes(_header((300, 70000, 3)).to_bytes())
  assert header.image_shape == (300, 70000, 3) and payload == b""


@pytest.mark.parametrize("blob, message", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n", "Not an spn-keras image file"),
    (_header().to_bytes()[:5], "truncated"),
    (_header().to_bytes()[:8], "truncated"),
    (_header().to_bytes()[:12], "truncated"),
])
def test_bad_files(blob, message):
  with pytest.raises(CodecError, match=message):
    CodecHeader.from_bytes(blob)


def test_bad_field_lengths():
  with pytest.raises(ValueError, match="model_fingerprint"):
    CodecHeader(b"\x01", b"\xaa\xbb", (1, 1, 1), 0).to_bytes()
  with pytest.raises(ValueError, match="environment_tag"):
    CodecHeader(b"\x01\x02\x03\x04", b"\xaa", (1, 1, 1), 0).to_bytes()
