import numpy as np
import pytest
import tensorflow as tf

from data_helpers import write_jpeg
from data_helpers import write_png
from spn_keras.data.image_ops import center_crop_and_resize
from spn_keras.data.image_ops import decode_image


def _box_weights(size_in, size_out):
  """(size_out, size_in): overlap of output box i (width size_in/size_out) with input pixel j."""
  scale = size_in / size_out
  weights = np.zeros((size_out, size_in))
  for i in range(size_out):
    lo, hi = i * scale, (i + 1) * scale
    for j in range(size_in):
      weights[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
  return weights / scale


def _reference(image, size):
  height, width = image.shape[:2]
  side = min(height, width)
  top, left = (height - side) // 2, (width - side) // 2
  square = image[top:top + side, left:left + side].astype(np.float64)
  weights = _box_weights(side, size)
  out = np.einsum("ij,jkc,lk->ilc", weights, square, weights)
  return np.round(out).astype(np.uint8)


@pytest.mark.parametrize("shape, size", [
    ((8, 12, 1), 4),   # integer factor: block means of the central 8 x 8
    ((13, 6, 3), 4),   # non-integer factor, odd excess (7 rows: 3 above, 4 below)
    ((7, 7, 3), 7),    # same size: unchanged
])
def test_center_crop_and_resize_is_a_box_filter_of_the_central_square(shape, size):
  image = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
  out = center_crop_and_resize(tf.constant(image), size)
  assert out.dtype == tf.uint8 and out.shape == (size, size, shape[2])
  # float32 arithmetic in TF may land on the other side of a .5 tie: allow 1.
  diff = np.abs(out.numpy().astype(int) - _reference(image, size).astype(int))
  assert diff.max() <= 1 and (diff == 0).mean() > 0.9
  if shape == (7, 7, 3):
    np.testing.assert_array_equal(out, image)


def test_center_crop_keeps_the_middle_of_a_wide_image():
  image = np.zeros((4, 10, 1), np.uint8)
  image[:, 3:7] = 200  # the central 4 x 4 square
  np.testing.assert_array_equal(center_crop_and_resize(tf.constant(image), 2), 200)


def test_block_means_are_exact():
  image = np.arange(16, dtype=np.uint8).reshape(4, 4, 1) * 10
  out = center_crop_and_resize(tf.constant(image), 2).numpy()[..., 0]
  np.testing.assert_array_equal(out, [[25, 45], [105, 125]])


def test_resize_with_unknown_shape_in_a_graph():
  fn = tf.function(lambda x: center_crop_and_resize(x, 3),
                   input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
  out = fn(tf.zeros((5, 9, 3), tf.uint8))
  assert out.shape == (3, 3, 3)
  assert fn.get_concrete_function().structured_outputs.shape == (3, 3, 3)


def test_size_must_be_positive():
  with pytest.raises(ValueError, match="`size` must be a positive int"):
    center_crop_and_resize(tf.zeros((4, 4, 1), tf.uint8), 0)


def test_decode_png_and_jpeg(tmp_path):
  rng = np.random.default_rng(1)
  gray = rng.integers(0, 256, size=(5, 7, 1), dtype=np.uint8)
  write_png(tmp_path / "g.png", gray)
  encoded = tf.io.read_file(str(tmp_path / "g.png"))
  np.testing.assert_array_equal(decode_image(encoded, 1), gray)
  np.testing.assert_array_equal(decode_image(encoded, 3), np.repeat(gray, 3, axis=2))
  smooth = np.broadcast_to(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (16, 16, 3))
  write_jpeg(tmp_path / "s.jpg", np.ascontiguousarray(smooth))
  decoded = decode_image(tf.io.read_file(str(tmp_path / "s.jpg")), 3).numpy()
  assert decoded.shape == (16, 16, 3) and decoded.dtype == np.uint8
  assert np.abs(decoded.astype(int) - smooth).max() <= 8


GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140])  # tf.image.rgb_to_grayscale's


@pytest.mark.parametrize("write", [write_png, write_jpeg])
def test_rgb_becomes_gray_by_the_grayscale_weights_rounded(tmp_path, write):
  """The same conversion for every format (libpng and libjpeg each have their own)."""
  rgb = np.random.default_rng(2).integers(0, 256, size=(6, 9, 3), dtype=np.uint8)
  write(tmp_path / "c", rgb)
  encoded = tf.io.read_file(str(tmp_path / "c"))
  decoded_rgb = decode_image(encoded, 3).numpy()
  gray = decode_image(encoded, 1).numpy()
  assert gray.shape == (6, 9, 1) and gray.dtype == np.uint8
  np.testing.assert_array_equal(gray[..., 0], np.round(decoded_rgb @ GRAY_WEIGHTS))
  levels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)  # gray stays exact
  np.testing.assert_array_equal(decode_image(tf.io.encode_png(levels), 1), levels)


def test_decode_channels_must_be_1_or_3():
  with pytest.raises(ValueError, match=r"`channels` must be 1 \(gray\) or 3 \(RGB\), got 2"):
    decode_image(tf.io.encode_png(np.zeros((2, 2, 1), np.uint8)), 2)
