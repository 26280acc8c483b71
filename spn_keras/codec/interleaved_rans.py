"""Interleaved rANS: the entropy coder of `spn_keras.codec`, decoded inside the model's program.

A range coder called back from Python once per sub-pixel kept the coding program out of XLA
(a plain graph, ~3x slower than the sampler's compiled program on the CPU). rANS (Duda 2013,
"Asymmetric numeral systems"; the 64-bit variant of Giesen's `rans64`) decodes a symbol with
a few integer operations, so the decoder runs inside the compiled slice program
(`decode_sub_pixel`) and the encoder, which knows every symbol, runs afterwards in numpy
(`encode`) on the `(start, frequency)` pairs that the same program recorded.

Every row of a coding batch (a tile) is a *lane* with its own 64-bit state; the lanes of a
stream share one stream of 32-bit words, read in a fixed order: sub-pixel after sub-pixel,
and within a sub-pixel lane after lane (only the lanes whose state fell below `LOWER_BOUND`
read one word). A batch may hold several streams' lanes (several files' tiles).
The stream holds the lanes' initial states (two words each, high then low) and then the
words. A lane's state starts and, after a whole stream is decoded, ends at `LOWER_BOUND`.

Frequencies sum to `2**PRECISION_BITS` (`quantized_frequencies`), each at least 1.
"""

import numpy as np
import tensorflow as tf

from spn_keras.codec.frequencies import PRECISION_BITS

LOWER_BOUND = 1 << 31  # states lie in [LOWER_BOUND, LOWER_BOUND << 32) between symbols
WORD_BITS = 32
_WORD_MASK = (1 << WORD_BITS) - 1
_SYMBOL_MASK = (1 << PRECISION_BITS) - 1


def encode(starts, frequencies, valid):
  """The stream whose decoding gives back the symbols of `(starts, frequencies)`.

  Args:
    starts: int `(steps, lanes)`: per decoding step (in decoding order) and lane, the coded
      symbol's cumulative frequency (the sum of the frequencies of the smaller values).
    frequencies: int `(steps, lanes)`: its frequency, in `[1, 2**PRECISION_BITS]`.
    valid: bool `(steps, lanes)`: which lanes code a symbol at each step (pad sub-pixels
      and blank tiles do not).

  Returns:
    uint32 words: the initial state of each lane (high word, low word), then the words the
    decoder reads, in reading order.
  """
  starts = np.asarray(starts, np.uint64)
  frequencies = np.asarray(frequencies, np.uint64)
  valid = np.asarray(valid, bool)
  if not (starts.shape == frequencies.shape == valid.shape and starts.ndim == 2):
    raise ValueError(f"`starts`, `frequencies` and `valid` must have one shape (steps, lanes), "
                     f"got {starts.shape}, {frequencies.shape} and {valid.shape}.")
  states = np.full(starts.shape[1], LOWER_BOUND, np.uint64)
  # A state at or above this bound would leave [LOWER_BOUND, LOWER_BOUND << 32) after coding
  # a symbol of frequency f: (LOWER_BOUND >> PRECISION_BITS << WORD_BITS) * f.
  bound_per_frequency = np.uint64((LOWER_BOUND >> PRECISION_BITS) << WORD_BITS)
  precision = np.uint64(PRECISION_BITS)
  word_bits, word_mask = np.uint64(WORD_BITS), np.uint64(_WORD_MASK)
  backwards = []  # the words in reverse reading order
  for step in range(starts.shape[0] - 1, -1, -1):  # rANS codes last in, first out
    lanes = np.flatnonzero(valid[step])
    if not lanes.size:
      continue
    frequency, state = frequencies[step, lanes], states[lanes]
    emits = state >= bound_per_frequency * frequency
    # The decoder reads this step's words in lane order, so they are written in reverse.
    backwards.append((state[emits] & word_mask)[::-1])
    state = np.where(emits, state >> word_bits, state)
    states[lanes] = ((state // frequency) << precision) + state % frequency + starts[step, lanes]
  words = np.concatenate(backwards)[::-1] if backwards else np.zeros(0, np.uint64)
  initial = np.stack([states >> word_bits, states & word_mask], axis=1).reshape(-1)
  return np.concatenate([initial, words]).astype(np.uint32)


def initial_states(words, lanes):
  """`(states, position)`: the lanes' int64 initial states read from the start of `words`
  (uint32 or int64 numpy), and the index of the first word after them."""
  words = np.asarray(words, np.int64)
  head = np.zeros(2 * lanes, np.int64)
  head[:min(words.size, 2 * lanes)] = words[:2 * lanes]
  states = (head[0::2] << WORD_BITS) | head[1::2]
  # A damaged stream may claim any 64 bits: keep the state a valid int64 (the CRC reports it).
  return states & np.int64(2**63 - 1), 2 * lanes


def decode_sub_pixel(states, words, positions, first_rows, frequencies, known, decoding):
  """Decodes one sub-pixel of every lane (a traced TensorFlow function; XLA compiles it).

  The rows of a batch may belong to several streams, each holding consecutive rows: a stream's
  rows read its words in row order from `words` at their `positions`, which all its rows share.

  Args:
    states: int64 `(B,)` the lanes' states.
    words: int64 `(N,)` the streams' next words side by side (zeros past a stream's end).
    positions: int32 `(B,)`: where each row's stream reads its next word in `words`.
    first_rows: int32 `(B,)`: the first row of each row's stream.
    frequencies: int64 `(B, K)` the sub-pixel's `quantized_frequencies`.
    known: int32 `(B,)` the values taken where a lane does not decode: the image's (the
      encoder's pass, `decoding` False) or the pad values.
    decoding: bool `(B,)`: the lanes that read their value from the stream.

  Returns:
    `(values, starts, counts, states, positions)`: int32 `(B,)` the values, int64 `(B,)`
    their cumulative frequencies and frequencies (what `encode` needs), and the new states
    and positions. A damaged stream decodes to some values, never to an error.
  """
  cumulative = tf.cumsum(frequencies, axis=-1)  # (B, K), the last one 2**PRECISION_BITS
  remainder = tf.bitwise.bitwise_and(states, tf.constant(_SYMBOL_MASK, tf.int64))  # (B,)
  decoded = tf.reduce_sum(tf.cast(cumulative <= remainder[:, None], tf.int32), axis=-1)
  values = tf.where(decoding, decoded, known)
  counts = tf.gather(frequencies, values, batch_dims=1)
  starts = tf.gather(cumulative, values, batch_dims=1) - counts
  advanced = counts * _shift(states, -PRECISION_BITS) + remainder - starts
  reads = tf.cast(decoding & (advanced < LOWER_BOUND), tf.int32)
  before = tf.cumsum(reads, exclusive=True)  # reads of the rows before each row
  rank = before - tf.gather(before, first_rows)  # ... of the rows before it in its stream
  read_at = tf.minimum(positions + rank, tf.shape(words)[0] - 1)
  refilled = tf.bitwise.bitwise_or(_shift(advanced, WORD_BITS), tf.gather(words, read_at))
  advanced = tf.where(reads > 0, refilled, advanced)
  states = tf.where(decoding, advanced, states)
  stream_reads = tf.math.unsorted_segment_sum(reads, first_rows, tf.shape(reads)[0])
  return values, starts, counts, states, positions + tf.gather(stream_reads, first_rows)


def _shift(values, bits):
  """int64 `values` shifted left by `bits` (right for negative `bits`)."""
  if bits < 0:
    return tf.bitwise.right_shift(values, tf.constant(-bits, tf.int64))
  return tf.bitwise.left_shift(values, tf.constant(bits, tf.int64))
