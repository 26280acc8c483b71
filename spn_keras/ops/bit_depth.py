"""Bit-depth operations on integer images (SPN_SPEC section 1; paper section 2.4).

A stage of a multidimensional-upscaling pipeline models `D`-bit values in `[0, 2**D)`.
Reducing an 8-bit image keeps its most significant bits, and a depth split cuts a `D`-bit
image into its `d1` most significant bits (`msb`) and `d2 = D - d1` least significant bits
(`lsb`), such that `x == (msb << d2) | lsb` exactly.

All functions accept integer `tf.Tensor`s or numpy arrays of any shape and return `tf.Tensor`s
of the input's dtype.
"""

import numpy as np
import tensorflow as tf

from spn_keras.ops.likelihood import check_integer_dtype


def _check_bits(name, value, low, high):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"`{name}` must be an int in [{low}, {high}], got {value!r}.")
  if not low <= value <= high:
    raise ValueError(f"`{name}` must be in [{low}, {high}], got {value}.")


def reduce_bits(images, bits, from_bits=8):
  """Keeps the `bits` most significant bits of `from_bits`-bit values: `x >> (from_bits - bits)`.

  Args:
    images: integer tensor of any shape with values in `[0, 2**from_bits)`.
    bits: bits to keep, `1 <= bits <= from_bits`.
    from_bits: bit depth of `images`, `1 <= from_bits <= 8`.

  Returns:
    A tensor of the same shape and dtype with values in `[0, 2**bits)`.
  """
  _check_bits("from_bits", from_bits, 1, 8)
  _check_bits("bits", bits, 1, from_bits)
  images = check_integer_dtype("images", images)
  return tf.bitwise.right_shift(images, tf.cast(from_bits - bits, images.dtype))


def split_bits(images, msb_bits, total_bits=8):
  """Splits `total_bits`-bit values into their most and least significant bits.

  Args:
    images: integer tensor of any shape with values in `[0, 2**total_bits)`.
    msb_bits: `d1`, the number of most significant bits, `1 <= d1 < total_bits`.
    total_bits: `D`, the bit depth of `images`, `2 <= D <= 8`.

  Returns:
    `(msb, lsb)`: `msb = x >> d2` in `[0, 2**d1)` and `lsb = x & (2**d2 - 1)` in
    `[0, 2**d2)`, with `d2 = D - d1`; both with the shape and dtype of `images`.
  """
  _check_bits("total_bits", total_bits, 2, 8)
  _check_bits("msb_bits", msb_bits, 1, total_bits - 1)
  images = check_integer_dtype("images", images)
  lsb_bits = total_bits - msb_bits
  msb = tf.bitwise.right_shift(images, tf.cast(lsb_bits, images.dtype))
  lsb = tf.bitwise.bitwise_and(images, tf.cast(2**lsb_bits - 1, images.dtype))
  return msb, lsb


def join_bits(msb, lsb, lsb_bits):
  """Inverse of `split_bits`: `(msb << lsb_bits) | lsb`.

  Args:
    msb: integer tensor of most significant bits.
    lsb: integer tensor of the same shape and dtype with values in `[0, 2**lsb_bits)`.
    lsb_bits: `d2`, the number of least significant bits, `1 <= d2 <= 7`.

  Returns:
    A tensor of the shape and dtype of `msb` holding the joined values.
  """
  _check_bits("lsb_bits", lsb_bits, 1, 7)
  msb = check_integer_dtype("msb", msb)
  lsb = check_integer_dtype("lsb", lsb)
  if msb.dtype != lsb.dtype:
    raise TypeError(
        f"`msb` and `lsb` must have the same dtype, got {msb.dtype.name} and "
        f"{lsb.dtype.name}.")
  shifted = tf.bitwise.left_shift(msb, tf.cast(lsb_bits, msb.dtype))
  return tf.bitwise.bitwise_or(shifted, lsb)
