import numpy as np
import pytest

from spn_keras import codec
from spn_keras import testing
from spn_keras.codec import CodecError
from spn_keras.codec import environment
from spn_keras.codec.codec_header import CodecHeader


@pytest.fixture(scope="module")
def pipeline():
  """8x8 gray 8-bit images (3 + 5 bits), with weights far from uniform conditionals."""
  return testing.tiny_mdu_pipeline(8, stddev=0.3)


def _images(count, seed=0, shape=(8, 8, 1)):
  return np.random.default_rng(seed).integers(0, 256, size=(count, *shape), dtype=np.uint8)


def _unlikely_images():
  noise = _images(1, seed=7)[0]
  blank = np.zeros((8, 8, 1), np.uint8)
  full = np.full((8, 8, 1), 255, np.uint8)
  return np.stack([noise, blank, full, 255 - noise])


def test_round_trip_in_batches_and_alone(pipeline):
  """Random and unlikely images: a full coding batch and a padded one."""
  images = np.concatenate([_images(6), _unlikely_images()])
  assert codec.CODING_BATCH_SIZE < len(images) < 2 * codec.CODING_BATCH_SIZE
  files = codec.compress(pipeline, images)
  assert len(files) == len(images) and all(isinstance(f, bytes) for f in files)
  np.testing.assert_array_equal(codec.decompress(pipeline, files), images)
  for file, image in zip(files[::4], images[::4]):  # files decode alone, or in other company
    np.testing.assert_array_equal(codec.decompress(pipeline, [file])[0], image)
  np.testing.assert_array_equal(codec.decompress(pipeline, files[::-1]), images[::-1])


def test_files_do_not_depend_on_the_batch(pipeline):
  images = _images(3, seed=1)
  together = codec.compress(pipeline, images)
  alone = [codec.compress(pipeline, image[None])[0] for image in images]
  assert together == alone


def test_file_size_is_the_model_information_plus_the_header(pipeline):
  images = _images(4, seed=2)
  files = codec.compress(pipeline, images)
  header_bytes = len(CodecHeader.from_bytes(files[0])[0].to_bytes())
  model_bits = pipeline.bits_per_dim(images)["total"] * 64
  payload_bits = np.array([8 * (len(f) - header_bytes) for f in files])
  # The range coder ends each stream with at most two 32-bit words; the 24-bit quantization
  # costs almost nothing.
  assert np.all(payload_bits >= model_bits - 1)
  assert np.all(payload_bits <= model_bits + 64), (payload_bits, model_bits)


def test_rgb_pipeline_and_single_stages():
  rgb = testing.tiny_mdu_pipeline(4, channels=3, depth_scale=1, stddev=0.3)
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
  other = testing.tiny_mdu_pipeline(8, stddev=0.3)
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
    (np.zeros((1, 8, 6, 1), np.uint8), None, r"`images` must have shape \(B, 8, 8, 1\)"),
    (np.zeros((1, 8, 8, 3), np.uint8), None, r"`images` must have shape \(B, 8, 8, 1\)"),
    (np.full((1, 8, 8, 1), 256, np.int32), None, r"`images` values must be in \[0, 256\)"),
    (np.zeros((8, 8, 1), np.uint8), None, "rank 4"),
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
    (lambda msb: msb[:, :4], r"`conditioning` must have shape \(B, 8, 8, 1\)"),
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
    ([np.zeros((8, 8, 1), np.uint8), np.zeros((8, 7, 1), np.uint8)], ValueError,
     "`images` must be an array of images of one shape"),
    ({"images": 1}, TypeError, "`images` must be an integer array .*got dict"),
    ([[None]], TypeError, "`images` must be an integer array .*got an array of Python objects"),
], ids=["none", "bytes", "str", "ragged", "dict", "objects"])
def test_images_that_are_not_an_array_are_refused(pipeline, images, error, message):
  with pytest.raises(error, match=message):
    codec.compress(pipeline, images)


def test_bad_arguments(pipeline):
  with pytest.raises(TypeError, match="Pipeline or a stage"):
    codec.compress("mnist28_mdu", _images(1))
  with pytest.raises(CodecError, match=r"\(4, 4, 1\) image"):
    small = testing.tiny_mdu_pipeline(4, stddev=0.3)
    codec.decompress(pipeline, codec.compress(small, _images(1, shape=(4, 4, 1))))
