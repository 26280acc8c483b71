"""`SubscaleSlicer`: cuts images into the S*S interleaved slices of the subscale ordering."""

import keras
from keras import ops

from spn_keras.argument_checks import check_int


@keras.saving.register_keras_serializable(package="spn_keras")
class SubscaleSlicer(keras.layers.Layer):
  """Slices images into `S*S` interleaved subimages and merges them back (paper section 2.2).

  Slice `(a, b)`, `0 <= a, b < S`, is `x[:, a::S, b::S, :]` and has meta-index `t = a*S + b`;
  slices come in increasing `t` (meta-raster order, SPN_SPEC section 2). Calling the layer
  slices; `merge` is the exact inverse. The layer has no weights and works on any dtype.

  Args:
    scale: `S`, a positive int that divides the image height and width.
    **kwargs: passed to `keras.layers.Layer`.
  """

  def __init__(self, scale, **kwargs):
    kwargs.setdefault("autocast", False)
    super().__init__(**kwargs)
    check_int("scale", scale)
    self.scale = scale

  def _check_static(self, name, shape, rank):
    if len(shape) != rank:
      expected = "(B, H, W, C)" if rank == 4 else "(B, S*S, H/S, W/S, C)"
      raise ValueError(f"`{name}` must have rank {rank} {expected}, got shape {tuple(shape)}.")

  def slice(self, images):
    """Cuts images into slices.

    Args:
      images: `(B, H, W, C)`, `H` and `W` divisible by `scale`.

    Returns:
      `(B, S*S, H/S, W/S, C)`, slice `t = a*S + b` being `images[:, a::S, b::S, :]`.
    """
    images = ops.convert_to_tensor(images)
    self._check_static("images", images.shape, 4)
    s = self.scale
    height, width = images.shape[1], images.shape[2]
    for name, size in (("height", height), ("width", width)):
      if size is not None and size % s:
        raise ValueError(f"Image {name} ({size}) must be divisible by `scale` ({s}).")
    batch, channels = ops.shape(images)[0], images.shape[3]
    h, w = height // s, width // s
    x = ops.reshape(images, (batch, h, s, w, s, channels))  # x[i*S + a, j*S + b] -> [i,a,j,b]
    x = ops.transpose(x, (0, 2, 4, 1, 3, 5))  # (B, S, S, h, w, C)
    return ops.reshape(x, (batch, s * s, h, w, channels))

  def merge(self, slices):
    """Inverse of `slice`.

    Args:
      slices: `(B, S*S, h, w, C)` in meta-raster order.

    Returns:
      `(B, h*S, w*S, C)`.
    """
    slices = ops.convert_to_tensor(slices)
    self._check_static("slices", slices.shape, 5)
    s = self.scale
    if slices.shape[1] is not None and slices.shape[1] != s * s:
      raise ValueError(f"`slices` must hold S*S = {s * s} slices on axis 1, "
                       f"got {slices.shape[1]}.")
    batch, h, w, channels = ops.shape(slices)[0], slices.shape[2], slices.shape[3], slices.shape[4]
    x = ops.reshape(slices, (batch, s, s, h, w, channels))
    x = ops.transpose(x, (0, 3, 1, 4, 2, 5))  # (B, h, S, w, S, C)
    return ops.reshape(x, (batch, h * s, w * s, channels))

  def call(self, images):
    return self.slice(images)

  def compute_output_shape(self, input_shape):
    s = self.scale
    batch, height, width, channels = input_shape
    return (batch, s * s, None if height is None else height // s,
            None if width is None else width // s, channels)

  def get_config(self):
    config = super().get_config()
    config.update({"scale": self.scale})
    return config
