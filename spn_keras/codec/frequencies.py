"""Quantized integer frequencies of a sub-pixel's distribution: what the entropy coder codes.

Encoder and decoder both turn the model's float32 logits into the same integer table, so the
arithmetic coder sees exactly invertible probabilities. Every value gets a frequency of at
least 1 (any value can be coded, however unlikely the model finds it) and the table sums to
`2**PRECISION_BITS`, the probability precision of `constriction`'s default coders, so that
`constriction` takes the table as it is.
"""

import numpy as np

PRECISION_BITS = 24


def quantized_frequencies(logits):
  """Integer frequencies of `softmax(logits)`, each at least 1, summing to `2**PRECISION_BITS`.

  The softmax is computed in float64 from the float32 logits one row at a time (one
  distribution per call), so the result depends on the row alone: not on the batch it came
  in. The frequencies are `1 + floor(p * (2**PRECISION_BITS - K))`; what the floors leave
  over goes to the most likely value.

  Args:
    logits: float `(K,)`, the logits of one sub-pixel (K = `2**bits` values, at most
      `2**PRECISION_BITS / 2`).

  Returns:
    int64 `(K,)`.
  """
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 1 or not 2 <= logits.size <= 2**(PRECISION_BITS - 1):
    raise ValueError(f"`logits` must be one row of 2 to {2**(PRECISION_BITS - 1)} logits, "
                     f"got shape {logits.shape}.")
  if not np.all(np.isfinite(logits)):
    raise ValueError("`logits` must be finite.")
  probabilities = np.exp(logits - logits.max())
  probabilities /= probabilities.sum()
  total = 1 << PRECISION_BITS
  frequencies = np.floor(probabilities * (total - logits.size)).astype(np.int64) + 1
  frequencies[np.argmax(frequencies)] += total - frequencies.sum()
  return frequencies
