import numpy as np
import pytest

from spn_keras import codec
from spn_keras import testing
from spn_keras.codec import ArchiveHeader
from spn_keras.codec import CodecError
from spn_keras.codec import CodecHeader
from spn_keras.codec import archive_header
from spn_keras.codec import coding_streams
from spn_keras.codec.tiling import to_tiles


@pytest.fixture(scope="module")
def pipeline():
  """4x4 gray 8-bit images (3 + 5 bits): small tiles and `minimal` stages keep 20-image
  archives fast."""
  return testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3, minimal=True)


@pytest.fixture(scope="module")
def coded(pipeline):
  """`(images, archive, files)`: 20 noise images of 4x8 (2 tiles each: 5 coding batches), as
  one archive and as 20 files."""
  images = np.random.default_rng(0).integers(0, 256, size=(20, 4, 8, 1), dtype=np.uint8)
  return images, codec.compress_archive(pipeline, images), codec.compress(pipeline, images)


def test_an_archive_round_trips(pipeline, coded):
  images, archive, _ = coded
  decoded = codec.decompress_archive(pipeline, archive)
  assert decoded.dtype == np.uint8 and decoded.shape == (20, 4, 8, 1)
  np.testing.assert_array_equal(decoded, images)


def test_an_archive_is_one_header_and_one_stream(pipeline, coded):
  images, archive, files = coded
  header, payload = ArchiveHeader.from_bytes(archive)
  # magic 4, version, fingerprint 4, tag 2, shape 3, count 1, payload length 2, 2 CRC-32s
  assert len(header.to_bytes()) == 4 + 1 + 4 + 2 + 3 + 1 + 2 + 8 == 25
  assert header.image_shape == (4, 8, 1) and header.count == len(images) == 20
  assert archive == header.to_bytes() + payload and header.payload_length == len(payload)
  file_header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  assert sum(map(len, files)) - len(archive) >= 20 * file_header_bytes - 25


def test_an_archive_costs_the_model_bits_plus_two_words_a_lane(pipeline, coded):
  """The payload is the model's exact bits of the 40 tiles plus at most the lanes' initial
  states: two 32-bit words for each of the 40 rows of its one coding batch of 64."""
  images, archive, _ = coded
  tiles = np.concatenate([to_tiles(image, (4, 4, 1), 0)[0] for image in images])
  model_bits = float(np.sum(pipeline.bits_per_dim(tiles)["total"])) * 16
  payload_bits = 8 * len(ArchiveHeader.from_bytes(archive)[1])
  assert model_bits - 1 <= payload_bits <= model_bits + 40 * 64, (payload_bits, model_bits)


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


def test_too_many_images_are_refused(pipeline, monkeypatch):
  monkeypatch.setattr(archive_header, "MAX_ARCHIVE_SUBPIXELS", 100)
  with pytest.raises(ValueError, match=r"`images`: 4 images of \(5, 3, 1\) \(128 sub-pixels in "
                     r"tiles\) are more than an archive holds \(at most 1048576 images and 100 "
                     r"sub-pixels\); split them into several archives\."):
    codec.compress_archive(pipeline, np.zeros((4, 5, 3, 1), np.uint8))


def test_a_hostile_count_is_refused_before_decoding(pipeline, coded):
  """A header with a valid CRC claiming 8193 images of 1x4096: 33.6M sub-pixels of their own
  pass the header's bound, but as 4x4 tiles they are 134M, over `MAX_ARCHIVE_SUBPIXELS`."""
  header = ArchiveHeader.from_bytes(coded[1])[0]
  forged = ArchiveHeader(header.model_fingerprint, header.environment_tag, (1, 4096, 1), 8193,
                         0, 0).to_bytes()
  with pytest.raises(CodecError, match=r"claims 8193 images of \(1, 4096, 1\) \(134234112 "
                     r"sub-pixels in tiles\) are more than an archive holds"):
    codec.decompress_archive(pipeline, forged)


def test_a_count_beyond_the_payload_stops_after_one_batch(pipeline, coded):
  """A header with a valid CRC claiming 2000 images of the 20's payload: the decoder reads
  past the stream's end in the first batch of 64 tiles and stops there, instead of decoding
  4000 tiles of garbage."""
  header, payload = ArchiveHeader.from_bytes(coded[1])
  forged = ArchiveHeader(header.model_fingerprint, header.environment_tag, header.image_shape,
                         2000, len(payload), header.pixels_crc).to_bytes() + payload
  batches = []
  original = coding_streams._run_stages
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(coding_streams, "_run_stages",
                  lambda *args: batches.append(1) or original(*args))
    with pytest.raises(CodecError, match=r"^The archive is truncated or corrupt: its coded "
                       r"stream ran out before its images did\.$") as error:
      codec.decompress_archive(pipeline, forged)
  assert error.value.file_index is None and len(batches) == 1


def test_another_model_and_a_damaged_header_are_refused(pipeline, coded):
  _, archive, _ = coded
  other = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3, minimal=True)
  other.depth_upscaler.set_weights([w * 1.01 for w in other.depth_upscaler.get_weights()])
  with pytest.raises(CodecError, match="The archive was compressed with another model"):
    codec.decompress_archive(other, archive)
  # the fingerprint, the shape, the count, the payload length, the pixels' CRC, the header's
  for byte in (5, 12, 14, 15, 18, 23):
    damaged = bytearray(archive)
    damaged[byte] ^= 0x01
    with pytest.raises(CodecError, match="The archive's header is damaged: its CRC-32"):
      codec.decompress_archive(pipeline, bytes(damaged))


def test_corrupt_and_truncated_archives_are_refused(pipeline, coded):
  _, archive, _ = coded
  header_bytes = len(ArchiveHeader.from_bytes(archive)[0].to_bytes())
  corrupt = bytearray(archive)
  corrupt[-1] ^= 0x10  # the end of the one stream: the last image's sub-pixels
  with pytest.raises(CodecError, match=r"^The archive is truncated or corrupt: its images did "
                     r"not decode .*CRC-32 mismatch; .*the damaged image cannot be named") as e:
    codec.decompress_archive(pipeline, bytes(corrupt))
  assert e.value.file_index is None
  with pytest.raises(CodecError, match=r"truncated or corrupt: its header lists \d+ bytes of "
                     r"images, and \d+ follow it"):
    codec.decompress_archive(pipeline, archive[:-1])
  with pytest.raises(CodecError, match=r"truncated or corrupt: its header lists \d+ bytes"):
    codec.decompress_archive(pipeline, archive + b"\0")
  with pytest.raises(CodecError, match="truncated"):
    codec.decompress_archive(pipeline, archive[:header_bytes - 3])
  with pytest.raises(CodecError, match="The archive is empty"):
    codec.decompress_archive(pipeline, b"")


def test_image_files_and_other_versions_are_not_archives(pipeline, coded):
  _, archive, files = coded
  with pytest.raises(CodecError, match="Not an spn-keras archive: it does not start with"):
    codec.decompress_archive(pipeline, files[0])
  with pytest.raises(CodecError, match=r"archive of format version 3: its version byte is 2 "
                     r"\(versions 1 and 2 were made by older spn-keras versions"):
    codec.decompress_archive(pipeline, archive[:4] + b"\x02" + archive[5:])
  with pytest.raises(CodecError, match=r"archive of format version 3: its version byte is 4 "
                     r"\(another spn-keras version"):
    codec.decompress_archive(pipeline, archive[:4] + b"\x04" + archive[5:])
  with pytest.raises(TypeError, match="`blob` must be the archive's bytes, got list"):
    codec.decompress_archive(pipeline, [archive])
