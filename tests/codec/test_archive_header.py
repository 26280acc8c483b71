import struct
import zlib

import pytest

from spn_keras.codec import ArchiveHeader
from spn_keras.codec import CodecError
from spn_keras.codec.archive_header import check_archive_size
from spn_keras.codec.codec_header import write_varint


def _header(count=500, length=200):
  return ArchiveHeader(b"\x01\x02\x03\x04", b"\xaa\xbb", (28, 28, 1), count, length, 0xDEADBEEF)


def test_round_trip_and_size():
  payload = bytes(range(200))
  blob = _header().to_bytes()
  # magic 4, version, fingerprint 4, tag 2, shape 3, count 2, payload length 2, 4 + 4
  assert len(blob) == 26
  header, rest = ArchiveHeader.from_bytes(blob + payload)
  assert header == _header() and rest == payload


def _forged(count, length=0, shape=(28, 28, 1), version=3):
  """An archive header claiming `count` images of `shape`, with a valid CRC-32."""
  fields = (b"SPNA" + bytes([version]) + b"\x01\x02\x03\x04\xaa\xbb" +
            b"".join(write_varint(n) for n in (*shape, count, length)) + b"\x00" * 4)
  return fields + struct.pack(">I", zlib.crc32(fields))


@pytest.mark.parametrize("blob, message", [
    (_forged(2**40), r"The header is damaged or the file truncated: the header ends inside the "
     r"image count"),
    (_forged(2**20 + 1, shape=(1, 1, 1)), r"The archive's header claims 1048577 images of "
     r"\(1, 1, 1\) \(1048577 sub-pixels\) are more than an archive holds \(at most 1048576 "
     r"images and 134217728 sub-pixels\): the archive is damaged or made to attack"),
    (_forged(171197), r"claims 171197 images of \(28, 28, 1\) \(134218448 sub-pixels\) are "
     r"more than an archive holds"),
    (_forged(0), r"The archive's header claims no images"),
    (_forged(2, 2**27), r"its header lists 134217728 bytes of images, and 0 follow it"),
    (_forged(1, 5) + b"abc", r"its header lists 5 bytes of images, and 3 follow it"),
    (_forged(1, shape=(0, 28, 1)), r"impossible image shape \(0, 28, 1\)"),
], ids=["count_varint_too_long", "too_many_images", "too_many_subpixels", "no_images",
        "length_beyond_the_blob", "short", "empty_side"])
def test_hostile_counts_and_lengths_are_refused(blob, message):
  with pytest.raises(CodecError, match=message):
    ArchiveHeader.from_bytes(blob)


def test_the_largest_archive_reads():
  header, payload = ArchiveHeader.from_bytes(_forged(171196, 3) + b"abc")
  assert header.count == 171196 and payload == b"abc"


@pytest.mark.parametrize("version", [1, 2])
def test_older_versions_are_refused_by_name(version):
  with pytest.raises(CodecError, match=rf"^Not an spn-keras archive of format version 3: its "
                     rf"version byte is {version} \(versions 1 and 2 were made by older"):
    ArchiveHeader.from_bytes(_forged(1, version=version))


def test_every_truncation_is_refused():
  blob = _header().to_bytes() + bytes(200)
  for end in range(len(blob)):
    with pytest.raises(CodecError, match="empty|truncated|damaged"):
      ArchiveHeader.from_bytes(blob[:end])


def test_sizes_are_checked_against_the_tiles():
  assert check_archive_size(2**20, (1, 1, 1)) is None
  assert check_archive_size(8193, (1, 4096, 1)) is None
  assert check_archive_size(8193, (1, 4096, 1), (4, 4, 1)) == (
      "8193 images of (1, 4096, 1) (134234112 sub-pixels in tiles) are more than an archive "
      "holds (at most 1048576 images and 134217728 sub-pixels)")


def test_bad_fields_are_refused_when_writing():
  with pytest.raises(ValueError, match="`count`: an archive holds at least one image"):
    _header(count=0).to_bytes()
  with pytest.raises(ValueError, match=r"`count`: 171197 images of \(28, 28, 1\)"):
    _header(count=171197).to_bytes()
  with pytest.raises(ValueError, match="`environment_tag` must be 2 bytes"):
    ArchiveHeader(b"\x01\x02\x03\x04", b"\xaa", (28, 28, 1), 1, 1, 0).to_bytes()
