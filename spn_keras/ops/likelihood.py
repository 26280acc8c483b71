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

  Args:
    name: argument name for error messages.
    images: `(B, H, W, C)` integer array or tensor.
    bits: values must lie in `[0, 2**bits)`.
    shape: expected `(H, W, C)`, or None.

  Returns:
    int32 tensor `(B, H, W, C)`.

  Raises:
    ValueError / TypeError naming `name` and what was expected.
  """
  images = check_integer_dtype(name, images)
  if images.shape.rank != 4:
    raise ValueError(f"`{name}` must have rank 4 (B, H, W, C), got shape {images.shape}.")
  if shape is not None and tuple(images.shape[1:]) != tuple(shape):
    raise ValueError(f"`{name}` must have shape (B, {', '.join(map(str, shape))}), "
                     f"got {tuple(images.shape)}.")
  if tf.executing_eagerly() and tf.size(images) > 0:
    low, high = int(tf.reduce_min(images)), int(tf.reduce_max(images))
    if low < 0 or high >= 2**bits:
      raise ValueError(f"`{name}` values must be in [0, {2**bits}) ({bits} bits), "
                       f"got values in [{low}, {high}].")
  return tf.cast(images, tf.int32)
