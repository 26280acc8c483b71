import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing


def test_raster_ranks():
  ranks = testing.raster_ranks(2, 3, 3)
  assert ranks[0, 0, 0] == 0 and ranks[0, 0, 2] == 2 and ranks[0, 1, 0] == 3
  assert ranks[1, 0, 0] == 9 and ranks.max() == 17


def test_subscale_ranks_with_scale_one_is_raster():
  np.testing.assert_array_equal(testing.subscale_ranks(4, 4, 3, 1), testing.raster_ranks(4, 4, 3))


def test_subscale_ranks_order_slices_first():
  ranks = testing.subscale_ranks(4, 4, 1, 2)[..., 0]
  # Slice (0, 0) = pixels (0,0), (0,2), (2,0), (2,2) come first, in raster order.
  assert [ranks[0, 0], ranks[0, 2], ranks[2, 0], ranks[2, 2]] == [0, 1, 2, 3]
  assert ranks[0, 1] == 4 and ranks[1, 0] == 8 and ranks[3, 3] == 15


def test_dependence_of_a_shift():
  """y[p] = x[p - 1] (along the flattened image) depends on exactly the previous sub-pixel."""

  def shift(x):
    flat = tf.reshape(x, (tf.shape(x)[0], -1))
    return tf.reshape(tf.pad(flat, ((0, 0), (1, 0)))[:, :-1], tf.shape(x))

  x = np.zeros((1, 2, 2, 3), np.int32)
  changed = testing.dependence(shift, x, num_values=4)
  np.testing.assert_array_equal(changed.reshape(12, 12), np.eye(12, k=1, dtype=bool))
  testing.assert_causal(shift, x, testing.raster_ranks(2, 2, 3), testing.raster_ranks(2, 2, 3),
                        num_values=4)


def test_identity_is_inclusive_causal_but_not_strict():
  x = np.random.default_rng(0).normal(size=(1, 2, 3, 1)).astype("float32")
  ranks = testing.raster_ranks(2, 3, 1)
  testing.assert_causal(tf.identity, x, ranks, ranks, inclusive=True)
  with pytest.raises(AssertionError, match="backwards"):
    testing.assert_causal(tf.identity, x, ranks, ranks, inclusive=False)


def test_vacuous_check_is_refused():
  x = np.ones((1, 2, 2, 1), "float32")
  with pytest.raises(AssertionError, match="vacuous"):
    testing.assert_causal(lambda x: tf.zeros_like(x), x, testing.raster_ranks(2, 2, 1),
                          testing.raster_ranks(2, 2, 1))


def test_integer_inputs_need_num_values():
  with pytest.raises(ValueError, match="num_values"):
    testing.dependence(tf.identity, np.zeros((1, 2, 2, 1), np.int32))
