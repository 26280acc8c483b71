"""Quantized integer frequencies of a sub-pixel's distribution: what the entropy coder codes.

The coding program turns the model's float32 logits into integer tables inside the compiled
program that the encoder and the decoder both run, so both see the same tables bit for bit.
Every value gets a frequency of at least 1 (any value can be coded, however unlikely the
model finds it) and a table sums to `2**PRECISION_BITS`, the coder's probability precision
(`spn_keras.codec.interleaved_rans`).
"""

import tensorflow as tf

PRECISION_BITS = 24


def quantized_frequencies(logits):
  """Integer frequencies of `softmax(logits)`, each at least 1, summing to `2**PRECISION_BITS`.

  The softmax is computed in float64 from the logits, row by row. The frequencies are
  `1 + floor(p * (2**PRECISION_BITS - K))`; what the floors leave over goes to the most
  likely value. A row with a non-finite logit (which a trained model does not produce)
  still gets a valid table: its non-finite probabilities count as 0.

  Args:
    logits: float `(..., K)`: rows of `K` logits (`2 <= K <= 2**(PRECISION_BITS - 1)`,
      `K` static); a tensor or numpy array.

  Returns:
    int64 `(..., K)` tensor.
  """
  logits = tf.convert_to_tensor(logits)
  size = logits.shape[-1] if logits.shape.rank else None
  if size is None or not 2 <= size <= 2**(PRECISION_BITS - 1):
    raise ValueError(f"`logits` must have a last axis of 2 to {2**(PRECISION_BITS - 1)} "
                     f"values, got shape {logits.shape}.")
  probabilities = tf.nn.softmax(tf.cast(logits, tf.float64), axis=-1)
  probabilities = tf.where(tf.math.is_finite(probabilities), probabilities,
                           tf.zeros_like(probabilities))
  total = 1 << PRECISION_BITS
  frequencies = tf.cast(tf.floor(probabilities * (total - size)), tf.int64) + 1
  leftover = total - tf.reduce_sum(frequencies, axis=-1, keepdims=True)
  most_likely = tf.one_hot(tf.argmax(frequencies, axis=-1), size, dtype=tf.int64)
  return frequencies + most_likely * leftover
