"""Helpers of every exact likelihood: image checks and bits per dimension.

Models, pipelines, exporters and the command-line tools all validate images and convert
log-likelihoods here, so that every figure is computed, and every bad input refused, one way.
"""

import math

import tensorflow as tf

INTEGER_DTYPES = (tf.uint8, tf.int8, tf.uint16, tf.int16, tf.int32, tf.int64)


def check_integer_dtype(name, values):
  """`values` as a tensor, which must have one of the `INTEGER_DTYPES`.

  Raises:
    TypeError: naming `name` and the dtype it got.
  """
  values = tf.convert_to_tensor(values)
  if values.dtype not in INTEGER_DTYPES:
    raise TypeError(f"`{name}` must have an integer dtype (e.g. uint8), "
                    f"got {values.dtype.name}.")
  return values


def nats_to_bits_per_dim(nats, num_dims):
  """`-nats / (num_dims * ln 2)`: a log-likelihood in nats as bits per dimension."""
  return -nats / (num_dims * math.log(2.0))


def check_images(name, images, bits, shape=None):
  """Validates an integer image batch and returns it as int32.

  Values are checked where they are known: eagerly, with a `ValueError`; in a graph (a
  `tf.function`, `Model.fit`), by an assert that stops the graph with a
  `tf.errors.InvalidArgumentError` carrying the same message (without the values) before
  anything reads them. XLA has no run-time errors: inside an XLA-compiled function
  (`jit_compile=True`) the assert compiles to nothing, so a compiled step must check its inputs
  before the compiled program (as `Trainer` does).

  Args:
    name: argument name for error messages.
    images: `(B, H, W, C)` integer array or tensor.
    bits: values must lie in `[0, 2**bits)`.
    shape: expected `(H, W, C)`, or None.

  Returns:
    int32 tensor `(B, H, W, C)` (in a graph, behind the range check).

  Raises:
    ValueError / TypeError naming `name` and what was expected; in a graph, values out of
    range raise `tf.errors.InvalidArgumentError` when it runs.
  """
  images = check_integer_dtype(name, images)
  if images.shape.rank != 4:
    raise ValueError(f"`{name}` must have rank 4 (B, H, W, C), got shape {images.shape}.")
  if shape is not None and tuple(images.shape[1:]) != tuple(shape):
    raise ValueError(f"`{name}` must have shape (B, {', '.join(map(str, shape))}), "
                     f"got {tuple(images.shape)}.")
  expected = f"`{name}` values must be in [0, {2**bits}) ({bits} bits)"
  if tf.executing_eagerly():
    if tf.size(images) > 0:
      low, high = int(tf.reduce_min(images)), int(tf.reduce_max(images))
      if low < 0 or high >= 2**bits:
        raise ValueError(f"{expected}, got values in [{low}, {high}].")
    return tf.cast(images, tf.int32)
  in_range = _values_in_range(images, bits)
  if in_range is None:
    return tf.cast(images, tf.int32)
  with tf.control_dependencies([tf.debugging.Assert(in_range, [f"{expected}."])]):
    return tf.identity(tf.cast(images, tf.int32))


def _values_in_range(images, bits):
  """A bool scalar tensor: whether all `images` lie in `[0, 2**bits)` (True when empty).

  Returns None when the dtype holds no values outside the range (uint8 images of 8 bits).
  """
  conditions = []
  if images.dtype.min < 0:
    conditions.append(tf.reduce_min(images) >= 0)
  if images.dtype.max >= 2**bits:
    conditions.append(tf.reduce_max(images) < tf.constant(2**bits, images.dtype))
  return tf.reduce_all(tf.stack(conditions)) if conditions else None
