import struct
import zlib

import pytest

from spn_keras.codec import ArchiveHeader
from spn_keras.codec import CodecError
from spn_keras.codec.codec_header import write_varint


def _header(lengths=(3, 200), crcs=(0x1234, 0xBEEF)):
  return ArchiveHeader(b"\x01\x02\x03\x04", b"\xaa\xbb", (28, 28, 1), lengths, crcs, 0xDEADBEEF)


def _payloads(lengths=(3, 200)):
  return [bytes([i]) * length for i, length in enumerate(lengths)]


def test_round_trip_and_size():
  blob = _header().to_bytes()
  # magic 4, version, fingerprint 4, tag 2, shape 3, count 1, lengths 1 + 2, CRCs 4, 4 + 4
  assert len(blob) == 30
  header, payloads = ArchiveHeader.from_bytes(blob + b"".join(_payloads()))
  assert header == _header() and payloads == _payloads()


def _forged(count, lengths=()):
  """An archive header claiming `count` images of `lengths`, with a valid CRC-32."""
  fields = (b"SPNA\x01" + b"\x01\x02\x03\x04\xaa\xbb" + bytes([28, 28, 1]) +
            write_varint(count) + b"".join(write_varint(n) for n in lengths) +
            b"\x00\x00" * len(lengths) + b"\x00" * 4)
  return fields + struct.pack(">I", zlib.crc32(fields))


@pytest.mark.parametrize("blob, message", [
    (_forged(2**40), r"The header is damaged or the file truncated: the header ends inside the "
     r"image count"),
    (_forged(2**27), r"it claims 134217728 images, more than its 26 bytes can hold"),
    (_forged(2, (2**27, 1)), r"its header lists 134217729 bytes of images, and 0 follow it"),
    (_forged(1, (5,)) + b"abc", r"its header lists 5 bytes of images, and 3 follow it"),
], ids=["count_varint_too_long", "count_beyond_the_blob", "length_beyond_the_blob", "short"])
def test_hostile_counts_and_lengths_are_bounded_by_the_blob(blob, message):
  with pytest.raises(CodecError, match=message):
    ArchiveHeader.from_bytes(blob)


def test_every_truncation_is_refused():
  blob = _header().to_bytes() + b"".join(_payloads())
  for end in range(len(blob)):
    with pytest.raises(CodecError, match="empty|truncated|damaged"):
      ArchiveHeader.from_bytes(blob[:end])


def test_bad_field_lengths():
  with pytest.raises(ValueError, match="one entry per image"):
    _header(crcs=(1,)).to_bytes()
