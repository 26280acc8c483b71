import numpy as np
import pytest

from spn_keras import codec
from spn_keras import testing
from spn_keras.codec import ArchiveHeader
from spn_keras.codec import CodecError
from spn_keras.codec import CodecHeader


@pytest.fixture(scope="module")
def pipeline():
  """4x4 gray 8-bit images (3 + 5 bits): small tiles keep 20-image archives fast."""
  return testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3)


@pytest.fixture(scope="module")
def coded(pipeline):
  """`(images, archive, files)`: 20 noise images of 5x3 (2 tiles each), as one archive and as
  20 files."""
  images = np.random.default_rng(0).integers(0, 256, size=(20, 5, 3, 1), dtype=np.uint8)
  return images, codec.compress_archive(pipeline, images), codec.compress(pipeline, images)


def test_an_archive_round_trips(pipeline, coded):
  images, archive, _ = coded
  decoded = codec.decompress_archive(pipeline, archive)
  assert decoded.dtype == np.uint8 and decoded.shape == (20, 5, 3, 1)
  np.testing.assert_array_equal(decoded, images)


def test_an_archive_saves_the_headers_of_the_files(coded):
  images, archive, files = coded
  header = ArchiveHeader.from_bytes(archive)[0]
  archive_header_bytes = len(header.to_bytes())
  # magic 4, version, fingerprint 4, tag 2, shape 3, count, 20 lengths, 20 CRC-16s, 2 CRC-32s
  assert archive_header_bytes == 4 + 1 + 4 + 2 + 3 + 1 + 20 + 40 + 8
  file_header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  assert len(archive) == sum(map(len, files)) - 20 * file_header_bytes + archive_header_bytes
  assert sum(map(len, files)) - len(archive) == 20 * 16 - 83  # about 19 file headers
  assert header.image_shape == (5, 3, 1) and len(header.payload_lengths) == len(images)


def test_one_image_and_a_list_of_one_size(pipeline):
  images = np.random.default_rng(1).integers(0, 256, size=(2, 1, 1, 1), dtype=np.uint8)
  archive = codec.compress_archive(pipeline, list(images))
  np.testing.assert_array_equal(codec.decompress_archive(pipeline, archive), images)


@pytest.mark.parametrize("images, error, message", [
    ([np.zeros((4, 4, 1), np.uint8), np.zeros((4, 5, 1), np.uint8)], ValueError,
     r"`images` of an archive must all have one shape, got \[\(4, 4, 1\), \(4, 5, 1\)\]"),
    (np.zeros((0, 4, 4, 1), np.uint8), ValueError, "at least one image"),
    (np.zeros((1, 4, 4, 3), np.uint8), ValueError, r"`images` must be images \(H, W, 1\)"),
    ("digits.png", TypeError, "`images` must be an integer array"),
], ids=["two_sizes", "none", "channels", "str"])
def test_bad_images_are_refused(pipeline, images, error, message):
  with pytest.raises(error, match=message):
    codec.compress_archive(pipeline, images)


def test_another_model_and_a_damaged_header_are_refused(pipeline, coded):
  _, archive, _ = coded
  other = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3)
  other.depth_upscaler.set_weights([w * 1.01 for w in other.depth_upscaler.get_weights()])
  with pytest.raises(CodecError, match="The archive was compressed with another model"):
    codec.decompress_archive(other, archive)
  for byte in (5, 12, 20, 60, 80):  # the fingerprint, the shape, a length, a CRC, the CRCs
    damaged = bytearray(archive)
    damaged[byte] ^= 0x01
    with pytest.raises(CodecError, match="The archive's header is damaged: its CRC-32|"
                       "truncated or corrupt"):
      codec.decompress_archive(pipeline, bytes(damaged))


def test_corrupt_and_truncated_archives_are_refused(pipeline, coded):
  _, archive, _ = coded
  header_bytes = len(ArchiveHeader.from_bytes(archive)[0].to_bytes())
  corrupt = bytearray(archive)
  corrupt[header_bytes + 1] ^= 0x10  # image 0's payload
  with pytest.raises(CodecError, match="Image 0 of the archive did not decode .*corrupt"):
    codec.decompress_archive(pipeline, bytes(corrupt))
  with pytest.raises(CodecError, match=r"truncated or corrupt: its header lists \d+ bytes of "
                     r"images, and \d+ follow it"):
    codec.decompress_archive(pipeline, archive[:-1])
  with pytest.raises(CodecError, match="truncated"):
    codec.decompress_archive(pipeline, archive[:header_bytes - 3])
  with pytest.raises(CodecError, match="The archive is empty"):
    codec.decompress_archive(pipeline, b"")


def test_image_files_and_other_versions_are_not_archives(pipeline, coded):
  _, archive, files = coded
  with pytest.raises(CodecError, match="Not an spn-keras archive: it does not start with"):
    codec.decompress_archive(pipeline, files[0])
  with pytest.raises(CodecError, match="archive of format version 1: its version byte is 2"):
    codec.decompress_archive(pipeline, archive[:4] + b"\x02" + archive[5:])
  with pytest.raises(TypeError, match="`blob` must be the archive's bytes, got list"):
    codec.decompress_archive(pipeline, [archive])
