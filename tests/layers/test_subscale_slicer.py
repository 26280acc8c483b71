import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.layers import SubscaleSlicer


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
@pytest.mark.parametrize("height, width", [(16, 16), (8, 24), (32, 16)])
@pytest.mark.parametrize("channels", [1, 3])
def test_slices_and_merge_round_trip(scale, height, width, channels):
  rng = np.random.default_rng(scale * height + width)
  images = rng.integers(0, 256, size=(2, height, width, channels), dtype=np.uint8)
  slicer = SubscaleSlicer(scale)
  slices = slicer.slice(images)
  assert slices.shape == (2, scale * scale, height // scale, width // scale, channels)
  assert slices.dtype == tf.uint8
  for a in range(scale):
    for b in range(scale):
      np.testing.assert_array_equal(slices[:, a * scale + b], images[:, a::scale, b::scale])
  np.testing.assert_array_equal(slicer.merge(slices), images)


def test_call_slices_and_works_in_tf_function_with_unknown_batch():
  slicer = SubscaleSlicer(2)
  fn = tf.function(lambda x: slicer.merge(slicer(x)),
                   input_signature=[tf.TensorSpec((None, 4, 6, 3), tf.float32)])
  x = np.random.default_rng(0).normal(size=(3, 4, 6, 3)).astype("float32")
  np.testing.assert_array_equal(fn(x), x)


def test_subscale_ranks_follow_slices():
  """The slice layout and the ordering helper agree: slices hold consecutive ranks."""
  ranks = testing.subscale_ranks(4, 6, 3, 2)
  slices = np.asarray(SubscaleSlicer(2).slice(ranks[None]))[0]  # (4, 2, 3, 3)
  np.testing.assert_array_equal(slices.reshape(-1), np.arange(4 * 6 * 3))


def test_layer_contract():
  x = np.random.default_rng(1).normal(size=(2, 4, 8, 3)).astype("float32")
  testing.run_layer_test(SubscaleSlicer, dict(scale=2), x,
                         expected_output_shape=(2, 4, 2, 4, 3),
                         run_training_check=False, run_mixed_precision_check=False)


def test_errors():
  slicer = SubscaleSlicer(4)
  with pytest.raises(ValueError, match=r"height \(6\) must be divisible by `scale` \(4\)"):
    slicer.slice(np.zeros((1, 6, 8, 1), np.uint8))
  with pytest.raises(ValueError, match="width"):
    slicer.slice(np.zeros((1, 8, 6, 1), np.uint8))
  with pytest.raises(ValueError, match="rank 4"):
    slicer.slice(np.zeros((8, 8, 1), np.uint8))
  with pytest.raises(ValueError, match="rank 5"):
    slicer.merge(np.zeros((1, 16, 2, 2), np.uint8))
  with pytest.raises(ValueError, match="S\\*S = 16"):
    slicer.merge(np.zeros((1, 4, 2, 2, 1), np.uint8))
  with pytest.raises(ValueError, match="scale"):
    SubscaleSlicer(0)
