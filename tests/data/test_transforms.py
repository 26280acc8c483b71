import numpy as np
import pytest
import tensorflow as tf

from spn_keras.data import transforms
from spn_keras.ops import join_bits

ALL_VALUES = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)


@pytest.mark.parametrize("bits", [1, 3, 5, 8])
def test_reduce_depth(bits):
  out = transforms.reduce_depth(bits)(ALL_VALUES)
  assert out.dtype == tf.uint8 and out.shape == ALL_VALUES.shape
  np.testing.assert_array_equal(out, ALL_VALUES >> (8 - bits))
  assert int(tf.reduce_max(out)) == 2**bits - 1


@pytest.mark.parametrize("bits", [0, 9])
def test_reduce_depth_bits_out_of_range(bits):
  with pytest.raises(ValueError, match="`bits` must be in \\[1, 8\\]"):
    transforms.reduce_depth(bits)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_first_slice(scale):
  image = np.random.default_rng(0).integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
  out = transforms.first_slice(scale)(image)
  np.testing.assert_array_equal(out, image[::scale, ::scale])
  assert out.shape == (8 // scale, 12 // scale, 3)


def test_first_slice_size_not_divisible():
  with pytest.raises(ValueError, match="width \\(6\\) must be divisible by `scale` \\(4\\)"):
    transforms.first_slice(4)(np.zeros((8, 6, 1), np.uint8))
  fn = tf.function(transforms.first_slice(4),
                   input_signature=[tf.TensorSpec((None, None, 1), tf.uint8)])
  np.testing.assert_array_equal(fn(tf.zeros((8, 4, 1), tf.uint8)).shape, (2, 1, 1))
  with pytest.raises(tf.errors.InvalidArgumentError, match="divisible by `scale`"):
    fn(tf.zeros((8, 6, 1), tf.uint8))
  with pytest.raises(ValueError, match="`scale` must be a positive int"):
    transforms.first_slice(0)


@pytest.mark.parametrize("msb_bits", [1, 3, 7])
def test_split_depth(msb_bits):
  out = transforms.split_depth(msb_bits)(ALL_VALUES)
  assert set(out) == {"images", "conditioning"}
  lsb_bits = 8 - msb_bits
  np.testing.assert_array_equal(out["conditioning"], ALL_VALUES >> lsb_bits)
  np.testing.assert_array_equal(out["images"], ALL_VALUES & (2**lsb_bits - 1))
  np.testing.assert_array_equal(join_bits(out["conditioning"], out["images"], lsb_bits),
                                ALL_VALUES)


def test_split_of_a_reduced_image():
  """CelebA-HQ 5 bit with depth upscaling: 3 conditioning bits, 2 bits to model."""
  out = transforms.compose(transforms.reduce_depth(5),
                           transforms.split_depth(3, total_bits=5))(ALL_VALUES)
  np.testing.assert_array_equal(out["conditioning"], ALL_VALUES >> 5)
  np.testing.assert_array_equal(out["images"], (ALL_VALUES >> 3) & 3)


@pytest.mark.parametrize("msb_bits, total_bits, name", [(8, 8, "msb_bits"), (0, 8, "msb_bits"),
                                                        (1, 9, "total_bits")])
def test_split_depth_bits_out_of_range(msb_bits, total_bits, name):
  with pytest.raises(ValueError, match=f"`{name}` must be in"):
    transforms.split_depth(msb_bits, total_bits)


def test_pad_to_centres_the_image():
  digit = np.full((28, 28, 1), 255, np.uint8)
  out = transforms.pad_to(32)(digit).numpy()
  assert out.shape == (32, 32, 1) and out.dtype == np.uint8
  np.testing.assert_array_equal(out[2:30, 2:30], digit)
  assert out.sum() == digit.sum()
  odd = transforms.pad_to(6)(np.ones((3, 6, 1), np.uint8)).numpy()[:, 0, 0]
  np.testing.assert_array_equal(odd, [0, 1, 1, 1, 0, 0])  # one above, two below


def test_pad_to_errors():
  with pytest.raises(ValueError, match="height \\(40\\) is larger than the padded `size` \\(32\\)"):
    transforms.pad_to(32)(np.zeros((40, 8, 1), np.uint8))
  with pytest.raises(ValueError, match="`size` must be a positive int"):
    transforms.pad_to(-1)


def test_compose_order_and_errors():
  pipeline = transforms.compose(transforms.pad_to(32), None, transforms.first_slice(4),
                                transforms.reduce_depth(3))
  digit = np.arange(28 * 28).reshape(28, 28, 1).astype(np.uint8)
  expected = np.pad(digit, ((2, 2), (2, 2), (0, 0)))[::4, ::4] >> 5
  np.testing.assert_array_equal(pipeline(digit), expected)
  with pytest.raises(TypeError, match="callables"):
    transforms.compose(transforms.pad_to(32), 3)


def test_transforms_take_one_image_not_a_batch():
  with pytest.raises(ValueError, match="apply them before batching"):
    transforms.reduce_depth(3)(np.zeros((2, 4, 4, 1), np.uint8))


def test_transforms_in_dataset_map():
  images = np.random.default_rng(2).integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
  dataset = tf.data.Dataset.from_tensor_slices(images).map(
      transforms.compose(transforms.reduce_depth(6), transforms.split_depth(2, total_bits=6)))
  batch = next(iter(dataset.batch(6)))
  assert batch["images"].shape == (6, 8, 8, 3) and batch["images"].dtype == tf.uint8
  np.testing.assert_array_equal(batch["conditioning"], images >> 6)
  np.testing.assert_array_equal(batch["images"], (images >> 2) & 15)
