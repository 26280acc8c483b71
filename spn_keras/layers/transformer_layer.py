"""`TransformerLayer`: pre-norm self-attention and feed-forward sublayers with residuals."""

import warnings

import keras
from keras import ops

from spn_keras.layers.causal_self_attention import CausalSelfAttention


def head_width(channels, num_heads):
  """Channels per attention head: `channels // num_heads` (at least 1).

  The heads' outputs, `num_heads * head_width` channels in all, are projected back to
  `channels`. Table 4's decoder has 10 heads over 128 attention channels: 12 channels per
  head, 120 in all. Warns when `num_heads` does not divide `channels`.

  Args:
    channels: width of the attention stack.
    num_heads: attention heads.

  Returns:
    int.
  """
  width = max(1, channels // num_heads)
  if channels % num_heads:
    warnings.warn(f"{num_heads} attention heads do not divide {channels} attention channels: "
                  f"each head gets {width} channels, {width * num_heads} in all (Table 4's "
                  f"10 heads over 128 channels get 12 each).", stacklevel=3)
  return width


@keras.saving.register_keras_serializable(package="spn_keras")
class TransformerLayer(keras.layers.Layer):
  """`x + Attention(LayerNorm(x))`, then `x + FFN(LayerNorm(x))` (Vaswani et al. 2017).

  The paper's attention layers use tensor2tensor's "parameter_attention" feed-forward layer
  (Table 4); this layer uses the standard two-layer ReLU feed-forward network instead, which is
  position-wise and so keeps the attention's causality.

  Args:
    num_heads: attention heads.
    key_dim: size of each head's queries, keys and values.
    ffn_channels: hidden width of the feed-forward network.
    causal: causal (decoder) or full (conditioning network) attention.
    dropout: dropout rate after each sublayer and on the attention weights.
    **kwargs: passed to `keras.layers.Layer`.

  Call args:
    inputs: `(B, L, D)`.
    training: whether dropout is active.

  Returns:
    `(B, L, D)`.
  """

  def __init__(self, num_heads, key_dim, ffn_channels, causal=True, dropout=0.0, **kwargs):
    super().__init__(**kwargs)
    self.num_heads = num_heads
    self.key_dim = key_dim
    self.ffn_channels = ffn_channels
    self.causal = causal
    self.dropout = dropout
    policy = self.dtype_policy
    self.attention_norm = keras.layers.LayerNormalization(dtype=policy, name="attention_norm")
    self.attention = CausalSelfAttention(num_heads, key_dim, causal=causal, dropout=dropout,
                                         dtype=policy, name="attention")
    self.ffn_norm = keras.layers.LayerNormalization(dtype=policy, name="ffn_norm")
    self.ffn_hidden = keras.layers.Dense(ffn_channels, activation="relu", dtype=policy,
                                         name="ffn_hidden")
    self.ffn_output = None
    self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy)

  def build(self, input_shape):
    if len(input_shape) != 3:
      raise ValueError(f"TransformerLayer expects `inputs` of rank 3 (B, L, D), "
                       f"got shape {input_shape}.")
    self.ffn_output = keras.layers.Dense(input_shape[-1], dtype=self.dtype_policy,
                                         name="ffn_output")
    self.attention_norm.build(input_shape)
    self.attention.build(input_shape)
    self.ffn_norm.build(input_shape)
    self.ffn_hidden.build(input_shape)
    self.ffn_output.build(tuple(input_shape[:-1]) + (self.ffn_channels,))

  def call(self, inputs, training=False):
    attended = self.attention(self.attention_norm(inputs), training=training)
    x = inputs + self.dropout_layer(attended, training=training)
    hidden = self.ffn_output(self.ffn_hidden(self.ffn_norm(x)))
    return x + self.dropout_layer(hidden, training=training)

  # Incremental decoding (`spn_keras.sampling.CachedSliceSampler`).
  def step_weights(self, dtype=None):
    """Weights for `step` as matrices: the attention's fused projections and the FFN's."""
    dtype = dtype or self.compute_dtype
    cast = lambda weight: ops.cast(weight, dtype)  # noqa: E731
    return {
        "attention": self.attention.step_weights(dtype),
        "ffn_hidden": cast(self.ffn_hidden.kernel),
        "ffn_hidden_bias": cast(self.ffn_hidden.bias),
        "ffn_output": cast(self.ffn_output.kernel),
        "ffn_output_bias": cast(self.ffn_output.bias),
    }

  def init_cache(self, batch_size, length, dtype=None):
    """An empty cache for `step` (the attention's keys and values)."""
    return self.attention.init_cache(batch_size, length, dtype)

  def step(self, inputs, cache, index, weights, portable=False):
    """The layer at one new position of a causal sequence (incremental decoding).

    Args:
      inputs: `(B, D)` input at position `index`.
      cache: from `init_cache` or the previous step.
      index: scalar int tensor position.
      weights: `step_weights()`.
      portable: how the cache is written, as in `CausalSelfAttention.step`.

    Returns:
      `(outputs, cache)`: `(B, D)`, equal to `call`'s output at `index`, and the new cache.
    """
    dtype = inputs.dtype
    normed = ops.cast(self.attention_norm(inputs), dtype)
    attended, cache = self.attention.step(normed, cache, index, weights["attention"], portable)
    x = inputs + attended
    hidden = ops.cast(self.ffn_norm(x), dtype)
    hidden = ops.relu(ops.matmul(hidden, weights["ffn_hidden"]) + weights["ffn_hidden_bias"])
    return x + ops.matmul(hidden, weights["ffn_output"]) + weights["ffn_output_bias"], cache

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self):
    config = super().get_config()
    config.update({
        "num_heads": self.num_heads,
        "key_dim": self.key_dim,
        "ffn_channels": self.ffn_channels,
        "causal": self.causal,
        "dropout": self.dropout,
    })
    return config
