"""`CachedSliceSampler`: generates a slice with per-layer caches instead of recomputation.

Naive autoregressive sampling runs the whole decoder once per sub-pixel: `h*w*C` passes over
`h*w` positions. The decoder's structure allows far less (after Ramachandran et al. 2017,
"Fast Generation for Convolutional Autoregressive Models"):
- the masked attention stack keeps a key/value cache per layer and computes one new position
  per pixel (its output at pixel p depends on pixels < p only, so once per pixel, not per
  channel);
- each gated PixelCNN layer keeps the rows of its vertical-stack input that its kernel still
  needs (a queue of `k//2 + 1` rows) and computes the vertical stack once per row, when the
  row is complete; the horizontal stack keeps the current row of its input and computes only
  the new position, once per channel;
- the conditioning network's features are computed by the caller once per slice.
The logits at every step equal the naive sampler's (up to float rounding) and the same noise
is used, so both give the same images for a seed.
"""

from keras import ops
import tensorflow as tf

from spn_keras.sampling.sub_pixel_choice import choose_sub_pixel


def _set_index(buffer, axis, index, value):
  """`buffer` with entry `index` along `axis` replaced by `value` (size 1 along `axis`)."""
  mask = ops.one_hot(index, buffer.shape[axis], dtype=buffer.dtype)
  shape = [1] * len(buffer.shape)
  shape[axis] = buffer.shape[axis]
  mask = ops.reshape(mask, shape)
  return buffer * (1 - mask) + value * mask


def _set_column(buffer, column, value):
  """Column-major `buffer (W, B, C)` with column `column` replaced by `value (B, C)`."""
  return tf.tensor_scatter_nd_update(buffer, [[column]], value[None])


def _take(buffer, axis, start, size):
  """`size` entries of `buffer` along `axis` from the (tensor) index `start`."""
  starts = [0] * len(buffer.shape)
  starts[axis] = start
  shape = [-1 if dim is None else dim for dim in buffer.shape]  # -1: a dynamic batch
  shape[axis] = size
  return ops.slice(buffer, starts, shape)


class CachedSliceSampler:
  """Incremental sampling of one slice from a `SliceDecoder`.

  Args:
    decoder: a built `SliceDecoder`.
  """

  def __init__(self, decoder):
    self.decoder = decoder
    self._row_fn = tf.function(self._row, reduce_retracing=True)

  def _initial_state(self, batch):
    d = self.decoder
    c = d.config
    h, w, k = c.height, c.width, c.kernel_size
    half = k // 2 + 1
    dtype = d.compute_dtype
    attention = [layer.init_cache(batch, h * w) for layer in d.attention_stack] if (
        c.attention_layers) else []
    vertical_inputs, vertical_above = [], []
    channels_in = c.channels * c.value_embedding_dim
    for _ in d.pixelcnn:
      vertical_inputs.append(ops.zeros((batch, h + half - 1, w + 2 * (k // 2), channels_in),
                                       dtype))
      vertical_above.append(ops.zeros((batch, w, 2 * c.pixelcnn_channels), dtype))
      channels_in = c.pixelcnn_channels
    return attention, vertical_inputs, vertical_above

  def sample(self, context, noise, temperature, record_logits=False, progress=None,
             max_rows=None):
    """Generates a slice sub-pixel by sub-pixel.

    Args:
      context: `(B, h, w, context_channels)` conditioning features, or None.
      noise: float32 `(B, h, w, C, K)` Gumbel noise (the naive sampler's).
      temperature: float32 scalar.
      record_logits: also return the logits of every step, `(B, h, w, C, K)`.
      progress: optional `keras.utils.Progbar`, advanced by one per row.
      max_rows: stop after this many rows (for benchmarks); None generates the whole slice.

    Returns:
      `(values, log_prob, logits)`: int32 `(B, h, w, C)`, float32 `(B,)` (temperature-1
      log-probabilities of the values chosen) and the step logits or None.
    """
    c = self.decoder.config
    batch = tf.shape(noise)[0]  # a tensor: the batch may be dynamic (SavedModel export)
    state = dict(values=tf.zeros([batch, c.height, c.width, c.channels], tf.int32),
                 log_prob=tf.zeros([batch], tf.float32), caches=self._initial_state(batch))
    if record_logits:
      state["logits"] = tf.zeros(tf.shape(noise), tf.float32)

    def row(r, state):
      values, log_prob, logits, *caches = self._row_fn(
          r, state["values"], state["log_prob"], state.get("logits"), *state["caches"],
          context, noise, temperature)
      if progress is not None:
        progress.add(1)
      new_state = dict(values=values, log_prob=log_prob, caches=tuple(caches))
      if record_logits:
        new_state["logits"] = logits
      return r + 1, new_state

    # Eagerly a Python loop that calls the traced row step once per row; inside a traced
    # graph (a SavedModel signature) one loop, so the graph holds the row step once, not
    # once per row.
    num_rows = c.height if max_rows is None else min(max_rows, c.height)
    _, state = tf.while_loop(lambda r, _: r < num_rows, row, (tf.constant(0), state))
    return state["values"], state["log_prob"], state.get("logits")

  def _row(self, r, values, log_prob, logits, attention, vertical_inputs, vertical_above,
           context, noise, temperature):
    """Generates row `r`, then advances the vertical stacks by that row."""
    d = self.decoder
    c = d.config
    w, k = c.width, c.kernel_size
    half = k // 2 + 1
    batch = tf.shape(values)[0]
    dtype = d.compute_dtype
    # Loop-invariant weights, masked and cast once for the whole row.
    block_weights = [block.pixel_step_weights() for block in d.pixelcnn]
    output_weights = d.output_step_weights()
    # The current row of each layer's horizontal input, column-major `(w + k//2, B, C_l)` so
    # that writing a column and reading a window are single ops (this loop is op-bound).
    horizontal_inputs = [
        ops.zeros((w + half - 1, batch, c.channels * c.value_embedding_dim), dtype)
    ] + [ops.zeros((w + half - 1, batch, c.pixelcnn_channels), dtype) for _ in d.pixelcnn[1:]]
    conditioning_width = (c.attention_channels if c.attention_layers else 0) + c.context_channels
    conditioning_row = ops.zeros((batch, w, conditioning_width), dtype)

    def pixel(col, state):
      state = dict(state)
      p = r * w + col
      context_here = None if context is None else context[:, r, col]  # (B, context_channels)
      attention_out = None
      if c.attention_layers:
        previous = tf.maximum(p - 1, 0)
        previous_pixel = d.embed(state["values"][:, previous // w, previous % w])[:, None]
        previous_pixel = previous_pixel * ops.cast(p > 0, dtype)  # (B, 1, C*E)
        sequence = d.attention_input(
            previous_pixel, d.position_embedding[p][None],
            None if context_here is None else context_here[:, None])
        caches = []
        for layer, cache in zip(d.attention_stack, state["attention"]):
          sequence, cache = layer.call_step(sequence, cache, p)
          caches.append(cache)
        state["attention"] = caches
        attention_out = d.attention_norm(sequence)[:, 0]  # (B, A)
      conditioning = d.gated_conditioning(attention_out, context_here)  # (B, C_cond) or None
      if conditioning is not None:
        state["conditioning_row"] = _set_index(state["conditioning_row"], 1, col,
                                               conditioning[:, None])
      # What the row above and the conditioning give each layer: the same for R, G and B.
      preactivations = [
          block.pixel_preactivation(vertical_above[index][:, col], conditioning, weights)
          for index, (block, weights) in enumerate(zip(d.pixelcnn, block_weights))
      ]
      column = col + half - 1
      inputs = list(state["horizontal_inputs"])
      for ch in range(c.channels):
        inputs[0] = _set_column(inputs[0], column, d.embed(state["values"][:, r, col]))
        for index, block in enumerate(d.pixelcnn):
          window = tf.transpose(inputs[index][col:col + half], (1, 0, 2))  # (B, k//2+1, C_l)
          out = block.horizontal_pixel(window, preactivations[index],
                                       block_weights[index])  # (B, F)
          if index + 1 < len(d.pixelcnn):
            inputs[index + 1] = _set_column(inputs[index + 1], column, out)
        step_logits = d.output_logits_at(out, output_weights)[:, ch]  # (B, K)
        state = choose_sub_pixel(state, step_logits, noise, temperature, r, col, ch)
      # The first layer's horizontal input at this column must hold the finished pixel.
      inputs[0] = _set_column(inputs[0], column, d.embed(state["values"][:, r, col]))
      state["horizontal_inputs"] = inputs
      return col + 1, state

    state = dict(values=values, log_prob=log_prob, attention=attention,
                 horizontal_inputs=horizontal_inputs, conditioning_row=conditioning_row)
    if logits is not None:
      state["logits"] = logits
    _, state = tf.while_loop(lambda col, _: col < w, pixel, (tf.constant(0), state))
    values, log_prob, attention = state["values"], state["log_prob"], state["attention"]
    logits = state.get("logits")
    conditioning_row = state["conditioning_row"][:, None] if conditioning_width else None

    # Row r is complete: push it through the vertical stacks.
    row = ops.pad(d.embed(values[:, r][:, None]), ((0, 0), (0, 0), (k // 2, k // 2), (0, 0)))
    new_inputs, new_above = [], []
    for index, block in enumerate(d.pixelcnn):
      buffer = _set_index(vertical_inputs[index], 1, r + half - 1, row)
      new_inputs.append(buffer)
      above, out = block.vertical_row(_take(buffer, 1, r, half), conditioning_row)
      new_above.append(above[:, 0])  # (B, w, 2F)
      row = ops.pad(out, ((0, 0), (0, 0), (k // 2, k // 2), (0, 0)))
    return values, log_prob, logits, attention, new_inputs, new_above
