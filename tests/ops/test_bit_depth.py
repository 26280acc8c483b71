import numpy as np
import pytest

from spn_keras.ops import join_bits
from spn_keras.ops import reduce_bits
from spn_keras.ops import split_bits

ALL_VALUES = np.arange(256, dtype=np.uint8)


@pytest.mark.parametrize("msb_bits", range(1, 8))
def test_split_join_round_trip(msb_bits):
  lsb_bits = 8 - msb_bits
  msb, lsb = split_bits(ALL_VALUES, msb_bits)
  np.testing.assert_array_equal(msb, ALL_VALUES >> lsb_bits)
  np.testing.assert_array_equal(lsb, ALL_VALUES & (2**lsb_bits - 1))
  assert int(np.max(msb)) == 2**msb_bits - 1 and int(np.max(lsb)) == 2**lsb_bits - 1
  np.testing.assert_array_equal(join_bits(msb, lsb, lsb_bits), ALL_VALUES)


@pytest.mark.parametrize("bits", range(1, 9))
def test_reduce_bits_keeps_most_significant(bits):
  reduced = np.asarray(reduce_bits(ALL_VALUES, bits))
  np.testing.assert_array_equal(reduced, ALL_VALUES >> (8 - bits))
  assert reduced.dtype == np.uint8


def test_split_of_low_depth_image():
  """A 5-bit image split 3 + 2 (CelebA-HQ 5 bit with depth upscaling)."""
  x = np.arange(32, dtype=np.int32)
  msb, lsb = split_bits(x, 3, total_bits=5)
  np.testing.assert_array_equal(msb, x >> 2)
  np.testing.assert_array_equal(join_bits(msb, lsb, 2), x)


def test_errors():
  with pytest.raises(ValueError, match="`bits` must be in \\[1, 8\\]"):
    reduce_bits(ALL_VALUES, 0)
  with pytest.raises(ValueError, match="msb_bits"):
    split_bits(ALL_VALUES, 8)
  with pytest.raises(TypeError, match="integer dtype"):
    reduce_bits(np.zeros(3, np.float32), 3)
  with pytest.raises(TypeError, match="same dtype"):
    join_bits(np.zeros(3, np.uint8), np.zeros(3, np.int32), 2)
  with pytest.raises(TypeError, match="`bits` must be an int"):
    reduce_bits(ALL_VALUES, 2.5)
