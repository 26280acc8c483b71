"""`CausalSelfAttention`: multi-head self-attention in which position p sees positions <= p."""

import keras
from keras import ops
import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.ops.slice_updates import update_slice

# Added to the scores of masked positions. Large enough that exp() underflows to exactly 0 in
# float32, so masked positions contribute nothing at all (not merely little); representable
# in bfloat16 and float16 too (as about -1e9 and -inf).
_MASKED_SCORE = -1e9


@keras.saving.register_keras_serializable(package="spn_keras")
class CausalSelfAttention(keras.layers.Layer):
  """Multi-head dot-product self-attention over a sequence, causal or full.

  With `causal=True` the output at position `p` depends only on inputs at positions `<= p`
  (Vaswani et al. 2017, decoder self-attention); the SPN decoder uses it over the raster-ordered
  pixels of a slice whose inputs are shifted by one pixel (SPN_SPEC section 4.1). With
  `causal=False` every position sees every other (the conditioning network, section 3).
  Under a mixed precision policy the scores and attention weights are stored in the compute
  dtype, without the two float32 copies of the `(B, heads, L, L)` scores that casting around
  the softmax would make. On CPUs with bfloat16 arithmetic (AVX-512 BF16 or AMX) TensorFlow's
  bfloat16 softmax computes in float32 and rounds only the weights: they equal a float32
  softmax rounded to bfloat16, bit for bit (tested). Elsewhere (e.g. AMD Zen 3) its kernel
  computes in bfloat16: weights within 2**-7 of that, rows summing to 1 within 1% (measured;
  tested with twice these bounds). Mixed precision is for training on such hardware.

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
    # Cast explicitly (`step_weights` runs outside `__call__`, where Keras would not autocast)
    # so that both paths compute in `compute_dtype` under a mixed precision policy.
    return ops.cast(weight, self.compute_dtype)

  def _project(self, inputs, kernel, bias):
    out = ops.einsum("bld,dhk->blhk", inputs, self._cast(kernel))  # (B, L, heads, dim)
    return out + self._cast(bias) if bias is not None else out

  def _attend(self, query, key, value, mask, training):
    """Attention of `query (B, Q, heads, k)` over `key`, `value (B, S, heads, .)`.

    `mask` is an additive `(Q, S)` score bias in the compute dtype (0 allowed, `_MASKED_SCORE`
    masked) or None. The query is scaled by `1/sqrt(key_dim)` before the product, so that the
    `(B, heads, Q, S)` scores get one element-wise pass (the mask) before the softmax.
    Returns `(B, Q, output_dim)`.
    """
    query = query * ops.cast(1.0 / self.key_dim**0.5, query.dtype)
    scores = ops.einsum("bqhk,bshk->bhqs", query, key)  # (B, heads, Q, S)
    if mask is not None:
      scores = scores + mask
    weights = tf.nn.softmax(scores, axis=-1)  # (B, heads, Q, S), float32 math inside
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
    mask = None
    if self.causal:
      positions = ops.arange(ops.shape(inputs)[1])
      # (L, L): a query sees keys at or before its own position.
      mask = ops.where(positions[:, None] >= positions[None, :], 0.0, _MASKED_SCORE)
      mask = ops.cast(mask, self.compute_dtype)
    return self._attend(query, key, value, mask, training)

  # Incremental decoding (`spn_keras.sampling.CachedSliceSampler`).
  def step_weights(self, dtype=None):
    """Fused projection weights for `step`, computed once per generated sequence.

    Args:
      dtype: compute dtype of the step (default: the layer's).

    Returns:
      dict: `query_key_value` `(D, heads * (2 key_dim + value_dim))` (the query columns
      scaled by `1/sqrt(key_dim)`), its bias, `output` `(heads * value_dim, output_dim)` and
      its bias (biases are zeros without `use_bias`).
    """
    dtype = dtype or self.compute_dtype
    scale = 1.0 / self.key_dim**0.5
    depth = self.query_kernel.shape[0]

    def matrix(kernel):
      return ops.reshape(ops.cast(kernel, dtype), (depth, -1))

    def vector(bias, size):
      return ops.zeros((size,), dtype) if bias is None else ops.reshape(ops.cast(bias, dtype),
                                                                         (-1,))

    query_size = self.num_heads * self.key_dim
    value_size = self.num_heads * (self.value_dim or self.key_dim)
    output_dim = self.output_kernel.shape[-1]
    return {
        "query_key_value": ops.concatenate([matrix(self.query_kernel) * scale,
                                            matrix(self.key_kernel),
                                            matrix(self.value_kernel)], axis=-1),
        "query_key_value_bias": ops.concatenate([vector(self.query_bias, query_size) * scale,
                                                 vector(self.key_bias, query_size),
                                                 vector(self.value_bias, value_size)], axis=-1),
        "output": ops.reshape(ops.cast(self.output_kernel, dtype), (value_size, output_dim)),
        "output_bias": vector(self.output_bias, output_dim),
    }

  def init_cache(self, batch_size, length, dtype=None):
    """Empty key and value caches for `step`: zeros `(B, heads, dim, length)` each.

    Positions are the last axis, so that `step`'s products over the cache run along
    contiguous memory.
    """
    dtype = dtype or self.compute_dtype
    value_dim = self.value_dim or self.key_dim
    return (ops.zeros((batch_size, self.num_heads, self.key_dim, length), dtype),
            ops.zeros((batch_size, self.num_heads, value_dim, length), dtype))

  def step(self, inputs, cache, index, weights, portable=False):
    """Causal attention for one new position, with a key/value cache.

    The new key and value are written into the cache in place (`update_slice`); the query
    attends over the whole cache with an additive mask on the positions after `index`.

    Args:
      inputs: `(B, D)`, the input at position `index`.
      cache: `(keys, values)` from `init_cache` or the previous step; positions `< index`
        hold the keys and values of the earlier inputs.
      index: scalar int tensor, the new position.
      weights: `step_weights()`.
      portable: how the cache is written (`spn_keras.ops.update_slice`): False for programs
        that XLA compiles, True for plain graphs (ordinary kernels: TF Serving); the values
        are the same.

    Returns:
      `(outputs, cache)`: `(B, output_dim)`, equal to `call`'s output at `index`, and the
      cache with position `index` written.
    """
    if not self.causal:
      raise ValueError("`step` needs `causal=True`: full attention has no incremental form.")
    keys, values = cache
    heads, key_dim, value_dim = self.num_heads, self.key_dim, values.shape[2]
    projected = ops.matmul(inputs, weights["query_key_value"]) + weights["query_key_value_bias"]
    query, key, value = ops.split(projected, [heads * key_dim, 2 * heads * key_dim], axis=-1)
    query = ops.reshape(query, (-1, heads, key_dim, 1))
    keys = update_slice(keys, (0, 0, 0, index), ops.reshape(key, (-1, heads, key_dim, 1)),
                        portable)
    values = update_slice(values, (0, 0, 0, index),
                          ops.reshape(value, (-1, heads, value_dim, 1)), portable)
    scores = ops.cast(ops.sum(query * keys, axis=2), "float32")  # (B, heads, L)
    positions = ops.arange(keys.shape[-1])
    scores = scores + ops.where(positions <= index, 0.0, _MASKED_SCORE)
    attention = ops.cast(tf.nn.softmax(scores, axis=-1), inputs.dtype)
    attended = ops.sum(attention[:, :, None] * values, axis=-1)  # (B, heads, value_dim)
    outputs = ops.matmul(ops.reshape(attended, (-1, heads * value_dim)), weights["output"])
    return outputs + weights["output_bias"], (keys, values)

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
