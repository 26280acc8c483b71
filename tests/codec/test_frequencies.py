import constriction
import numpy as np
import pytest

from spn_keras.codec import quantized_frequencies
from spn_keras.codec.frequencies import PRECISION_BITS


@pytest.mark.parametrize("size", [2, 8, 256])
def test_frequencies_are_positive_and_sum_to_the_precision(size):
  rng = np.random.default_rng(size)
  for scale in (0.1, 5.0, 100.0):
    frequencies = quantized_frequencies(rng.normal(size=size).astype(np.float32) * scale)
    assert frequencies.dtype == np.int64 and frequencies.shape == (size,)
    assert frequencies.min() >= 1
    assert frequencies.sum() == 2**PRECISION_BITS


def test_frequencies_follow_the_softmax():
  logits = np.log(np.array([0.5, 0.25, 0.125, 0.125]))
  frequencies = quantized_frequencies(logits)
  np.testing.assert_allclose(frequencies / 2**PRECISION_BITS, [0.5, 0.25, 0.125, 0.125],
                             atol=4 / 2**PRECISION_BITS)


def test_an_impossible_value_still_gets_a_frequency_of_one():
  frequencies = quantized_frequencies(np.array([0.0, -1e30, 50.0], np.float32))
  assert frequencies[1] == 1 and frequencies[0] == 1
  assert frequencies[2] == 2**PRECISION_BITS - 2


@pytest.mark.parametrize("logits, message", [
    (np.zeros((2, 4)), "one row"),
    (np.zeros(1), "one row"),
    (np.array([0.0, np.nan]), "finite"),
    (np.array([0.0, np.inf]), "finite"),
])
def test_bad_logits(logits, message):
  with pytest.raises(ValueError, match=message):
    quantized_frequencies(logits)


def test_constriction_codes_the_table_as_it_is():
  """The range coder's cost is the table's information, plus a few words of termination."""
  rng = np.random.default_rng(0)
  tables = np.stack([quantized_frequencies(rng.normal(size=8) * 3) for _ in range(2000)])
  symbols = np.array([rng.integers(8) for _ in range(2000)], np.int32)
  information = -np.log2(tables[np.arange(2000), symbols] / 2**PRECISION_BITS).sum()
  encoder = constriction.stream.queue.RangeEncoder()
  family = constriction.stream.model.Categorical(perfect=False)
  encoder.encode(symbols, family, tables.astype(np.float64))
  assert information <= encoder.num_bits() <= information + 64
  decoder = constriction.stream.queue.RangeDecoder(encoder.get_compressed())
  np.testing.assert_array_equal(decoder.decode(family, tables.astype(np.float64)), symbols)
