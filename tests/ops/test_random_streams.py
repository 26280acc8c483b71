import types

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.ops.random_streams import replica_target_slices
from spn_keras.ops.random_streams import stage_seed


def _slices(seed=3, step=1, global_batch_size=8, local_batch_size=8, first=0, num_slices=4):
  """`replica_target_slices` of replica 0 (the default replica context) as a numpy array."""
  return replica_target_slices(seed, tf.constant(step, tf.int64), global_batch_size,
                               local_batch_size, first, num_slices).numpy()


def test_stage_seed_is_a_deterministic_pair_usable_by_stateless_ops():
  seed = stage_seed(7, 2)
  assert seed.shape == (2,)
  np.testing.assert_array_equal(seed, stage_seed(7, 2))
  draws = [tf.random.stateless_uniform([5], stage_seed(7, 2)).numpy() for _ in range(2)]
  np.testing.assert_array_equal(*draws)


def test_stage_seeds_differ_across_streams_and_seeds():
  seeds = {tuple(stage_seed(seed, stream).numpy()) for seed in range(4) for stream in range(6)}
  assert len(seeds) == 24
  noise = {tuple(tf.random.stateless_uniform([3], stage_seed(0, stream)).numpy())
           for stream in range(6)}
  assert len(noise) == 6  # the streams draw different numbers, not just different seeds


@pytest.mark.parametrize("seed", [5, np.int64(5), (5, 5), [5, 5], tf.constant(5),
                                  tf.constant([5, 5], tf.int64)])
def test_an_int_seed_is_the_pair_of_itself(seed):
  """The forms `seed` takes: an int `s` is the stateless seed `(s, s)`."""
  np.testing.assert_array_equal(stage_seed(seed, 3), stage_seed([5, 5], 3))
  assert not np.array_equal(stage_seed([5, 6], 3), stage_seed([5, 5], 3))


def test_stage_seed_takes_a_tensor_stream_inside_a_traced_function():
  seeds = tf.function(lambda streams: tf.map_fn(lambda s: stage_seed(11, s), streams))(
      tf.range(3))
  for stream in range(3):
    np.testing.assert_array_equal(seeds[stream], stage_seed(11, stream))


def test_stage_seed_has_the_dtype_of_the_stream():
  """Documented: `stateless_fold_in` draws the new seed in the stream's dtype."""
  assert stage_seed(7, 2).dtype == tf.int32
  assert stage_seed(7, tf.constant(2, tf.int64)).dtype == tf.int64


@pytest.mark.parametrize("seed, stream, error, message", [
    ([1, 2, 3], 0, tf.errors.InvalidArgumentError, r"Incompatible shapes: \[2\] vs. \[3\]"),
    ("seed", 0, tf.errors.UnimplementedError, "Cast string to int64 is not supported"),
])
def test_stage_seed_refuses_seeds_that_are_not_ints_or_pairs(seed, stream, error, message):
  with pytest.raises(error, match=message):
    stage_seed(seed, stream)


def test_target_slices_are_deterministic_int32_in_range():
  slices = _slices(seed=3, step=1, global_batch_size=256, local_batch_size=256, first=1,
                   num_slices=4)
  assert slices.dtype == np.int32 and slices.shape == (256,)
  assert set(slices) == {1, 2, 3}  # every slice in [first, num_slices), and no other
  np.testing.assert_array_equal(slices, _slices(seed=3, step=1, global_batch_size=256,
                                                local_batch_size=256, first=1, num_slices=4))


def test_target_slices_change_with_the_step_and_the_seed():
  draws = [_slices(seed, step, 64, 64, 0, 16) for seed, step in ((3, 1), (3, 2), (4, 1))]
  assert not np.array_equal(draws[0], draws[1])
  assert not np.array_equal(draws[0], draws[2])


def test_each_replica_takes_its_share_of_the_global_draw(monkeypatch):
  """A run does not depend on how the batch is split: replica `r` takes entries
  `[r * local, (r + 1) * local)` of the one draw for the global batch (the replica context is
  faked: a real multi-replica run is tests/training/distributed_run.py's)."""
  whole = _slices(seed=9, step=5, global_batch_size=12, local_batch_size=12, first=0,
                  num_slices=9)
  shares = []
  for replica in range(3):
    monkeypatch.setattr(tf.distribute, "get_replica_context",
                        lambda r=replica: types.SimpleNamespace(replica_id_in_sync_group=r))
    shares.append(_slices(seed=9, step=5, global_batch_size=12, local_batch_size=4, first=0,
                          num_slices=9))
  np.testing.assert_array_equal(np.concatenate(shares), whole)


def test_target_slices_take_a_tensor_local_batch_size_inside_a_traced_function():
  traced = tf.function(lambda local: replica_target_slices(
      3, tf.constant(2, tf.int64), 8, local, 1, 4))(tf.constant(8))
  np.testing.assert_array_equal(traced, _slices(seed=3, step=2, first=1))


@pytest.mark.parametrize("arguments, message", [
    (dict(first=4, num_slices=4), "Need minval < maxval, got 4 >= 4"),
    (dict(first=5, num_slices=4), "Need minval < maxval, got 5 >= 4"),
    (dict(global_batch_size=4, local_batch_size=8), r"Expected size\[0\] in \[0, 4\], but got 8"),
])
def test_target_slices_refuse_an_empty_range_or_a_share_beyond_the_global_batch(arguments,
                                                                                message):
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    _slices(**arguments)
