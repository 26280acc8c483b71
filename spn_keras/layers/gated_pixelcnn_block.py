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

  def _mask(self, array):
    return ops.convert_to_tensor(array, dtype=self.compute_dtype)

  def _cast(self, weight):
    # `vertical_row` and `horizontal_pixel` run outside `__call__`, where Keras would autocast
    # weights under a mixed precision policy; cast explicitly so both paths agree.
    return ops.cast(weight, self.compute_dtype)

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
    # Shift the vertical stack down one row so that row r only hears rows < r.
    v_shifted = ops.pad(v, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]
    # Horizontal stack: output column c sees input columns c - k//2 .. c (masked at c).
    padded = ops.pad(horizontal, ((0, 0), (0, 0), (half - 1, 0), (0, 0)))
    horizontal_out = self._horizontal_output(padded, v_shifted, conditioning, horizontal)
    return gated_activation(v), horizontal_out  # (B, H, W, F) each

  def vertical_row(self, vertical_rows, conditioning_row=None):
    """One output row of the vertical stack, for incremental (cached) generation.

    Args:
      vertical_rows: `(B, k//2 + 1, W + 2*(k//2), C_v)`: input rows `r - k//2 .. r`, zero rows
        above the image and `k//2` zero columns on each side.
      conditioning_row: `(B, 1, W, C_cond)` conditioning of row `r`, or None.

    Returns:
      `(preactivation, output)`: `(B, 1, W, 2F)` (what row `r + 1` of the horizontal stack
      hears) and `(B, 1, W, F)` (the next layer's vertical input), equal to row `r` of `call`.
    """
    self._check_conditioning(conditioning_row)
    v = self._vertical_preactivation(vertical_rows, conditioning_row)
    return v, gated_activation(v)

  def pixel_step_weights(self):
    """Masked, cast weights of the horizontal stack as matrices, for `horizontal_pixel`.

    Computed once per sampling pass: the per-position path then runs on plain matrix
    products instead of masking kernels and launching convolutions at every sub-pixel.

    Returns:
      dict of tensors: `horizontal` `((k//2+1) * C_h, 2F)`, `horizontal_bias` `(2F,)`,
      `vertical_to_horizontal` `(2F, 2F)`, `conditioning` `(C_cond, 2F)` (if built with
      conditioning), `output` `(F, F)` and `output_bias` `(F,)`.
    """
    f2 = 2 * self.filters
    kernel = self._cast(self.horizontal_kernel) * self._mask(self._horizontal_mask)
    weights = {
        "horizontal": ops.reshape(kernel, (-1, f2)),
        "horizontal_bias": self._cast(self.horizontal_bias),
        "vertical_to_horizontal": ops.reshape(self._cast(self.vertical_to_horizontal_kernel),
                                              (f2, f2)),
        "output": (self._cast(self.output_kernel) * self._mask(self._output_mask))[0, 0],
        "output_bias": self._cast(self.output_bias),
    }
    if self._has_conditioning:
      weights["conditioning"] = self._cast(self.conditioning_horizontal_kernel)[0, 0]
    return weights

  def pixel_preactivation(self, vertical_above, conditioning, weights):
    """The part of the horizontal preactivation at `(r, c)` that row `r` does not change.

    Args:
      vertical_above: `(B, 2F)`: the vertical preactivation of row `r - 1` at column `c`
        (`vertical_row` of the row above; zeros for row 0).
      conditioning: `(B, C_cond)` conditioning at `(r, c)`, or None.
      weights: `pixel_step_weights()`.

    Returns:
      `(B, 2F)`, shared by the colour channels of the pixel.
    """
    self._check_conditioning(conditioning)
    pre = weights["horizontal_bias"] + ops.matmul(vertical_above,
                                                  weights["vertical_to_horizontal"])
    if conditioning is not None:
      pre = pre + ops.matmul(conditioning, weights["conditioning"])
    return pre

  def horizontal_pixel(self, horizontal_columns, preactivation, weights):
    """The horizontal stack's output at one position, for incremental generation.

    Args:
      horizontal_columns: `(B, k//2 + 1, C_h)`: the horizontal input at columns
        `c - k//2 .. c` of row `r` (zeros left of the image).
      preactivation: `(B, 2F)` from `pixel_preactivation`.
      weights: `pixel_step_weights()`.

    Returns:
      `(B, F)`, equal to `call`'s horizontal output at `(r, c)`.
    """
    flat = ops.reshape(horizontal_columns, (ops.shape(horizontal_columns)[0], -1))
    h = preactivation + ops.matmul(flat, weights["horizontal"])
    out = ops.matmul(gated_activation(h), weights["output"]) + weights["output_bias"]
    return out + horizontal_columns[:, -1] if self.residual else out

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
