import numpy as np
import pytest

from spn_keras import codec
from spn_keras import testing
from spn_keras.codec import CodecError
from spn_keras.codec import interleaved_rans
from spn_keras.codec import environment
from spn_keras.codec.codec_header import CodecHeader


@pytest.fixture(scope="module")
def pipeline():
  """8x8 gray 8-bit images (3 + 5 bits), with weights far from uniform conditionals.

  The codec's tests use `minimal` stages (no attention; the coding program of stages with
  attention is tested in tests/sampling/test_cached_slice_sampler.py)."""
  return testing.tiny_mdu_pipeline(8, stddev=0.3, minimal=True)


def _images(count, seed=0, shape=(8, 8, 1)):
  return np.random.default_rng(seed).integers(0, 256, size=(count, *shape), dtype=np.uint8)


def _unlikely_images():
  noise = _images(1, seed=7)[0]
  blank = np.zeros((8, 8, 1), np.uint8)
  full = np.full((8, 8, 1), 255, np.uint8)
  return np.stack([noise, blank, full, 255 - noise])


def test_round_trip_together_and_alone(pipeline):
  """Random and unlikely images, each its own stream, decoded together, alone and in another
  order."""
  images = np.concatenate([_images(6), _unlikely_images()])
  files = codec.compress(pipeline, images)
  assert len(files) == len(images) and all(isinstance(f, bytes) for f in files)
  np.testing.assert_array_equal(codec.decompress(pipeline, files), images)
  for file, image in zip(files[::4], images[::4]):  # files decode alone, or in other company
    np.testing.assert_array_equal(codec.decompress(pipeline, [file])[0], image)
  np.testing.assert_array_equal(codec.decompress(pipeline, files[::-1]), images[::-1])


def test_files_decode_at_the_batch_rows_they_were_coded_at(pipeline):
  """A file records the coding-batch row of its tiles (its payload's first byte) and decodes
  there, alone or in any company: on some CPUs a row's logits depend on its row (the last
  row of a batch of 8 rounds differently on AMD Zen 3), never on the other rows."""
  images = _images(10, seed=1)
  together = codec.compress(pipeline, images)
  rows = [CodecHeader.from_bytes(file)[1][0] for file in together]
  assert rows == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
  alone = [codec.compress(pipeline, image[None])[0] for image in images]
  assert [CodecHeader.from_bytes(file)[1][0] for file in alone] == [0] * 10
  mixed = [together[7], alone[7], together[0], together[9], alone[3]]
  np.testing.assert_array_equal(codec.decompress(pipeline, mixed), images[[7, 7, 0, 9, 3]])


def test_a_file_with_an_impossible_batch_row_is_refused(pipeline):
  file = codec.compress(pipeline, _images(1, seed=3))[0]
  header_bytes = len(CodecHeader.from_bytes(file)[0].to_bytes())
  damaged = file[:header_bytes] + bytes([8]) + file[header_bytes + 1:]
  with pytest.raises(CodecError, match="^File 0 is corrupt or truncated: its coding-batch row "
                                       "is missing or impossible.$"):
    codec.decompress(pipeline, [damaged])


def test_file_size_is_the_model_information_plus_the_header(pipeline):
  images = _images(4, seed=2)
  files = codec.compress(pipeline, images)
  header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  model_bits = pipeline.bits_per_dim(images)["total"] * 64
  payload_bits = np.array([8 * (len(f) - header_bytes) for f in files])
  # An image of one tile is one rANS lane: its state's two 32-bit words hold the last up to
  # 32 bits of information and at least 31 bits of overhead; the 24-bit quantization costs
  # almost nothing.
  assert np.all(payload_bits >= model_bits - 1)
  assert np.all(payload_bits <= model_bits + 64), (payload_bits, model_bits)


def test_rgb_pipeline_and_single_stages():
  rgb = testing.tiny_mdu_pipeline(4, channels=3, depth_scale=1, stddev=0.3, minimal=True)
  images = _images(2, seed=3, shape=(4, 4, 3))
  np.testing.assert_array_equal(codec.decompress(rgb, codec.compress(rgb, images)), images)
  decoder = rgb.slice_decoder
  slices = images[:, ::2, ::2] >> 5
  np.testing.assert_array_equal(
      codec.decompress(decoder, codec.compress(decoder, slices)), slices)
  depth = rgb.depth_upscaler
  msb, lsb = images >> 5, images & 31
  files = codec.compress(depth, lsb, conditioning=msb)
  np.testing.assert_array_equal(codec.decompress(depth, files, conditioning=msb), lsb)


def test_another_model_is_refused_before_decoding(pipeline):
  files = codec.compress(pipeline, _images(1))
  other = testing.tiny_mdu_pipeline(8, stddev=0.3, minimal=True)
  other.depth_upscaler.set_weights([w * 1.01 for w in other.depth_upscaler.get_weights()])
  with pytest.raises(CodecError, match="another model"):
    codec.decompress(other, files)


def test_a_damaged_fingerprint_is_a_damaged_header_not_another_model(pipeline):
  file = codec.compress(pipeline, _images(1, seed=6))[0]
  for bit in range(8, 8 + 8 * len(environment.model_fingerprint(pipeline.stages))):
    damaged = bytearray(file)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CodecError, match="File 0: The header is damaged: its CRC-16"):
      codec.decompress(pipeline, [bytes(damaged)])


def test_corrupt_and_truncated_files_fail_their_crc(pipeline):
  images = _images(2, seed=4)
  files = codec.compress(pipeline, images)
  header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  corrupt = bytearray(files[0])
  corrupt[header_bytes + 2] ^= 0x10
  with pytest.raises(CodecError, match="File 0 .*corrupt or truncated"):
    codec.decompress(pipeline, [bytes(corrupt)])
  with pytest.raises(CodecError, match="File 1 .*corrupt or truncated"):
    codec.decompress(pipeline, [files[0], files[1][:len(files[1]) // 2]])
  with pytest.raises(CodecError, match="truncated"):
    codec.decompress(pipeline, [files[0][:header_bytes - 2]])
  with pytest.raises(CodecError, match="Not an spn-keras image file"):
    codec.decompress(pipeline, [b"\x89PNG" + files[0][4:]])


def test_a_file_from_another_environment_says_so(pipeline):
  file = codec.compress(pipeline, _images(1, seed=5))[0]
  header, payload = CodecHeader.from_bytes(file)
  other_tag = bytes(b ^ 0xFF for b in header.environment_tag)
  moved = CodecHeader(header.model_fingerprint, other_tag, header.image_shape,
                      header.pixels_crc ^ 1).to_bytes() + payload
  with pytest.raises(CodecError, match="another environment .*" +
                     environment.environment_tag().hex()):
    codec.decompress(pipeline, [moved])


@pytest.mark.parametrize("images, conditioning, message", [
    (np.zeros((1, 0, 6, 1), np.uint8), None,
     r"`images` must be images \(H, W, 1\) of any height and width \(at least 1\), got an "
     r"image of shape \(0, 6, 1\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), None, r"`images` must be images \(H, W, 1\)"),
    ([np.zeros((3, 2, 1), np.uint8), np.zeros((3, 2, 3), np.uint8)], None,
     r"`images\[1\]` must be images \(H, W, 1\) .*got an image of shape \(3, 2, 3\)"),
    (np.full((1, 8, 8, 1), 256, np.int32), None, r"`images` values must be in \[0, 256\)"),
    ([np.full((2, 5, 1), 256, np.int32)], None, r"`images\[0\]` values must be in \[0, 256\)"),
    (np.zeros((8, 8), np.uint8), None, r"rank 4 \(N, H, W, C\) or 3 \(H, W, C\)"),
    (np.zeros((1, 8, 8, 1), np.float32), None, "integer"),
    (np.zeros((1, 8, 8, 1), np.uint8), np.zeros((1, 8, 8, 1), np.uint8), "conditioning"),
])
def test_bad_images_are_refused(pipeline, images, conditioning, message):
  with pytest.raises((ValueError, TypeError), match=message):
    codec.compress(pipeline, images, conditioning=conditioning)


@pytest.mark.parametrize("conditioning, message", [
    (lambda msb: msb[:1], r"`conditioning` must have batch size 2 \(one per image\), got 1"),
    (lambda msb: None, "`conditioning` is required"),
    (lambda msb: msb + 8, r"`conditioning` values must be in \[0, 8\) \(3 bits\)"),
    (lambda msb: msb[:, :, :, :0], r"`conditioning` must be images \(H, W, 1\)"),
    (lambda msb: msb.astype(np.float32), "`conditioning` must have an integer dtype"),
    (lambda msb: "msb", "`conditioning` must be an integer array"),
], ids=["one_short", "missing", "too_many_bits", "wrong_shape", "float", "str"])
def test_a_depth_stage_checks_its_conditioning_before_coding(pipeline, conditioning, message):
  depth = pipeline.depth_upscaler
  images = _images(2, seed=8)
  msb, lsb = images >> 5, images & 31
  with pytest.raises((ValueError, TypeError), match=message):
    codec.compress(depth, lsb, conditioning=conditioning(msb))
  with pytest.raises((ValueError, TypeError), match=message):
    codec.decompress(depth, [b"never read", b"never read"], conditioning=conditioning(msb))


def test_a_stage_without_conditioning_refuses_one(pipeline):
  slices = _images(1, shape=(4, 4, 1)) >> 5
  with pytest.raises(ValueError, match="`conditioning` must be None: this stage is not a depth"):
    codec.compress(pipeline.slice_decoder, slices, conditioning=slices)


@pytest.mark.parametrize("files, message", [
    (b"\x02abc", "got bytes"),
    ("image.spn", "got str"),
    (None, "got NoneType"),
    (7, "got int"),
    ({b"\x02abc": 0}, "got dict"),
    ((file for file in [b"\x02abc"]), "got generator"),
], ids=["bytes", "str", "none", "int", "dict", "generator"])
def test_files_must_be_a_list_of_bytes(pipeline, files, message):
  with pytest.raises(TypeError, match="`files` must be a list of bytes objects, one per file, " +
                     message):
    codec.decompress(pipeline, files)


def test_each_file_must_be_bytes(pipeline):
  file = codec.compress(pipeline, _images(1, seed=9))[0]
  with pytest.raises(TypeError, match=r"`files\[1\]` must be a bytes object .*got str"):
    codec.decompress(pipeline, [file, "image.spn"])
  decoded = codec.decompress(pipeline, (bytearray(file), memoryview(file)))  # bytes-like
  np.testing.assert_array_equal(decoded, np.concatenate([_images(1, seed=9)] * 2))


@pytest.mark.parametrize("images, error, message", [
    (None, TypeError, "`images` must be an integer array .*got NoneType"),
    (b"\x00" * 64, TypeError, "`images` must be an integer array .*got bytes"),
    ("image.png", TypeError, "`images` must be an integer array .*got str"),
    ([np.zeros((8, 8, 1), np.uint8), "image.png"], TypeError,
     "`images` must be an integer array .*got str at index 1"),
    ({"images": 1}, TypeError, "`images` must be an integer array .*got dict"),
    ([[None]], TypeError, "`images` must be an integer array .*got an array of Python objects"),
], ids=["none", "bytes", "str", "str_in_list", "dict", "objects"])
def test_images_that_are_not_an_array_are_refused(pipeline, images, error, message):
  with pytest.raises(error, match=message):
    codec.compress(pipeline, images)


def test_bad_arguments(pipeline):
  with pytest.raises(TypeError, match="Pipeline or a stage"):
    codec.compress("mnist28_mdu", _images(1))
  with pytest.raises(CodecError, match="File 0 was compressed with another model"):
    small = testing.tiny_mdu_pipeline(4, stddev=0.3, minimal=True)
    codec.decompress(pipeline, codec.compress(small, _images(1, shape=(4, 4, 1))))


# Images of any size: tiled into the model's 8x8 (gray) and 4x4 (RGB) tiles.
_GRAY_SIZES = [(1, 1), (27, 29), (16, 24), (5, 3), (3, 61), (8, 8)]


@pytest.fixture(scope="module")
def any_size(pipeline):
  """`(images, files)`: noise images of `_GRAY_SIZES` (the model finds noise unlikely), plus
  a blank 9x9, coded in one call."""
  rng = np.random.default_rng(11)
  images = [rng.integers(0, 256, size=(*size, 1), dtype=np.uint8) for size in _GRAY_SIZES]
  images.append(np.zeros((9, 9, 1), np.uint8))
  return images, codec.compress(pipeline, images)


def test_images_of_any_size_round_trip(pipeline, any_size):
  images, files = any_size
  decoded = codec.decompress(pipeline, files)
  assert isinstance(decoded, list) and len(decoded) == len(images)
  for image, restored in zip(images, decoded):
    assert restored.dtype == np.uint8
    np.testing.assert_array_equal(restored, image)
  for index in (1, 4):  # a file decodes alone, in other company, and in another order
    np.testing.assert_array_equal(codec.decompress(pipeline, [files[index]])[0], images[index])
  np.testing.assert_array_equal(codec.decompress(pipeline, files[:2][::-1])[0], images[1])


def test_files_record_the_whole_image_shape(any_size):
  images, files = any_size
  assert [CodecHeader.from_bytes(f)[0].image_shape for f in files] == [i.shape for i in images]


def test_same_size_files_decode_to_one_array_and_a_single_image_is_accepted(pipeline):
  images = _images(2, seed=12, shape=(5, 11, 1))
  files = codec.compress(pipeline, images)
  decoded = codec.decompress(pipeline, files)
  assert isinstance(decoded, np.ndarray) and decoded.shape == (2, 5, 11, 1)
  np.testing.assert_array_equal(decoded, images)
  assert codec.compress(pipeline, images[1]) == codec.compress(pipeline, images[1:])  # one file
  assert codec.decompress(pipeline, []).shape == (0, 8, 8, 1)


def test_padded_sub_pixels_are_not_coded(pipeline, monkeypatch):
  """Every coded symbol is a sub-pixel inside the image: 2 per pixel (the 3 most significant
  bits and the 5 least), none for the pad of the 27x29 image's 4x4 tiles of 8x8."""
  coded = []

  def counting(starts, frequencies, valid):
    coded.append(int(np.sum(valid)))
    return encode(starts, frequencies, valid)

  encode = interleaved_rans.encode
  monkeypatch.setattr(interleaved_rans, "encode", counting)
  codec.compress(pipeline, _images(1, seed=13, shape=(27, 29, 1)))
  assert coded == [2 * 27 * 29]


def test_a_one_pixel_image_costs_its_pixel_not_a_tile(pipeline, any_size):
  images, files = any_size
  header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  assert header_bytes == 16
  one_pixel = len(files[0]) - header_bytes
  full_tile = len(files[5]) - header_bytes  # the 8x8 image of noise
  model_bits = pipeline.bits_per_dim(images[5][None])["total"] * 64
  assert 8 * full_tile >= model_bits - 1
  # The batch row (1 byte) and one lane's state (8 bytes), which holds the pixel's bits; a tile
  # of noise needs many words more.
  assert one_pixel == 1 + 8 < full_tile / 4, (one_pixel, full_tile)


def test_rgb_images_of_any_size_and_a_wide_thin_one():
  rgb = testing.tiny_mdu_pipeline(4, channels=3, depth_scale=1, stddev=0.3, minimal=True)
  rng = np.random.default_rng(14)
  images = [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
            for size in [(1, 1), (7, 9), (4, 8), (2, 64)]]
  decoded = codec.decompress(rgb, codec.compress(rgb, images))
  for image, restored in zip(images, decoded):
    np.testing.assert_array_equal(restored, image)


@pytest.mark.slow  # 427x640 is 4320 tiles of 8x8: 68 coding batches of 64 per image, both ways
def test_the_issues_sizes_round_trip_gray_and_rgb(pipeline):
  """33x64, 1000x7 and 427x640 (the size of scikit-learn's photos, which bench/compression.py
  codes with photos32_mdu), gray and RGB, in one call each: noise, and a smooth gradient at
  427x640 (a photo-sized image of noise would take minutes)."""
  rgb_pipeline = testing.tiny_mdu_pipeline(8, channels=3, depth_scale=1, stddev=0.3,
                                           minimal=True)
  rows, cols = np.mgrid[0:427, 0:640]
  gradient = np.stack([(rows + cols) % 256, 255 - (rows + cols) % 256, rows * 3 % 256], -1)
  rng = np.random.default_rng(17)
  for model, channels in ((pipeline, 1), (rgb_pipeline, 3)):
    images = [rng.integers(0, 256, (*size, channels), np.uint8) for size in ((33, 64), (1000, 7))]
    images.append(gradient[..., :channels].astype(np.uint8))
    for image, restored in zip(images, codec.decompress(model, codec.compress(model, images))):
      np.testing.assert_array_equal(restored, image)


def test_a_depth_stage_alone_codes_any_size_given_its_conditioning(pipeline):
  depth = pipeline.depth_upscaler
  images = [_images(1, seed=15, shape=(11, 6, 1))[0], _images(1, seed=16, shape=(3, 3, 1))[0]]
  msb, lsb = [image >> 5 for image in images], [image & 31 for image in images]
  files = codec.compress(depth, lsb, conditioning=msb)
  for restored, expected in zip(codec.decompress(depth, files, conditioning=msb), lsb):
    np.testing.assert_array_equal(restored, expected)
  with pytest.raises(ValueError, match=r"`conditioning\[1\]` must have shape \(3, 3, 1\), the "
                     r"shape of image 1, got \(3, 4, 1\)"):
    codec.decompress(depth, files, conditioning=[msb[0], np.zeros((3, 4, 1), np.uint8)])


def test_a_file_of_another_channel_count_is_refused(pipeline):
  file = codec.compress(pipeline, _images(1, seed=17))[0]
  header, payload = CodecHeader.from_bytes(file)
  rgb = CodecHeader(header.model_fingerprint, header.environment_tag, (8, 8, 3),
                    header.pixels_crc).to_bytes() + payload
  with pytest.raises(CodecError, match=r"File 0 holds a \(8, 8, 3\) image; this model codes "
                     r"images with 1 channel"):
    codec.decompress(pipeline, [rgb])


def test_old_format_versions_and_archives_are_refused_as_files(pipeline):
  file = codec.compress(pipeline, _images(1, seed=18))[0]
  with pytest.raises(CodecError, match="File 0: Not an spn-keras image file of format version "
                     "5: its first byte is 4 \\(format versions 1-4 were made by older"):
    codec.decompress(pipeline, [b"\x04" + file[1:]])
  archive = codec.compress_archive(pipeline, _images(1, seed=18))
  with pytest.raises(CodecError, match="File 0: An spn-keras archive, not an image file"):
    codec.decompress(pipeline, [archive])


def test_a_corrupt_tiled_file_fails_its_crc(pipeline, any_size):
  _, files = any_size
  corrupt = bytearray(files[1])
  corrupt[-1] ^= 0x08  # values decode wrong without the stream running out: the CRC finds it
  with pytest.raises(CodecError, match="File 0 did not decode .*corrupt or truncated"):
    codec.decompress(pipeline, [bytes(corrupt)])
  with pytest.raises(CodecError, match="File 1 is corrupt or truncated: its coded stream ran "
                     "out before its images did"):  # found before the CRC is checked
    codec.decompress(pipeline, [files[0], files[1][:-20]])


@pytest.mark.slow
def test_photos32_mdu_round_trips_photos_of_odd_size():
  """The zoo's photo pipeline on acceptance sizes, crops of a real photo: 27x29, 33x64 and
  1000x7 (three strips stacked). 427x640 (280 tiles, minutes each way) is left to the bench."""
  from spn_keras import zoo  # pylint: disable=import-outside-toplevel
  from sklearn.datasets import load_sample_image  # pylint: disable=import-outside-toplevel
  pipeline = zoo.load("photos32_mdu")
  photo = load_sample_image("china.jpg")  # 427x640x3
  strip = np.concatenate([photo[:, :7], photo[:, 7:14], photo[:146, 14:21]])
  images = [photo[:27, :29], photo[100:133, 200:264], strip]
  assert strip.shape == (1000, 7, 3)
  decoded = codec.decompress(pipeline, codec.compress(pipeline, images))
  for image, restored in zip(images, decoded):
    np.testing.assert_array_equal(restored, image)
