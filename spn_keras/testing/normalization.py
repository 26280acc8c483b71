"""Brute-force normalization checks: the probabilities of all images must sum to one."""

import itertools

import numpy as np


def all_images(shape, bits):
  """Every image of `shape` `(H, W, C)` with `bits`-bit values, in lexicographic order.

  Returns:
    uint8 array `(2**(bits * H * W * C), H, W, C)`.
  """
  size = int(np.prod(shape))
  if bits * size > 20:
    raise ValueError(f"{2**(bits * size)} images is too many to enumerate.")
  values = np.array(list(itertools.product(range(2**bits), repeat=size)), np.uint8)
  return values.reshape((-1,) + tuple(shape))


def randomize_weights(model, stddev=1.0, seed=0):
  """Redraws every weight of a built model from `N(0, stddev**2)`.

  Keras initializers make fresh models nearly uniform; large random weights make the
  conditionals far from uniform, so that a normalization or sampling test can fail.
  """
  rng = np.random.default_rng(seed)
  for variable in model.weights:
    variable.assign(rng.normal(0.0, stddev, variable.shape).astype(variable.dtype))


def total_probability(log_prob_fn, images, batch_size=8192):
  """`sum(exp(log_prob_fn(batch)))` over `images`, accumulated in float64.

  Returns:
    `(total, log_probs)`: the sum and the float64 log-probabilities of all images.
  """
  log_probs = np.concatenate([
      np.asarray(log_prob_fn(images[i:i + batch_size]), np.float64)
      for i in range(0, len(images), batch_size)
  ])
  return float(np.exp(log_probs).sum()), log_probs
