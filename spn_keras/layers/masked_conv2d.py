"""`MaskedConv2D`: the PixelCNN convolution, masked over pixels and colour channels."""

import keras
from keras import ops

from spn_keras.layers import masks


@keras.saving.register_keras_serializable(package="spn_keras")
class MaskedConv2D(keras.layers.Layer):
  """A stride-1 'same' convolution that only sees earlier sub-pixels (PixelCNN, mask A or B).

  The kernel is multiplied by a fixed mask: taps above the current pixel and to its left are
  open; the centre tap connects colour-channel groups as `mask_type` says (van den Oord et al.
  2016b, section 3.4). Input and output feature maps are split into `color_channels` contiguous
  groups (`masks.channel_groups`; sizes may differ by one). With mask "A", output group k sees input groups < k of the current pixel (use it on
  the first layer, whose input is the image itself); with mask "B", groups <= k.

  Args:
    filters: number of output feature maps, at least `color_channels`.
    kernel_size: odd int or pair of odd ints.
    mask_type: "A" or "B".
    color_channels: 1 (grayscale) or 3 (RGB).
    use_bias: whether to add a bias.
    kernel_initializer: initializer of the (unmasked) kernel.
    bias_initializer: initializer of the bias.
    **kwargs: passed to `keras.layers.Layer` (`name`, `dtype`, ...).

  Call args:
    inputs: `(B, H, W, C_in)` with `C_in >= color_channels`.

  Returns:
    `(B, H, W, filters)`.
  """

  def __init__(self,
               filters,
               kernel_size,
               mask_type="B",
               color_channels=1,
               use_bias=True,
               kernel_initializer="glorot_uniform",
               bias_initializer="zeros",
               **kwargs):
    super().__init__(**kwargs)
    masks.check_mask_type(mask_type)
    masks.check_grouping("filters", filters, color_channels)
    self.filters = filters
    self.kernel_size = masks.normalize_kernel_size(kernel_size)
    self.mask_type = mask_type
    self.color_channels = color_channels
    self.use_bias = use_bias
    self.kernel_initializer = keras.initializers.get(kernel_initializer)
    self.bias_initializer = keras.initializers.get(bias_initializer)

  def build(self, input_shape):
    if len(input_shape) != 4:
      raise ValueError(
          f"MaskedConv2D expects `inputs` of rank 4 (B, H, W, C), got shape {input_shape}.")
    in_channels = input_shape[-1]
    masks.check_grouping("input channels", in_channels, self.color_channels)
    self._mask = masks.raster_kernel_mask(
        self.kernel_size, masks.channel_groups(in_channels, self.color_channels),
        masks.channel_groups(self.filters, self.color_channels), self.mask_type)
    self.kernel = self.add_weight(
        name="kernel",
        shape=self.kernel_size + (in_channels, self.filters),
        initializer=self.kernel_initializer)
    self.bias = self.add_weight(
        name="bias", shape=(self.filters,),
        initializer=self.bias_initializer) if self.use_bias else None

  def masked_kernel(self, dtype=None):
    """The kernel times its mask: `(kh, kw, C_in, filters)` in `dtype` (default: compute)."""
    dtype = dtype or self.compute_dtype
    return ops.cast(self.kernel, dtype) * ops.convert_to_tensor(self._mask, dtype=dtype)

  def call(self, inputs):
    outputs = ops.conv(inputs, self.masked_kernel(), strides=1, padding="same")  # (B,H,W,F)
    if self.use_bias:
      outputs = outputs + self.bias
    return outputs

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.filters,)

  def get_config(self):
    config = super().get_config()
    config.update({
        "filters": self.filters,
        "kernel_size": self.kernel_size,
        "mask_type": self.mask_type,
        "color_channels": self.color_channels,
        "use_bias": self.use_bias,
        "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        "bias_initializer": keras.initializers.serialize(self.bias_initializer),
    })
    return config
