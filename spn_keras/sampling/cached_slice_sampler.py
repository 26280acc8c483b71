"""`CachedSliceSampler`: generates a slice with per-layer caches instead of recomputation.

Naive autoregressive sampling runs the whole decoder once per sub-pixel: `h*w*C` passes over
`h*w` positions. The decoder's structure allows far less (after Ramachandran et al. 2017,
"Fast Generation for Convolutional Autoregressive Models"); this sampler does only the work
that the next sub-pixel needs:
- *Per slice*: the weights are masked, cast and reshaped into matrices once; the attention
  stack's position and context terms and the context's share of every gated layer's
  conditioning are projected for all positions and layers at once.
- *Per row*: the vertical stacks advance by one row (one convolution per layer, when the row
  is complete), and what the row above gives each layer's horizontal stack is one batched
  matrix product for all layers and columns.
- *Per pixel*: the masked attention stack computes one new position (its output at pixel p
  depends on pixels < p only) with key/value caches updated in place; the attention
  output's share of the conditioning of all layers is one matrix product; each horizontal
  stack's term from the columns to the left is computed once.
- *Per sub-pixel* (colour channel g): each layer computes only its output group g from the
  input groups that group may see (`GatedPixelCNNBlock.horizontal_group_step`), and the
  output layers only the `2**bits` logits of channel g (`SliceDecoder.output_group_logits`).
The row and pixel loops run inside one `tf.function` per slice, compiled by XLA by default
(`jit_compile=True`: loop state is updated in place and small ops are fused; on the CPU this
is several times faster than the plain graph, see `bench/sampling.py`).

The logits at every step equal the naive sampler's up to float rounding (the same sums in
another order) and the same noise is used, so in float32 both give the same images for a
seed. `compute_dtype="bfloat16"` samples in bfloat16 instead: faster where the hardware has
bfloat16 units, but not bit-identical to float32 (the images of a seed may differ).
"""

import functools

from keras import ops
import tensorflow as tf

from spn_keras.argument_checks import ArgumentError
from spn_keras.argument_checks import check_bool
from spn_keras.ops.slice_updates import update_slice
from spn_keras.sampling.sub_pixel_choice import gumbel_max_choice


def _dense(layer, inputs, dtype):
  """`layer(inputs)` for a `keras.layers.Dense` without activation, computed in `dtype`."""
  return ops.matmul(inputs, ops.cast(layer.kernel, dtype)) + ops.cast(layer.bias, dtype)


def _keep_shapes(new_state, state):
  """`new_state` with the static shapes of `state` (a loop's state keeps its shapes)."""
  for new, old in zip(tf.nest.flatten(new_state), tf.nest.flatten(state)):
    new.set_shape(old.shape)
  return new_state


def _columns(buffer, start, size):
  """`buffer[start:start + size]` with a static size (XLA needs static shapes)."""
  return tf.slice(buffer, [start] + [0] * (len(buffer.shape) - 1),
                  [size] + [-1] * (len(buffer.shape) - 1))


COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


def check_compute_dtype(compute_dtype):
  """Returns `compute_dtype` (None or one of `COMPUTE_DTYPES`, as a name); raises otherwise.

  Raises:
    ArgumentError: naming `compute_dtype` and the dtypes accepted.
  """
  if compute_dtype is None:
    return None
  name = getattr(compute_dtype, "name", compute_dtype)  # a tf.DType or numpy dtype
  if name not in COMPUTE_DTYPES:
    raise ArgumentError("compute_dtype", f"None or one of {list(COMPUTE_DTYPES)}", compute_dtype)
  return name


class CachedSliceSampler:
  """Incremental sampling of one slice from a `SliceDecoder`.

  Args:
    decoder: a built `SliceDecoder`.
    jit_compile: compile each slice's generation with XLA (the default, and the faster on
      the CPUs measured); False runs the same program as a plain TensorFlow graph whose ops
      all have ordinary kernels (the in-place updates use `update_slice(portable=True)`), as
      TF Serving needs; the images are the same.
    compute_dtype: dtype of the sampler's arithmetic; default: the decoder's compute dtype.
      Logits are always float32.
  """

  def __init__(self, decoder, jit_compile=True, compute_dtype=None):
    self.decoder = decoder
    self.jit_compile = check_bool("jit_compile", jit_compile)
    self.compute_dtype = check_compute_dtype(compute_dtype) or decoder.compute_dtype
    # The loops are explicit `tf.while_loop`s, so the programs trace without AutoGraph's
    # source transformation (which took most of a first call's tracing time).
    self._slice_fn = tf.function(self._sample_slice, jit_compile=jit_compile,
                                 reduce_retracing=True, autograph=False)
    # The coding program: always XLA-compiled (its chooser is traced into it).
    self._code_fn = tf.function(self._code_slice, jit_compile=True, reduce_retracing=True,
                                autograph=False)

  def sample(self, context, noise, temperature, record_logits=False, max_rows=None):
    """Generates a slice sub-pixel by sub-pixel.

    Args:
      context: `(B, h, w, context_channels)` conditioning features, or None.
      noise: float32 `(B, h, w, C, K)` Gumbel noise (the naive sampler's).
      temperature: float32 scalar.
      record_logits: also return the logits of every step, `(B, h, w, C, K)`.
      max_rows: stop after this many rows (for benchmarks); None generates the whole slice.

    Returns:
      `(values, log_prob, logits)`: int32 `(B, h, w, C)`, float32 `(B,)` (temperature-1
      log-probabilities of the values chosen) and the step logits or None.
    """
    height = self.decoder.config.height
    num_rows = height if max_rows is None else min(max_rows, height)
    if context is not None:
      context = tf.cast(context, self.compute_dtype)
    return self._slice_fn(context, noise, tf.cast(temperature, tf.float32),
                          tf.constant(num_rows, tf.int32), record_logits)

  def _weights(self):
    """Every layer's step weights in the sampler's dtype, read from the variables now."""
    d, dtype = self.decoder, self.compute_dtype
    return {
        "embedding": ops.cast(d.value_embedding.embeddings, dtype),  # (C*K, E)
        "attention": [layer.step_weights(dtype) for layer in
                      (d.attention_stack if d.config.attention_layers else [])],
        "pixelcnn": [block.step_weights(dtype) for block in d.pixelcnn],
        "output": d.output_step_weights(dtype),
    }

  def code(self, context, batch_size, chooser, inputs, chooser_state):
    """Runs the slice program with every sub-pixel's value picked by a traced `chooser`.

    The path that the lossless codec's encoder and decoder share
    (`spn_keras.codec.coding_streams`): both run this one XLA-compiled program on inputs of
    the same shapes, so both see bit-identical logits; the chooser (traced into the program)
    takes the known values in the encoder and decodes them from the stream in the decoder.

    Args:
      context: `(B, h, w, context_channels)` conditioning features, or None.
      batch_size: `B`, a Python int.
      chooser: `fn(step_logits, row, col, channel, inputs, chooser_state) -> (values,
        chooser_state)`: given the float32 logits `(B, K)` of sub-pixel `(row, col,
        channel)` (int32 scalar tensors, `channel` a Python int), the int32 `(B,)` values
        and the new state. A module-level function: it is part of the program's trace key.
      inputs: nested structure of tensors the chooser reads.
      chooser_state: nested structure of tensors (static shapes) threaded through the
        sub-pixels in the model's order.

    Returns:
      `(values, log_prob, chooser_state)`: int32 `(B, h, w, C)` (the values chosen), float32
      `(B,)` their log-probabilities under the model, in nats, and the final chooser state.
    """
    if context is not None:
      context = tf.cast(context, self.compute_dtype)
    return self._code_fn(context, tf.constant(batch_size, tf.int32), chooser, inputs,
                         chooser_state)

  def _code_slice(self, context, batch_size, chooser, inputs, chooser_state):
    def choose(step_logits, r, col, g, state):
      choice, state["chooser"] = chooser(step_logits, r, col, g, inputs, state["chooser"])
      return choice, tf.gather(tf.nn.log_softmax(step_logits), choice, batch_dims=1)

    height = tf.constant(self.decoder.config.height, tf.int32)
    values, log_prob, _, chooser_state = self._slice_program(
        context, batch_size, choose, height, False, portable=False, chooser_state=chooser_state)
    return values, log_prob, chooser_state

  def _sample_slice(self, context, noise, temperature, num_rows, record_logits):
    """The sampling program: Gumbel-max choices (see `sample` for the arguments)."""
    def choose(step_logits, r, col, g, state):
      del state  # Gumbel-max choices need no state of their own
      return gumbel_max_choice(step_logits, noise[:, r, col, g], temperature)

    values, log_prob, logits, _ = self._slice_program(
        context, tf.shape(noise)[0], choose, num_rows, record_logits,
        portable=not self.jit_compile)
    return values, log_prob, logits

  def _slice_program(self, context, batch, choose, num_rows, record_logits, portable,
                     chooser_state=None):
    """The slice program, traced once per input signature of its caller.

    `choose(step_logits (B, K), r, col, g, state) -> (values (B,), log_probs (B,))` picks the
    value of sub-pixel `(r, col, g)` (`g` a Python int); it may replace `state["chooser"]`,
    the loop state's `chooser_state` (returned last). Loop state: the slice's values,
    log-probabilities and optionally logits; per attention layer its key/value caches; per
    gated layer its vertical input rows (`k//2 + 1`, zero rows above the image) and, from the
    row above, its vertical preactivation; along the current row each layer's horizontal
    input (column-major, `k//2` zero columns on the left). The state is updated in place
    with `update_slice`: XLA's `slice_update` when the program is XLA-compiled, the portable
    variant (ordinary kernels) when `portable` (a plain graph: `jit_compile=False`, the
    coding program, the exported signatures).
    """
    update = functools.partial(update_slice, portable=portable)
    d, dtype = self.decoder, self.compute_dtype
    c = d.config
    h, w, channels, k = c.height, c.width, c.channels, c.kernel_size
    half = k // 2 + 1
    num_values = 2**c.bits
    layers = len(d.pixelcnn)
    f2 = 2 * c.pixelcnn_channels
    weights = self._weights()
    blocks = weights["pixelcnn"]

    def embed(values, channel):
      """Value embeddings `(B, ..., E)` of colour channel `channel`'s int values."""
      return tf.gather(weights["embedding"], values + channel * num_values)

    # Per slice: the attention stack's input terms that do not depend on the pixels, and
    # every gated layer's conditioning matrices side by side, split into the attention rows
    # (used per pixel) and the context rows (per row). Weights are never sliced inside the
    # loops: XLA would fuse the slice into the product and run it as a slow strided loop.
    attention_rows = c.attention_channels if c.attention_layers else 0
    conditioning_vertical = attention_conditioning = context_conditioning = None
    if c.attention_layers or c.context_channels:
      conditioning_vertical = tf.concat(  # (C_cond, L * 2F)
          [block["conditioning_vertical"] for block in blocks], axis=-1)
    if c.attention_layers:  # (A, L * 2F'): all layers side by side
      attention_conditioning = tf.concat(
          [block["conditioning_horizontal"][:attention_rows] for block in blocks], axis=-1)
    if c.context_channels:  # (C_ctx, L * 2F')
      context_conditioning = tf.concat(
          [block["conditioning_horizontal"][attention_rows:] for block in blocks], axis=-1)
    sequence_base = None
    if c.attention_layers:
      sequence_base = ops.cast(d.position_embedding, dtype)[None]  # (1, h*w, A)
      if context is not None:
        flat_context = tf.reshape(context, [batch, h * w, c.context_channels])
        sequence_base = sequence_base + _dense(d.context_projection, flat_context, dtype)
    # The previous columns' taps of layers 1.. stacked for one batched product per pixel.
    previous_kernels = tf.stack([block["previous"] for block in blocks[1:]]) if (
        layers > 1 and half > 1) else None  # (L-1, k//2 * F, 2F')
    vertical_to_horizontal = tf.stack([b["vertical_to_horizontal"] for b in blocks])
    horizontal_bias = tf.stack([b["horizontal_bias"] for b in blocks])  # (L, 2F')

    def row(r, old_state):
      state = old_state
      context_row = None if context is None else context[:, r]  # (B, w, C_ctx)
      # What the row above, the context and the bias give every layer: (w, L, B, 2F').
      row_terms = tf.einsum("lbwi,lio->wlbo", state["above"], vertical_to_horizontal)
      row_terms += horizontal_bias[None, :, None]
      if context_row is not None:
        context_terms = tf.matmul(context_row, context_conditioning)
        row_terms += tf.transpose(tf.reshape(context_terms, [batch, w, layers, f2]),
                                  (1, 2, 0, 3))

      def pixel(col, old_state):
        state = dict(old_state)
        p = r * w + col
        terms = row_terms[col]  # (L, B, 2F')
        if c.attention_layers:
          x = _dense(d.pixel_projection, state["previous_pixel"], dtype)
          x += sequence_base[:, p]
          caches = []
          for layer, layer_weights, cache in zip(d.attention_stack, weights["attention"],
                                                 state["attention"]):
            x, cache = layer.step(x, cache, p, layer_weights, portable=portable)
            caches.append(cache)
          state["attention"] = caches
          attention = ops.cast(d.attention_norm(x), dtype)  # (B, A)
          state["attention_row"] = update(state["attention_row"], (0, col, 0),
                                          attention[:, None])
          attention_terms = tf.matmul(attention, attention_conditioning)
          terms += tf.transpose(tf.reshape(attention_terms, [batch, layers, f2]), (1, 0, 2))
        # The columns to the left: one product per layer (layers 1.. batched).
        if half > 1:
          window = tf.transpose(_columns(state["horizontal_inputs"], col, half - 1), (1, 0, 2))
          first = terms[0] + tf.matmul(tf.reshape(window, [batch, -1]), blocks[0]["previous"])
          terms = first[None] if layers == 1 else tf.concat([first[None], terms[1:]], axis=0)
          if previous_kernels is not None:
            window = tf.transpose(_columns(state["hidden_inputs"], col, half - 1), (1, 2, 0, 3))
            window = tf.reshape(window, [layers - 1, batch, -1])  # (L-1, B, k//2 * F)
            terms = tf.concat([terms[:1], terms[1:] + tf.matmul(window, previous_kernels)],
                              axis=0)
        # The sub-pixels of the pixel, channel by channel: only the groups each one needs.
        inputs = [[] for _ in range(layers + 1)]  # inputs[l]: layer l's current column groups
        gated = [[] for _ in range(layers)]
        hidden, chosen, logits, log_probs = [], [], [], []
        for g in range(channels):
          for index, block in enumerate(d.pixelcnn):
            gated_group, out = block.horizontal_group_step(g, terms[index], inputs[index],
                                                           gated[index], blocks[index])
            gated[index].append(gated_group)
            inputs[index + 1].append(out)
          hidden_group, step_logits = d.output_group_logits(g, inputs[layers], hidden,
                                                            weights["output"])
          hidden.append(hidden_group)
          choice, choice_log_prob = choose(step_logits, r, col, g, state)
          log_probs.append(choice_log_prob)
          chosen.append(choice)
          logits.append(step_logits)
          inputs[0].append(embed(choice, g))
        state["log_prob"] = state["log_prob"] + tf.reduce_sum(tf.stack(log_probs), axis=0)
        state["values"] = update(state["values"], (0, r, col, 0),
                                 tf.stack(chosen, axis=-1)[:, None, None])
        if record_logits:
          state["logits"] = update(state["logits"], (0, r, col, 0, 0),
                                   tf.stack(logits, axis=1)[:, None, None])
        pixel_embedding = tf.concat(inputs[0], axis=-1)  # (B, C*E)
        if c.attention_layers:
          state["previous_pixel"] = pixel_embedding
        column = col + half - 1
        state["horizontal_inputs"] = update(state["horizontal_inputs"], (column, 0, 0),
                                            pixel_embedding[None])
        if layers > 1:
          outputs = tf.stack([tf.concat(groups, axis=-1) for groups in inputs[1:layers]])
          state["hidden_inputs"] = update(state["hidden_inputs"], (column, 0, 0, 0),
                                          outputs[None])
        return col + 1, _keep_shapes(state, old_state)

      _, state = tf.while_loop(lambda col, _: col < w, pixel, (tf.constant(0), state))
      state = dict(state)
      # Row r is complete: push it through the vertical stacks.
      conditioning_row = [t for t in (state.get("attention_row"), context_row) if t is not None]
      vertical_terms = None
      if conditioning_row:
        vertical_terms = tf.matmul(tf.concat(conditioning_row, axis=-1), conditioning_vertical)
        vertical_terms = tf.reshape(vertical_terms, [batch, w, layers, f2])
      new_row = tf.transpose(state["horizontal_inputs"][half - 1:], (1, 0, 2))  # (B, w, C*E)
      windows, above = [], []
      for index, block in enumerate(d.pixelcnn):
        padded = tf.pad(new_row, [[0, 0], [k // 2, k // 2], [0, 0]])
        window = tf.concat([state["vertical_inputs"][index][:, 1:], padded[:, None]], axis=1)
        windows.append(window)
        preactivation, new_row = block.vertical_step(
            window, None if vertical_terms is None else vertical_terms[:, :, index],
            blocks[index])
        above.append(preactivation)
      state["vertical_inputs"] = windows
      state["above"] = tf.stack(above)  # (L, B, w, 2F)
      return r + 1, _keep_shapes(state, old_state)

    state = {
        "values": tf.zeros([batch, h, w, channels], tf.int32),
        "log_prob": tf.zeros([batch], tf.float32),
        "above": tf.zeros([layers, batch, w, f2], dtype),
        "vertical_inputs": [
            tf.zeros([batch, half, w + 2 * (k // 2), channels * c.value_embedding_dim
                      if index == 0 else c.pixelcnn_channels], dtype)
            for index in range(layers)
        ],
        # Each layer's horizontal input along the current row, column-major, with k//2 zero
        # columns on the left: `(w + k//2, B, C*E)` for layer 0, `(w + k//2, L-1, B, F)` for
        # the others.
        "horizontal_inputs": tf.zeros([w + half - 1, batch, channels * c.value_embedding_dim],
                                      dtype),
    }
    if layers > 1:
      state["hidden_inputs"] = tf.zeros([w + half - 1, layers - 1, batch, c.pixelcnn_channels],
                                        dtype)
    if c.attention_layers:
      state["attention"] = [layer.init_cache(batch, h * w, dtype) for layer in d.attention_stack]
      state["attention_row"] = tf.zeros([batch, w, c.attention_channels], dtype)
      state["previous_pixel"] = tf.zeros([batch, channels * c.value_embedding_dim], dtype)
    if record_logits:
      state["logits"] = tf.zeros([batch, h, w, channels, num_values], tf.float32)
    if chooser_state is not None:
      state["chooser"] = chooser_state
    _, state = tf.while_loop(lambda r, _: r < num_rows, row, (tf.constant(0), state))
    return state["values"], state["log_prob"], state.get("logits"), state.get("chooser")
