"""Stateless seeds of the random streams a run draws from: one per stage or slice
(`stage_seed`), and the target slices of each training step (`replica_target_slices`)."""

import tensorflow as tf


def stage_seed(seed, stream):
  """The stateless seed of random stream `stream` (a stage, a slice) under `seed`.

  Args:
    seed: int, int `(2,)` or int tensor: the run's seed.
    stream: int (or int tensor), the stream's index.

  Returns:
    int `(2,)`, a stateless seed, of the dtype of `stream` (int32 for a Python int;
    `stateless_fold_in` draws the new seed in that dtype, and the stateless ops take either).
  """
  return tf.random.experimental.stateless_fold_in(
      tf.constant([0, 0], tf.int64) + tf.cast(seed, tf.int64), stream)


def replica_target_slices(seed, step, global_batch_size, local_batch_size, first, num_slices):
  """This replica's target slices for training step `step`: int32 `(local_batch_size,)`.

  The slices are drawn for the whole global batch from `(seed, step)`, uniformly in
  `[first, num_slices)`, and replica `r` takes entries `[r * local, (r + 1) * local)`, so that
  a training run does not depend on how the batch is split over replicas. `spn_train` and
  `fit` both draw their slices here.

  Args:
    seed: int (or int tensor) seed of the run.
    step: int64 scalar tensor, the training step (the first is 1).
    global_batch_size: examples per step over all replicas.
    local_batch_size: this replica's examples (int or int32 scalar tensor).
    first: the first slice that may be drawn (1 for a pipeline's size upscaler).
    num_slices: `S*S`.

  Returns:
    int32 `(local_batch_size,)` slice indices.
  """
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  targets = tf.random.stateless_uniform(
      [global_batch_size], tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]), first,
      num_slices, dtype=tf.int32)
  return tf.slice(targets, [replica * local_batch_size], [local_batch_size])
