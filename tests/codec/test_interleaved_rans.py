"""The interleaved rANS coder: numpy encoder, TensorFlow decoder step (run eagerly here; the
codec traces it into its compiled slice programs)."""

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.codec import interleaved_rans
from spn_keras.codec import quantized_frequencies
from spn_keras.codec.frequencies import PRECISION_BITS


def _problem(seed, steps=200, lanes=5, size=8, valid_fraction=0.8):
  """`(tables (steps, lanes, K), symbols (steps, lanes), valid (steps, lanes))`: symbols drawn
  from their tables, so that the stream's length is their information."""
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(steps, lanes, size)) * 3
  tables = quantized_frequencies(logits).numpy()
  probabilities = tables / 2**PRECISION_BITS
  symbols = np.array([[rng.choice(size, p=p) for p in row] for row in probabilities])
  valid = rng.random((steps, lanes)) < valid_fraction
  return tables, symbols.astype(np.int32), valid


def _encode(tables, symbols, valid):
  starts = np.cumsum(tables, axis=-1) - tables
  take = lambda array: np.take_along_axis(array, symbols[..., None], -1)[..., 0]  # noqa: E731
  return interleaved_rans.encode(take(starts), take(tables), valid)


def _decode(words, tables, valid, known):
  """Decodes step after step with `decode_sub_pixel`; returns `(values, states, position)`."""
  lanes = tables.shape[1]
  states, position = interleaved_rans.initial_states(words, lanes)
  stream = tf.constant(np.concatenate([np.asarray(words, np.int64), [0]]))
  states = tf.constant(states)
  positions = tf.fill([lanes], tf.constant(position, tf.int32))
  first_rows = tf.zeros([lanes], tf.int32)
  values = []
  for step in range(tables.shape[0]):
    step_values, _, _, states, positions = interleaved_rans.decode_sub_pixel(
        states, stream, positions, first_rows, tf.constant(tables[step]),
        tf.constant(known[step]), tf.constant(valid[step]))
    values.append(step_values.numpy())
  return np.stack(values), states.numpy(), int(positions[0])


@pytest.mark.parametrize("seed, lanes, size", [(0, 5, 8), (1, 1, 2), (2, 3, 256), (3, 8, 32)])
def test_decoding_gives_back_every_lanes_symbols(seed, lanes, size):
  tables, symbols, valid = _problem(seed, lanes=lanes, size=size)
  words = _encode(tables, symbols, valid)
  known = np.full(symbols.shape, size - 1, np.int32)  # what the lanes that do not decode take
  values, states, position = _decode(words, tables, valid, known)
  np.testing.assert_array_equal(values, np.where(valid, symbols, known))
  # The whole stream is read, and every lane ends where the encoder started it.
  assert position == len(words)
  np.testing.assert_array_equal(states, interleaved_rans.LOWER_BOUND)


def test_the_stream_costs_the_information_plus_two_words_a_lane():
  tables, symbols, valid = _problem(4, steps=2000, lanes=4)
  information = -np.log2(np.take_along_axis(tables, symbols[..., None], -1)[..., 0][valid]
                         / 2**PRECISION_BITS).sum()
  bits = 32 * len(_encode(tables, symbols, valid))
  assert information <= bits <= information + 4 * 64, (bits, information)


def test_a_damaged_stream_decodes_to_other_values_without_an_error():
  tables, symbols, valid = _problem(5)
  words = _encode(tables, symbols, valid)
  known = np.zeros(symbols.shape, np.int32)
  for damaged in (words[:len(words) // 2], np.bitwise_xor(words, np.uint32(0x5A5A5A5A)),
                  np.full(3, 0xFFFFFFFF, np.uint32)):
    values, _, position = _decode(damaged, tables, valid, known)
    assert not np.array_equal(values, np.where(valid, symbols, known))
    assert values.min() >= 0 and values.max() < tables.shape[-1]


def test_streams_side_by_side_in_one_batch_decode_as_alone():
  """Rows 0-1 one stream, row 2 another, rows 3-4 a third: each reads only its own words."""
  problems = [_problem(seed, steps=150, lanes=lanes) for seed, lanes in ((7, 2), (8, 1), (9, 2))]
  streams = [_encode(*problem) for problem in problems]
  tables = np.concatenate([problem[0] for problem in problems], axis=1)
  valid = np.concatenate([problem[2] for problem in problems], axis=1)
  first_rows = tf.constant([0, 0, 2, 3, 3])
  window = 4000
  words = np.zeros(3 * window, np.int64)
  states, bases = [], []
  for index, (stream, (_, _, stream_valid)) in enumerate(zip(streams, problems)):
    lane_states, start = interleaved_rans.initial_states(stream, stream_valid.shape[1])
    words[index * window:index * window + len(stream) - start] = stream[start:]
    states.append(lane_states)
    bases += [index * window] * stream_valid.shape[1]
  states, positions = tf.constant(np.concatenate(states)), tf.constant(bases, tf.int32)
  decoded = []
  for step in range(150):
    values, _, _, states, positions = interleaved_rans.decode_sub_pixel(
        states, tf.constant(words), positions, first_rows, tf.constant(tables[step]),
        tf.zeros([5], tf.int32), tf.constant(valid[step]))
    decoded.append(values.numpy())
  symbols = np.concatenate([problem[1] for problem in problems], axis=1)
  np.testing.assert_array_equal(np.stack(decoded), np.where(valid, symbols, 0))
  np.testing.assert_array_equal(states, interleaved_rans.LOWER_BOUND)
  read = np.asarray(positions) - np.asarray(bases)
  lengths = [len(stream) - 2 * problem[2].shape[1] for stream, problem in zip(streams, problems)]
  np.testing.assert_array_equal(read, [lengths[0]] * 2 + [lengths[1]] + [lengths[2]] * 2)


def test_lanes_with_nothing_to_code_keep_their_initial_state():
  tables, symbols, valid = _problem(6, lanes=3)
  valid[:, 1] = False
  words = _encode(tables, symbols, valid)
  states, _ = interleaved_rans.initial_states(words, 3)
  assert states[1] == interleaved_rans.LOWER_BOUND


def test_encode_checks_its_arrays():
  with pytest.raises(ValueError, match="one shape"):
    interleaved_rans.encode(np.zeros((3, 2)), np.ones((3, 2)), np.ones((2, 2), bool))
