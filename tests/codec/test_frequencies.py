import numpy as np
import pytest

from spn_keras.codec import quantized_frequencies
from spn_keras.codec.frequencies import PRECISION_BITS


@pytest.mark.parametrize("size", [2, 8, 256])
def test_frequencies_are_positive_and_sum_to_the_precision(size):
  rng = np.random.default_rng(size)
  for scale in (0.1, 5.0, 100.0):
    frequencies = quantized_frequencies(
        rng.normal(size=(3, size)).astype(np.float32) * scale).numpy()
    assert frequencies.dtype == np.int64 and frequencies.shape == (3, size)
    assert frequencies.min() >= 1
    np.testing.assert_array_equal(frequencies.sum(axis=-1), 2**PRECISION_BITS)


def test_frequencies_follow_the_softmax():
  logits = np.log(np.array([0.5, 0.25, 0.125, 0.125]))
  frequencies = quantized_frequencies(logits).numpy()
  np.testing.assert_allclose(frequencies / 2**PRECISION_BITS, [0.5, 0.25, 0.125, 0.125],
                             atol=4 / 2**PRECISION_BITS)


def test_each_row_is_quantized_alone():
  rng = np.random.default_rng(1)
  rows = rng.normal(size=(5, 2, 32)).astype(np.float32) * 4
  together = quantized_frequencies(rows).numpy()
  for index in np.ndindex(5, 2):
    np.testing.assert_array_equal(together[index], quantized_frequencies(rows[index]).numpy())


def test_an_impossible_value_still_gets_a_frequency_of_one():
  frequencies = quantized_frequencies(np.array([0.0, -1e30, 50.0], np.float32)).numpy()
  assert frequencies[1] == 1 and frequencies[0] == 1
  assert frequencies[2] == 2**PRECISION_BITS - 2


@pytest.mark.parametrize("logits", [[0.0, np.nan, 1.0], [0.0, np.inf, 1.0], [np.nan] * 3])
def test_non_finite_logits_still_give_a_valid_table(logits):
  """A trained model gives finite logits; a table must stay decodable whatever it gets."""
  frequencies = quantized_frequencies(np.array(logits)).numpy()
  assert frequencies.min() >= 1 and frequencies.sum() == 2**PRECISION_BITS


@pytest.mark.parametrize("logits", [np.zeros(()), np.zeros(1), np.zeros((2, 1))])
def test_bad_logits(logits):
  with pytest.raises(ValueError, match="last axis of 2 to"):
    quantized_frequencies(logits)
