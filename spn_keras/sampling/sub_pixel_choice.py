"""Gumbel-max sampling of one sub-pixel, shared by the naive and the cached samplers.

Both samplers draw the same noise from the same seed and choose with the same function, so a
seed gives the same images with either of them.
"""

import numpy as np
import tensorflow as tf


def gumbel_noise(shape, seed):
  """Standard Gumbel noise from a stateless seed `(2,)`: the same seed, the same noise."""
  uniform = tf.random.stateless_uniform(shape, seed=seed, minval=np.finfo(np.float32).tiny,
                                        maxval=1.0)
  return -tf.math.log(-tf.math.log(uniform))


def gumbel_max_choice(logits, noise, temperature):
  """`argmax(logits / T + noise)`: a draw from `softmax(logits / T)` given Gumbel `noise`.

  Args:
    logits: float32 `(B, K)`, the model's logits for a sub-pixel (temperature 1).
    noise: float32 `(B, K)` standard Gumbel noise.
    temperature: float32 scalar `T > 0`.

  Returns:
    `(choice, log_prob)`: int32 `(B,)` values and float32 `(B,)` their temperature-1
    log-probabilities.
  """
  choice = tf.argmax(logits / temperature + noise, axis=-1, output_type=tf.int32)
  return choice, tf.gather(tf.nn.log_softmax(logits), choice, batch_dims=1)


def choose_sub_pixel(state, logits, noise, temperature, r, col, ch):
  """Samples sub-pixel `(r, col, ch)` of every image and records it in `state`.

  The value is `gumbel_max_choice(logits, noise[:, r, col, ch], temperature)`.

  Args:
    state: dict with int32 `values (B, h, w, C)`, float32 `log_prob (B,)` and optionally
      `logits (B, h, w, C, K)` (step logits are recorded there when present).
    logits: float32 `(B, K)`, the model's logits for the sub-pixel (temperature 1).
    noise: float32 `(B, h, w, C, K)` Gumbel noise of the slice.
    temperature: float32 scalar `T > 0`.
    r, col, ch: scalar int positions.

  Returns:
    The updated state: the chosen values written, `log_prob` increased by the (temperature 1)
    log-probability of the choice.
  """
  state = dict(state)
  batch = tf.shape(logits)[0]
  choice, log_prob = gumbel_max_choice(logits, noise[:, r, col, ch], temperature)
  state["log_prob"] += log_prob
  where = tf.stack([tf.range(batch), tf.fill([batch], r), tf.fill([batch], col),
                    tf.fill([batch], ch)], axis=1)
  state["values"] = tf.tensor_scatter_nd_update(state["values"], where, choice)
  if "logits" in state:
    state["logits"] = tf.tensor_scatter_nd_update(state["logits"], where, logits)
  return state
