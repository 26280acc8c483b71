"""`GatedPixelCNNBlock`: one layer of the Gated PixelCNN, with vertical and horizontal stacks."""

import keras
from keras import ops
import numpy as np

from spn_keras.layers import masks


def gated_activation(x):
  """`tanh(a) * sigmoid(b)` with `a, b` the two halves of the channels of `x`.

  Gated convolutions give their `2F` outputs the colour groups `channel_groups(F)` twice over
  (`_gate_groups`), so output `i` pairs two inputs of the same colour group.

  Args:
    x: `(..., 2F)`.

  Returns:
    `(..., F)`.
  """
  a, b = ops.split(x, 2, axis=-1)
  return ops.tanh(a) * ops.sigmoid(b)


@keras.saving.register_keras_serializable(package="spn_keras")
class GatedPixelCNNBlock(keras.layers.Layer):
  """A gated PixelCNN layer without blind spot (van den Oord et al. 2016c, figure 2).

  Two stacks run side by side. The *vertical* stack at row `r` sees rows `<= r` of its input
  through a `(k//2 + 1) x k` kernel; it reaches the horizontal stack shifted down by one row,
  so only rows `< r` ever inform row `r`. The *horizontal* stack at `(r, c)` sees columns
  `< c` of row `r` through a `1 x (k//2 + 1)` kernel whose last tap (the current pixel) is
  masked over colour-channel groups: mask "A" for the first layer, "B" afterwards, as in
  `MaskedConv2D`. Both stacks use gated units `tanh(a) * sigmoid(b)`; the horizontal output
  goes through a channel-masked 1x1 convolution and, when `residual`, is added to its input.

  An optional `conditioning` input `(B, H, W, C_cond)` (the decoder's attention output and
  context features, SPN_SPEC section 4) is projected by 1x1 convolutions and added to both
  stacks before the gate. It must only depend on sub-pixels that precede every colour channel of
  the pixel at its position; the block does not mask it.

  Args:
    filters: `F`, feature maps of each stack, at least `color_channels`.
    kernel_size: odd `k >= 3`; the stacks see `k // 2` pixels to each side per layer.
    mask_type: "A" (first layer: the horizontal input is the image) or "B".
    color_channels: 1 or 3.
    residual: add the horizontal input to the horizontal output (needs `F` input channels).
    kernel_initializer: initializer of every kernel.
    **kwargs: passed to `keras.layers.Layer`.

  Call args:
    vertical: `(B, H, W, C_v)` vertical-stack input (the image for the first layer).
    horizontal: `(B, H, W, C_h)` horizontal-stack input, `C_h >= color_channels`.
    conditioning: optional `(B, H, W, C_cond)`.

  Returns:
    `(vertical_out, horizontal_out)`, each `(B, H, W, F)`.
  """

  def __init__(self,
               filters,
               kernel_size=3,
               mask_type="B",
               color_channels=1,
               residual=True,
               kernel_initializer="glorot_uniform",
               **kwargs):
    super().__init__(**kwargs)
    masks.check_mask_type(mask_type)
    masks.check_grouping("filters", filters, color_channels)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or (
        kernel_size < 3 or kernel_size % 2 == 0):
      raise ValueError(f"`kernel_size` must be an odd int >= 3, got {kernel_size!r}.")
    if residual and mask_type == "A":
      raise ValueError("`residual=True` needs `mask_type='B'`: with mask 'A' the horizontal "
                       "input holds the current sub-pixel, which the output must not see.")
    self.filters = filters
    self.kernel_size = kernel_size
    self.mask_type = mask_type
    self.color_channels = color_channels
    self.residual = residual
    self.kernel_initializer = keras.initializers.get(kernel_initializer)

  def build(self, vertical_shape, horizontal_shape, conditioning_shape=None):
    for name, shape in (("vertical", vertical_shape), ("horizontal", horizontal_shape)):
      if len(shape) != 4:
        raise ValueError(f"GatedPixelCNNBlock expects `{name}` of rank 4 (B, H, W, C), "
                         f"got shape {shape}.")
    k, f2 = self.kernel_size, 2 * self.filters
    half = k // 2 + 1
    h_in = horizontal_shape[-1]
    masks.check_grouping("horizontal input channels", h_in, self.color_channels)
    out_group = masks.channel_groups(self.filters, self.color_channels)
    if self.residual and h_in != self.filters:
      raise ValueError(f"`residual=True` needs `horizontal` to have `filters` ({self.filters}) "
                       f"channels, got {h_in}.")
    # The horizontal kernel's last column is the current pixel: mask it over colour groups.
    self._horizontal_mask = masks.raster_kernel_mask(
        (1, 2 * half - 1), masks.channel_groups(h_in, self.color_channels),
        np.tile(out_group, 2), self.mask_type)[:, :half]
    self._output_mask = masks.channel_group_mask(out_group, out_group, "B")[None, None]
    init = self.kernel_initializer
    self.vertical_kernel = self.add_weight(
        name="vertical_kernel", shape=(half, k, vertical_shape[-1], f2), initializer=init)
    self.vertical_bias = self.add_weight(name="vertical_bias", shape=(f2,), initializer="zeros")
    self.horizontal_kernel = self.add_weight(
        name="horizontal_kernel", shape=(1, half, h_in, f2), initializer=init)
    self.horizontal_bias = self.add_weight(
        name="horizontal_bias", shape=(f2,), initializer="zeros")
    self.vertical_to_horizontal_kernel = self.add_weight(
        name="vertical_to_horizontal_kernel", shape=(1, 1, f2, f2), initializer=init)
    self.output_kernel = self.add_weight(
        name="output_kernel", shape=(1, 1, self.filters, self.filters), initializer=init)
    self.output_bias = self.add_weight(
        name="output_bias", shape=(self.filters,), initializer="zeros")
    if conditioning_shape is not None:
      c = conditioning_shape[-1]
      self.conditioning_vertical_kernel = self.add_weight(
          name="conditioning_vertical_kernel", shape=(1, 1, c, f2), initializer=init)
      self.conditioning_horizontal_kernel = self.add_weight(
          name="conditioning_horizontal_kernel", shape=(1, 1, c, f2), initializer=init)
    self._has_conditioning = conditioning_shape is not None

  def _mask(self, array, dtype=None):
    return ops.convert_to_tensor(array, dtype=dtype or self.compute_dtype)

  def _cast(self, weight, dtype=None):
    # Cast explicitly, as `step_weights` does outside `__call__`, so that both paths agree under
    # a mixed precision policy.
    return ops.cast(weight, dtype or self.compute_dtype)

  def _vertical_preactivation(self, padded_vertical, conditioning):
    """Vertical stack before the gate; `padded_vertical` is padded so that 'valid' fits."""
    v = ops.conv(padded_vertical, self._cast(self.vertical_kernel), padding="valid")
    v = v + self._cast(self.vertical_bias)
    if conditioning is not None:
      # Conditioning at row r only depends on sub-pixels before row r + 1, where the shifted
      # vertical stack delivers it.
      v = v + ops.conv(conditioning, self._cast(self.conditioning_vertical_kernel))
    return v

  def _horizontal_output(self, padded_horizontal, vertical_above, conditioning, residual_input):
    """Horizontal stack output from its padded input and the vertical stack of the row above."""
    h_kernel = self._cast(self.horizontal_kernel) * self._mask(self._horizontal_mask)
    h = ops.conv(padded_horizontal, h_kernel, padding="valid") + self._cast(self.horizontal_bias)
    h = h + ops.conv(vertical_above, self._cast(self.vertical_to_horizontal_kernel))
    if conditioning is not None:
      h = h + ops.conv(conditioning, self._cast(self.conditioning_horizontal_kernel))
    out_kernel = self._cast(self.output_kernel) * self._mask(self._output_mask)
    out = ops.conv(gated_activation(h), out_kernel) + self._cast(self.output_bias)
    return out + residual_input if self.residual else out

  def _check_conditioning(self, conditioning):
    if (conditioning is not None) != self._has_conditioning:
      raise ValueError("GatedPixelCNNBlock was built "
                       f"{'with' if self._has_conditioning else 'without'} `conditioning`; "
                       "call it the same way every time.")

  def call(self, vertical, horizontal, conditioning=None):
    self._check_conditioning(conditioning)
    k = self.kernel_size
    half = k // 2 + 1
    # Vertical stack: output row r sees input rows r - k//2 .. r.
    padded = ops.pad(vertical, ((0, 0), (half - 1, 0), (k // 2, k // 2), (0, 0)))
    v = self._vertical_preactivation(padded, conditioning)  # (B, H, W, 2F)
    # Shift the vertical stack down one row so that row r only hears rows < r. (`slice`, not
    # `[:, :-1]`: its gradient is a pad, far cheaper than the generic strided-slice gradient.)
    height = ops.shape(v)[1]
    v_shifted = ops.pad(ops.slice(v, (0, 0, 0, 0), (-1, height - 1, -1, -1)),
                        ((0, 0), (1, 0), (0, 0), (0, 0)))
    # Horizontal stack: output column c sees input columns c - k//2 .. c (masked at c).
    padded = ops.pad(horizontal, ((0, 0), (0, 0), (half - 1, 0), (0, 0)))
    horizontal_out = self._horizontal_output(padded, v_shifted, conditioning, horizontal)
    return gated_activation(v), horizontal_out  # (B, H, W, F) each

  # Incremental generation (`spn_keras.sampling.CachedSliceSampler`). The horizontal stack's
  # preactivation columns are reordered group-major, `[a_0, b_0, a_1, b_1, ...]` (`a_g`, `b_g`
  # the two gate halves of colour group g), so that each group's slice is contiguous.
  def horizontal_column_order(self):
    """Permutation of the `2F` horizontal preactivation columns into group-major order."""
    f = self.filters
    return np.concatenate([np.r_[start:end, f + start:f + end]
                           for start, end in masks.group_bounds(f, self.color_channels)])

  def step_weights(self, dtype=None):
    """Masked weights of both stacks as matrices, for `vertical_step` and `horizontal_group_step`.

    Computed once per generated slice, so that the per-position work is plain matrix products
    over exactly the inputs each colour group may see.

    Args:
      dtype: compute dtype of the step (default: the layer's).

    Returns:
      dict of tensors (`2F'`: horizontal columns in `horizontal_column_order`):
      - `vertical_kernel` `(k//2+1, k, C_v, 2F)`, `vertical_bias` `(2F,)` and, when built with
        conditioning, `conditioning_vertical` `(C_cond, 2F)`;
      - `previous` `(k//2 * C_h, 2F')`: the taps of the columns left of the current one,
        rows ordered (column, channel) from the leftmost column;
      - `horizontal_bias` `(2F',)`, `vertical_to_horizontal` `(2F, 2F')` and
        `conditioning_horizontal` `(C_cond, 2F')` (with conditioning);
      - `groups`: one dict per colour group g with `current` `(n_in, 2 n_g)` (the current
        column's taps from the `n_in` input maps group g may see, or None when it sees none),
        `output` `(end_g, n_g)` and `output_bias` `(n_g,)`; plus the Python ints `start` and
        `end` of the group's feature maps.
    """
    cast = lambda weight: self._cast(weight, dtype)  # noqa: E731
    k, f = self.kernel_size, self.filters
    half = k // 2 + 1
    order = self.horizontal_column_order()
    horizontal = cast(self.horizontal_kernel) * self._mask(self._horizontal_mask, dtype)
    horizontal = ops.take(horizontal[0], order, axis=-1)  # (k//2+1, C_h, 2F')
    h_in = horizontal.shape[1]
    output = (cast(self.output_kernel) * self._mask(self._output_mask, dtype))[0, 0]
    in_bounds = masks.group_bounds(h_in, self.color_channels)
    groups = []
    for g, (start, end) in enumerate(masks.group_bounds(f, self.color_channels)):
      # Mask B: the current column's input groups <= g; mask A: groups < g.
      seen = in_bounds[g][1] if self.mask_type == "B" else in_bounds[g][0]
      groups.append({
          "start": start,
          "end": end,
          "current": horizontal[half - 1, :seen, 2 * start:2 * end] if seen else None,
          "output": output[:end, start:end],
          "output_bias": cast(self.output_bias)[start:end],
      })
    weights = {
        "vertical_kernel": cast(self.vertical_kernel),
        "vertical_bias": cast(self.vertical_bias),
        "previous": ops.reshape(horizontal[:half - 1], ((half - 1) * h_in, 2 * f)),
        "horizontal_bias": ops.take(cast(self.horizontal_bias), order),
        "vertical_to_horizontal": ops.take(cast(self.vertical_to_horizontal_kernel)[0, 0],
                                           order, axis=-1),
        "groups": groups,
    }
    if self._has_conditioning:
      weights["conditioning_vertical"] = cast(self.conditioning_vertical_kernel)[0, 0]
      weights["conditioning_horizontal"] = ops.take(
          cast(self.conditioning_horizontal_kernel)[0, 0], order, axis=-1)
    return weights

  def vertical_step(self, vertical_rows, conditioning_preactivation, weights):
    """One output row of the vertical stack.

    Args:
      vertical_rows: `(B, k//2 + 1, W + 2*(k//2), C_v)`: input rows `r - k//2 .. r`, zero rows
        above the image and `k//2` zero columns on each side.
      conditioning_preactivation: `(B, W, 2F)`: row `r`'s conditioning times
        `weights["conditioning_vertical"]`, or None without conditioning.
      weights: `step_weights()`.

    Returns:
      `(preactivation, output)`: `(B, W, 2F)` (what row `r + 1` of the horizontal stack hears,
      through `vertical_to_horizontal`) and `(B, W, F)` (the next layer's vertical input),
      equal to row `r` of `call`.
    """
    v = ops.conv(vertical_rows, weights["vertical_kernel"], padding="valid")[:, 0]
    v = v + weights["vertical_bias"]
    if conditioning_preactivation is not None:
      v = v + conditioning_preactivation
    return v, gated_activation(v)

  def horizontal_group_step(self, group, preactivation, current_inputs, gated, weights):
    """Colour group `group` of the horizontal stack's output at one position.

    Args:
      group: the colour group g (a Python int).
      preactivation: `(B, 2F')` horizontal preactivation at the position without the current
        column's term: bias, the row above (`vertical_to_horizontal`), conditioning and the
        columns to the left (`previous`), columns in `horizontal_column_order`.
      current_inputs: the current column's input groups known so far, `[(B, n_in_0), ...]`:
        at least `g + 1` of them (mask "B") or `g` (mask "A").
      gated: this layer's gated units of groups `< g` at the position, `[(B, n_0), ...]`.
      weights: `step_weights()`.

    Returns:
      `(gated_g, output_g)`, `(B, n_g)` each: the group's gated units (pass them back in
      `gated` for later groups) and its output, equal to `call`'s horizontal output there.
    """
    group_weights = weights["groups"][group]
    start, end = group_weights["start"], group_weights["end"]
    pre = preactivation[:, 2 * start:2 * end]
    if group_weights["current"] is not None:
      seen = group + 1 if self.mask_type == "B" else group
      current = ops.concatenate(current_inputs[:seen], axis=-1)
      pre = pre + ops.matmul(current, group_weights["current"])
    a, b = ops.split(pre, 2, axis=-1)
    gated_group = ops.tanh(a) * ops.sigmoid(b)
    out = ops.matmul(ops.concatenate(list(gated[:group]) + [gated_group], axis=-1),
                     group_weights["output"])
    out = out + group_weights["output_bias"]
    return gated_group, out + current_inputs[group] if self.residual else out

  def compute_output_shape(self, vertical_shape, horizontal_shape, conditioning_shape=None):
    shape = tuple(horizontal_shape[:-1]) + (self.filters,)
    return shape, shape

  def get_config(self):
    config = super().get_config()
    config.update({
        "filters": self.filters,
        "kernel_size": self.kernel_size,
        "mask_type": self.mask_type,
        "color_channels": self.color_channels,
        "residual": self.residual,
        "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
    })
    return config
