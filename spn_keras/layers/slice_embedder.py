"""`SliceEmbedder`: the SPN's conditioning network over the slices that precede a target."""

import keras
from keras import ops
import numpy as np

from spn_keras.layers.slice_embedder_config import SliceEmbedderConfig
from spn_keras.layers.transformer_layer import TransformerLayer
from spn_keras.layers.transformer_layer import head_width


def preceding_offsets(scale):
  """Relative meta-offsets `(da, db)` that can precede a target slice (SPN_SPEC section 3.1).

  Returns:
    list of `2 * S * (S - 1)` pairs: every row above the target (`da < 0`, any `db`), then the
    target's row to its left (`da = 0`, `db < 0`).
  """
  s = scale
  above = [(da, db) for da in range(-(s - 1), 0) for db in range(-(s - 1), s)]
  left = [(0, db) for db in range(-(s - 1), 0)]
  return above + left


def window_offsets(scale):
  """All relative meta-offsets `da, db` in `[-(S-1), S-1]`: `(2S - 1)**2` pairs."""
  return [(da, db) for da in range(-(scale - 1), scale) for db in range(-(scale - 1), scale)]


def offset_table(scale, offsets):
  """Meta-index of the slice at each offset from each target, or -1 outside the meta-grid.

  Returns:
    int32 array `(S*S, len(offsets))`: entry `[t, g]` for target `t = a*S + b` is
    `(a + da)*S + (b + db)` when that lies inside the `S x S` grid, else -1 (padding).
  """
  table = np.full((scale * scale, len(offsets)), -1, np.int32)
  for t in range(scale * scale):
    a, b = divmod(t, scale)
    for g, (da, db) in enumerate(offsets):
      if 0 <= a + da < scale and 0 <= b + db < scale:
        table[t, g] = (a + da) * scale + (b + db)
  return table


@keras.saving.register_keras_serializable(package="spn_keras")
class SliceEmbedder(keras.layers.Layer):
  """The conditioning ("embedding") network of an SPN (paper section 3.2, SPN_SPEC section 3).

  For target slice `t = (a, b)` it sees, stacked along the channel axis:
  1. the preceding slices in a target-relative layout, one channel group per offset of
     `preceding_offsets(S)`, each value embedded with `embedding_dim` units (per channel), and
     padding slices of zeros where the offset leaves the meta-grid;
  2. one presence channel per group (1 real slice, 0 padding);
  3. the meta-position `t` as a learned `embedding_dim`-unit embedding tiled over the slice;
  4. for depth upscaling (`conditioning_bits > 0`), every slice of the low-depth image in the
     full window `window_offsets(S)` (the target's own at offset (0, 0)), embedded with its own
     table, with presence channels. It is fixed input: all of its bits are known.
  A 1x1 projection to `conv_channels`, `conv_layers` residual blocks
  `x + Conv1x1(relu(Conv3x3(relu(x))))` with `residual_channels` hidden maps, a projection to
  `attention_channels`, a learned position embedding and `attention_layers` full (unmasked)
  self-attention layers over the `h*w` positions give one feature vector per position of the
  target slice (position-preserving).

  Only slices whose meta-index is below `t` are ever read, so the output for target `t` cannot
  depend on slice `t` or later ones.

  Args:
    config: a `SliceEmbedderConfig` (or its dict form): `S`, the slices' channels and bits,
      the low-depth image's bits (0 for none), the embedding, convolution and attention
      widths.
    **kwargs: passed to `keras.layers.Layer`.

  Call args:
    slices: int `(B, S*S, h, w, C)` values of this stage, in meta-raster order. Slices at or
      after the target may hold anything: they are not read.
    target: int `(B,)` meta-index of each example's target slice.
    conditioning_slices: int `(B, S*S, h, w, C)` low-depth slices, or None.
    training: whether dropout is active.

  Returns:
    `(B, h, w, attention_channels)` context features.
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if isinstance(config, dict):
      config = SliceEmbedderConfig.from_dict(config)
    if not isinstance(config, SliceEmbedderConfig):
      raise TypeError(f"`config` must be a SliceEmbedderConfig, got {type(config).__name__}.")
    self.config = c = config
    self._preceding = offset_table(c.scale, preceding_offsets(c.scale))  # (S*S, G)
    self._window = offset_table(c.scale, window_offsets(c.scale))  # (S*S, (2S-1)**2)
    policy = self.dtype_policy
    self.value_embedding = keras.layers.Embedding(c.channels * 2**c.bits, c.embedding_dim,
                                                  dtype=policy, name="value_embedding")
    self.conditioning_embedding = keras.layers.Embedding(
        c.channels * 2**c.conditioning_bits, c.embedding_dim, dtype=policy,
        name="conditioning_embedding") if c.conditioning_bits else None
    self.meta_position_embedding = keras.layers.Embedding(
        c.scale * c.scale, c.embedding_dim, dtype=policy, name="meta_position_embedding")
    self.input_projection = keras.layers.Dense(c.conv_channels, dtype=policy,
                                               name="input_projection")
    self.residual_convs = [(
        keras.layers.Conv2D(c.residual_channels, 3, padding="same", dtype=policy,
                            name=f"residual_{i}_conv3x3"),
        keras.layers.Dense(c.conv_channels, dtype=policy, name=f"residual_{i}_conv1x1"),
    ) for i in range(c.conv_layers)]
    self.attention_projection = keras.layers.Dense(c.attention_channels, dtype=policy,
                                                   name="attention_projection")
    self.attention_stack = [
        TransformerLayer(c.attention_heads, head_width(c.attention_channels, c.attention_heads),
                         c.attention_ffn_channels, causal=False, dtype=policy,
                         name=f"attention_{i}") for i in range(c.attention_layers)
    ]
    self.output_norm = keras.layers.LayerNormalization(dtype=policy, name="output_norm")

  def build(self, slices_shape, target_shape=None, conditioning_slices_shape=None):
    if len(slices_shape) != 5:
      raise ValueError(f"SliceEmbedder expects `slices` of rank 5 (B, S*S, h, w, C), "
                       f"got shape {slices_shape}.")
    c = self.config
    h, w = slices_shape[2], slices_shape[3]
    groups = self._preceding.shape[1]
    depth = groups * (c.channels * c.embedding_dim + 1) + c.embedding_dim
    if c.conditioning_bits:
      depth += self._window.shape[1] * (c.channels * c.embedding_dim + 1)
    self.value_embedding.build((None,))
    if self.conditioning_embedding is not None:
      self.conditioning_embedding.build((None,))
    self.meta_position_embedding.build((None,))
    self.input_projection.build((None, h, w, depth))
    for conv3x3, conv1x1 in self.residual_convs:
      conv3x3.build((None, h, w, c.conv_channels))
      conv1x1.build((None, h, w, c.residual_channels))
    self.attention_projection.build((None, h, w, c.conv_channels))
    self.position_embedding = self.add_weight(
        name="position_embedding", shape=(h * w, c.attention_channels),
        initializer=keras.initializers.RandomNormal(stddev=0.02))
    for layer in self.attention_stack:
      layer.build((None, h * w, c.attention_channels))
    self.output_norm.build((None, h, w, c.attention_channels))

  def _embed_group(self, slices, table, target, embedding, num_values):
    """Gathers the slices at `table[target]` and embeds them: `(B, h, w, G * (C*E + 1))`."""
    c = self.config
    index = ops.take(ops.convert_to_tensor(table), target, axis=0)  # (B, G)
    present = ops.cast(index >= 0, self.compute_dtype)  # (B, G)
    gathered = ops.take_along_axis(
        slices, ops.maximum(index, 0)[:, :, None, None, None], axis=1)  # (B, G, h, w, C)
    offsets = ops.arange(c.channels, dtype="int32") * num_values
    embedded = embedding(gathered + offsets)  # (B, G, h, w, C, E)
    embedded = embedded * present[:, :, None, None, None, None]
    shape = ops.shape(embedded)
    batch, groups, h, w = shape[0], embedded.shape[1], embedded.shape[2], embedded.shape[3]
    embedded = ops.transpose(embedded, (0, 2, 3, 1, 4, 5))  # (B, h, w, G, C, E)
    embedded = ops.reshape(embedded, (batch, h, w, groups * c.channels * c.embedding_dim))
    presence = ops.broadcast_to(present[:, None, None, :], (batch, h, w, groups))
    return ops.concatenate([embedded, presence], axis=-1)

  def call(self, slices, target, conditioning_slices=None, training=False):
    c = self.config
    if (conditioning_slices is None) != (c.conditioning_bits == 0):
      raise ValueError("`conditioning_slices` must be given exactly when "
                       f"`conditioning_bits` > 0 (it is {c.conditioning_bits}).")
    slices = ops.cast(slices, "int32")
    target = ops.cast(target, "int32")
    batch, h, w = ops.shape(slices)[0], slices.shape[2], slices.shape[3]
    features = [self._embed_group(slices, self._preceding, target, self.value_embedding,
                                  2**c.bits)]
    meta = self.meta_position_embedding(target)  # (B, E)
    features.append(ops.broadcast_to(meta[:, None, None, :], (batch, h, w, c.embedding_dim)))
    if c.conditioning_bits:
      features.append(self._embed_group(ops.cast(conditioning_slices, "int32"), self._window,
                                        target, self.conditioning_embedding,
                                        2**c.conditioning_bits))
    x = self.input_projection(ops.concatenate(features, axis=-1))  # (B, h, w, conv_channels)
    for conv3x3, conv1x1 in self.residual_convs:
      x = x + conv1x1(ops.relu(conv3x3(ops.relu(x))))
    x = self.attention_projection(x)  # (B, h, w, attention_channels)
    position = ops.cast(self.position_embedding, self.compute_dtype)
    sequence = ops.reshape(x, (batch, h * w, c.attention_channels)) + position
    for layer in self.attention_stack:
      sequence = layer(sequence, training=training)
    x = ops.reshape(sequence, (batch, h, w, c.attention_channels))
    return self.output_norm(x)

  def compute_output_shape(self, slices_shape, target_shape=None,
                           conditioning_slices_shape=None):
    return (slices_shape[0], slices_shape[2], slices_shape[3], self.config.attention_channels)

  def get_config(self):
    return {**super().get_config(), "config": self.config.to_dict()}
