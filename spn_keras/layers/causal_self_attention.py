"""`CausalSelfAttention`: multi-head self-attention in which position p sees positions <= p."""

import keras
from keras import ops
import tensorflow as tf

from spn_keras.argument_checks import check_int

# Added to the scores of masked positions. Large enough that exp() underflows to exactly 0 in
# float32, so masked positions contribute nothing at all (not merely little).
_MASKED_SCORE = -1e9


@keras.saving.register_keras_serializable(package="spn_keras")
class CausalSelfAttention(keras.layers.Layer):
  """Multi-head dot-product self-attention over a sequence, causal or full.

  With `causal=True` the output at position `p` depends only on inputs at positions `<= p`
  (Vaswani et al. 2017, decoder self-attention); the SPN decoder uses it over the raster-ordered
  pixels of a slice whose inputs are shifted by one pixel (SPN_SPEC section 4.1). With
  `causal=False` every position sees every other (the conditioning network, section 3).
  Scores and softmax are computed in float32 even under a mixed precision policy.

  Args:
    num_heads: number of attention heads.
    key_dim: size of each head's queries and keys.
    value_dim: size of each head's values; defaults to `key_dim`.
    output_dim: size of the output features; defaults to the input's last dimension.
    causal: mask future positions.
    dropout: dropout rate on the attention weights (training only).
    use_bias: whether the projections have biases.
    kernel_initializer: initializer of the projection kernels.
    **kwargs: passed to `keras.layers.Layer`.

  Call args:
    inputs: `(B, L, D)`.
    training: whether dropout is active.

  Returns:
    `(B, L, output_dim)`.
  """

  def __init__(self,
               num_heads,
               key_dim,
               value_dim=None,
               output_dim=None,
               causal=True,
               dropout=0.0,
               use_bias=True,
               kernel_initializer="glorot_uniform",
               **kwargs):
    super().__init__(**kwargs)
    check_int("num_heads", num_heads)
    check_int("key_dim", key_dim)
    if not 0.0 <= dropout < 1.0:
      raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
    self.num_heads = num_heads
    self.key_dim = key_dim
    self.value_dim = value_dim
    self.output_dim = output_dim
    self.causal = causal
    self.dropout = dropout
    self.use_bias = use_bias
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self._dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

  def build(self, input_shape):
    if len(input_shape) != 3:
      raise ValueError(f"CausalSelfAttention expects `inputs` of rank 3 (B, L, D), "
                       f"got shape {input_shape}.")
    depth = input_shape[-1]
    heads, key_dim = self.num_heads, self.key_dim
    value_dim = self.value_dim or key_dim
    output_dim = self.output_dim or depth
    init = self.kernel_initializer

    def projection(name, shape, bias_shape):
      kernel = self.add_weight(name=f"{name}_kernel", shape=shape, initializer=init)
      bias = self.add_weight(name=f"{name}_bias", shape=bias_shape,
                             initializer="zeros") if self.use_bias else None
      return kernel, bias

    self.query_kernel, self.query_bias = projection("query", (depth, heads, key_dim),
                                                    (heads, key_dim))
    self.key_kernel, self.key_bias = projection("key", (depth, heads, key_dim),
                                                (heads, key_dim))
    self.value_kernel, self.value_bias = projection("value", (depth, heads, value_dim),
                                                    (heads, value_dim))
    self.output_kernel, self.output_bias = projection("output", (heads, value_dim, output_dim),
                                                      (output_dim,))

  def _cast(self, weight):
    # `call_step` runs outside `__call__`, where Keras would autocast weights under a mixed
    # precision policy; cast explicitly so that both paths compute in `compute_dtype`.
    return ops.cast(weight, self.compute_dtype)

  def _project(self, inputs, kernel, bias):
    out = ops.einsum("bld,dhk->blhk", inputs, self._cast(kernel))  # (B, L, heads, dim)
    return out + self._cast(bias) if bias is not None else out

  def _attend(self, query, key, value, allowed, training):
    """Attention of `query (B, Q, heads, k)` over `key`, `value (B, S, heads, .)`.

    `allowed` is a bool `(Q, S)` mask or None (all allowed). Returns `(B, Q, output_dim)`.
    """
    scores = ops.einsum("bqhk,bshk->bhqs", query, key)  # (B, heads, Q, S)
    scores = ops.cast(scores, "float32") * (1.0 / self.key_dim**0.5)
    if allowed is not None:
      scores = ops.where(allowed[None, None], scores, _MASKED_SCORE)
    weights = ops.cast(tf.nn.softmax(scores, axis=-1), self.compute_dtype)
    weights = self._dropout_layer(weights, training=training)
    attended = ops.einsum("bhqs,bshv->bqhv", weights, value)  # (B, Q, heads, value_dim)
    outputs = ops.einsum("blhv,hvo->blo", attended, self._cast(self.output_kernel))
    if self.use_bias:
      outputs = outputs + self._cast(self.output_bias)  # (B, Q, output_dim)
    return outputs

  def call(self, inputs, training=False):
    query = self._project(inputs, self.query_kernel, self.query_bias)  # (B, L, heads, key_dim)
    key = self._project(inputs, self.key_kernel, self.key_bias)  # (B, L, heads, key_dim)
    value = self._project(inputs, self.value_kernel, self.value_bias)  # (B, L, heads, v_dim)
    allowed = None
    if self.causal:
      positions = ops.arange(ops.shape(inputs)[1])
      allowed = positions[:, None] >= positions[None, :]  # (L, L): query sees key <= itself
    return self._attend(query, key, value, allowed, training)

  def init_cache(self, batch_size, length):
    """Empty key and value caches for `call_step`: zeros `(B, length, heads, dim)` each."""
    value_dim = self.value_dim or self.key_dim
    return (ops.zeros((batch_size, length, self.num_heads, self.key_dim), self.compute_dtype),
            ops.zeros((batch_size, length, self.num_heads, value_dim), self.compute_dtype))

  def call_step(self, inputs, cache, index):
    """Causal attention for one new position, with a key/value cache (incremental decoding).

    Args:
      inputs: `(B, 1, D)`, the input at position `index`.
      cache: `(keys, values)` from `init_cache` or the previous step; positions `< index`
        hold the keys and values of the earlier inputs.
      index: scalar int, the new position.

    Returns:
      `(outputs, cache)`: `(B, 1, output_dim)`, equal to `call`'s output at `index`, and the
      cache with position `index` written.
    """
    if not self.causal:
      raise ValueError("`call_step` needs `causal=True`: full attention has no incremental form.")
    keys, values = cache
    query = self._project(inputs, self.query_kernel, self.query_bias)  # (B, 1, heads, key_dim)
    position = ops.one_hot(index, keys.shape[1], dtype=self.compute_dtype)[None, :, None, None]
    keys = keys + position * self._project(inputs, self.key_kernel, self.key_bias)
    values = values + position * self._project(inputs, self.value_kernel, self.value_bias)
    allowed = (ops.arange(keys.shape[1]) <= index)[None, :]  # (1, L)
    return self._attend(query, keys, values, allowed, training=False), (keys, values)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)

  def get_config(self):
    config = super().get_config()
    config.update({
        "num_heads": self.num_heads,
        "key_dim": self.key_dim,
        "value_dim": self.value_dim,
        "output_dim": self.output_dim,
        "causal": self.causal,
        "dropout": self.dropout,
        "use_bias": self.use_bias,
        "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
    })
    return config
