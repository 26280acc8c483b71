"""`SliceDecoder`: masked 1D self-attention followed by a gated PixelCNN (SPN_SPEC section 4)."""

import keras
from keras import ops

from spn_keras.layers import GatedPixelCNNBlock
from spn_keras.layers import MaskedConv2D
from spn_keras.layers import TransformerLayer
from spn_keras.layers import masks
from spn_keras.layers.transformer_layer import head_width
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.models.configs import SliceDecoderConfig


@keras.saving.register_keras_serializable(package="spn_keras")
class SliceDecoder(AutoregressiveImageModel):
  """The SPN decoder (paper section 3.2, Figure 4b), usable as a stage of its own.

  On its own it models `image_size` images in raster order, then R, G, B: the decoder baseline
  of Table 1, or slice 0 of a multidimensional-upscaling pipeline. Inside a
  `SubscalePixelNetwork` it models the target slice given `context` features.

  1. *Masked 1D self-attention.* The slice is flattened to `h*w` positions. Position `p` gets
     the embedding of pixel `p - 1` (all channels; zeros at `p = 0`), plus the context at `p`,
     plus a learned position embedding; causal attention layers follow. Their output at `p`
     depends on pixels before `p` only, never on any channel of pixel `p`.
  2. *Gated PixelCNN* (`GatedPixelCNNBlock`), mask A then B, channel-masked, with the attention
     output and the context added before every gate.
  3. *Output.* Two channel-masked 1x1 layers (`pixelcnn_residual_channels` hidden maps, ReLU)
     give, for each position and channel, logits over the `2**bits` values.

  Args:
    config: a `SliceDecoderConfig`.
    **kwargs: passed to `keras.Model`.

  Call args:
    inputs: int `(B, h, w, C)` values (teacher forcing: the prediction for a sub-pixel only
      uses earlier sub-pixels of `inputs`).
    context: `(B, h, w, context_channels)` features, required iff `context_channels > 0`.
    training: passed to the attention layers (their dropout rate is 0 in these configs).

  Returns:
    float32 logits `(B, h, w, C, 2**bits)`.
  """

  config_class = SliceDecoderConfig

  def __init__(self, config, **kwargs):
    super().__init__(config, **kwargs)
    c = self.config
    policy = self.dtype_policy
    self.value_embedding = keras.layers.Embedding(
        c.channels * 2**c.bits, c.value_embedding_dim, dtype=policy, name="value_embedding")
    if c.attention_layers:
      self.pixel_projection = keras.layers.Dense(c.attention_channels, dtype=policy,
                                                 name="pixel_projection")
      self.context_projection = keras.layers.Dense(
          c.attention_channels, dtype=policy,
          name="context_projection") if c.context_channels else None
      self.attention_stack = [
          TransformerLayer(c.attention_heads, head_width(c.attention_channels, c.attention_heads),
                           c.attention_ffn_channels, causal=True, dtype=policy,
                           name=f"attention_{i}") for i in range(c.attention_layers)
      ]
      self.attention_norm = keras.layers.LayerNormalization(dtype=policy, name="attention_norm")
    self.pixelcnn = [
        GatedPixelCNNBlock(c.pixelcnn_channels, c.kernel_size, "A" if i == 0 else "B",
                           c.channels, residual=i > 0, dtype=policy, name=f"pixelcnn_{i}")
        for i in range(c.pixelcnn_layers)
    ]
    self.output_hidden = MaskedConv2D(c.pixelcnn_residual_channels, 1, "B", c.channels,
                                      dtype=policy, name="output_hidden")
    # The logits are computed in float32 under any policy (its variable dtype): a bfloat16
    # last product would round them (8 bits of mantissa), and training bits/dim would then
    # differ from the exact evaluation's.
    self.output_logits_layer = MaskedConv2D(c.channels * 2**c.bits, 1, "B", c.channels,
                                            dtype=policy.variable_dtype, name="output_logits")

  def build(self, inputs_shape=None, context_shape=None):
    c = self.config
    h, w = c.height, c.width
    self.slicer.build((None, h, w, c.channels))
    if c.attention_layers:
      self.position_embedding = self.add_weight(
          name="position_embedding", shape=(h * w, c.attention_channels),
          initializer=keras.initializers.RandomNormal(stddev=0.02))
    # Build by tracing one call on symbolic-free dummy data of the configured shape.
    dummy = ops.zeros((1, h, w, c.channels), "int32")
    context = ops.zeros((1, h, w, c.context_channels)) if c.context_channels else None
    self._forward(dummy, context)

  def compute_output_shape(self, inputs_shape=None, context_shape=None):
    c = self.config
    batch = None if inputs_shape is None else inputs_shape[0]
    return (batch, c.height, c.width, c.channels, 2**c.bits)

  def call(self, inputs, context=None, training=False):
    c = self.config
    if (context is None) != (c.context_channels == 0):
      raise ValueError(f"`context` must be given exactly when `context_channels` > 0 "
                       f"(it is {c.context_channels}).")
    return self._forward(inputs, context, training)

  def embed(self, values):
    """Value embeddings of sub-pixels, channel groups contiguous.

    Args:
      values: int `(B, ..., C)`.

    Returns:
      `(B, ..., C * value_embedding_dim)`: channel `c` at `[c*E, (c+1)*E)`.
    """
    c = self.config
    offsets = ops.arange(c.channels, dtype="int32") * 2**c.bits
    embedded = self.value_embedding(ops.cast(values, "int32") + offsets)  # (B, ..., C, E)
    shape = ops.shape(embedded)
    return ops.reshape(embedded, tuple(shape[:-2]) + (c.channels * c.value_embedding_dim,))

  def attention_input(self, previous_pixels, position_embedding, context):
    """Input of the masked attention stack: previous pixel + position + context.

    Args:
      previous_pixels: `(B, L, C*E)` embeddings of the pixels before each position.
      position_embedding: `(L, attention_channels)` rows of the position embedding.
      context: `(B, L, context_channels)` or None.

    Returns:
      `(B, L, attention_channels)`.
    """
    sequence = self.pixel_projection(previous_pixels) + ops.cast(position_embedding,
                                                                 self.compute_dtype)
    if context is not None:
      sequence = sequence + self.context_projection(context)
    return sequence

  def gated_conditioning(self, attention, context):
    """What every gated layer is conditioned on: attention output and context, or None."""
    parts = [t for t in (attention, context) if t is not None]
    if not parts:
      return None
    return ops.concatenate([ops.cast(t, self.compute_dtype) for t in parts], axis=-1)

  def output_logits(self, horizontal):
    """Logits `(B, ..., C, 2**bits)` (float32) from the last horizontal stack `(B, ..., F)`."""
    hidden = ops.relu(self.output_hidden(ops.relu(horizontal)))
    logits = self.output_logits_layer(hidden)  # channel c at [c*K, (c+1)*K)
    shape = ops.shape(logits)
    logits = ops.reshape(logits, tuple(shape[:-1]) + (self.config.channels, 2**self.config.bits))
    return ops.cast(logits, "float32")

  def output_step_weights(self, dtype=None):
    """The masked 1x1 output layers as per-colour-group matrices, for `output_group_logits`.

    Args:
      dtype: compute dtype of the step (default: the model's).

    Returns:
      list, one dict per colour channel g: `hidden` `(end_g, n_g)` (the hidden maps of group
      g from the horizontal stack's groups `<= g`), `hidden_bias` `(n_g,)`, `logits`
      `(hidden_end_g, 2**bits)` and `logits_bias` `(2**bits,)`.
    """
    dtype = dtype or self.compute_dtype
    c = self.config
    num_values = 2**c.bits
    logits_dtype = self.output_logits_layer.compute_dtype  # float32, as in `output_logits`
    hidden = self.output_hidden.masked_kernel(dtype)[0, 0]  # (F, R)
    logits = self.output_logits_layer.masked_kernel(logits_dtype)[0, 0]  # (R, C*K)
    hidden_bias = ops.cast(self.output_hidden.bias, dtype)
    logits_bias = ops.cast(self.output_logits_layer.bias, logits_dtype)
    horizontal_bounds = masks.group_bounds(c.pixelcnn_channels, c.channels)
    hidden_bounds = masks.group_bounds(c.pixelcnn_residual_channels, c.channels)
    groups = []
    for g, ((_, end), (start, hidden_end)) in enumerate(zip(horizontal_bounds, hidden_bounds)):
      values = slice(g * num_values, (g + 1) * num_values)
      groups.append({
          "hidden": hidden[:end, start:hidden_end],
          "hidden_bias": hidden_bias[start:hidden_end],
          "logits": logits[:hidden_end, values],
          "logits_bias": logits_bias[values],
      })
    return groups

  def output_group_logits(self, channel, horizontal, hidden, weights):
    """Logits of colour channel `channel` at one position, from its groups of features.

    Args:
      channel: the colour channel g (a Python int).
      horizontal: the last horizontal stack's output groups `0 .. g` at the position,
        `[(B, n_0), ...]`.
      hidden: the hidden groups `< g` returned by earlier calls at the position.
      weights: `output_step_weights()`.

    Returns:
      `(hidden_g, logits)`: `(B, n_g)` and float32 `(B, 2**bits)`, equal to
      `output_logits(...)[..., channel, :]` there.
    """
    group = weights[channel]
    features = ops.relu(ops.concatenate(horizontal[:channel + 1], axis=-1))
    hidden_group = ops.relu(ops.matmul(features, group["hidden"]) + group["hidden_bias"])
    hidden_so_far = ops.concatenate(list(hidden[:channel]) + [hidden_group], axis=-1)
    logits = ops.matmul(ops.cast(hidden_so_far, group["logits"].dtype), group["logits"])
    return hidden_group, ops.cast(logits + group["logits_bias"], "float32")

  def _forward(self, inputs, context, training=False):
    c = self.config
    batch, h, w = ops.shape(inputs)[0], c.height, c.width
    embedded = self.embed(inputs)  # (B, h, w, C*E)
    attention = None
    if c.attention_layers:
      flat = ops.reshape(embedded, (batch, h * w, c.channels * c.value_embedding_dim))
      # Shift by one position: position p sees pixel p - 1, never pixel p itself.
      previous = ops.pad(flat, ((0, 0), (1, 0), (0, 0)))[:, :-1]
      flat_context = None if context is None else ops.reshape(
          context, (batch, h * w, c.context_channels))
      sequence = self.attention_input(previous, self.position_embedding, flat_context)
      for layer in self.attention_stack:
        sequence = layer(sequence, training=training)  # (B, h*w, attention_channels)
      attention = ops.reshape(self.attention_norm(sequence), (batch, h, w, c.attention_channels))
    conditioning = self.gated_conditioning(attention, context)
    vertical = horizontal = embedded
    for block in self.pixelcnn:
      vertical, horizontal = block(vertical, horizontal, conditioning=conditioning)
    return self.output_logits(horizontal)  # (B, h, w, C, K)

  def _slice_context(self, slices, target, conditioning_slices):
    del slices, target, conditioning_slices
    return None

  def _decode(self, target_values, context):
    return self(target_values)

  def _slice_decoder(self):
    return self
