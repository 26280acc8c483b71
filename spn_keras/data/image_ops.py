"""Per-image operations of the input pipelines: decoding, central crop and box resizing.

All functions take and return single images `(H, W, C)` (no batch axis) so that they can be
used in `tf.data.Dataset.map` before batching.
"""

import tensorflow as tf

from spn_keras.argument_checks import check_channels
from spn_keras.argument_checks import check_int


def decode_image(encoded, channels):
  """Decodes one PNG, JPEG, BMP or (first frame of a) GIF file to uint8 `channels` channels.

  Every format is converted the same way: an alpha channel is dropped, a gray image is
  repeated to RGB for `channels=3`, and an RGB image becomes gray for `channels=1` by
  `tf.image.rgb_to_grayscale`'s weights (0.2989 R + 0.5870 G + 0.1140 B) rounded to the
  nearest integer (`rgb_to_gray`); a gray image decoded with `channels=1` keeps its values.

  Args:
    encoded: scalar `tf.string`, the bytes of an encoded image.
    channels: 1 or 3.

  Returns:
    uint8 `(H, W, channels)`.
  """
  check_channels("channels", channels)
  image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
  image.set_shape((None, None, 3))
  return rgb_to_gray(image) if channels == 1 else image


def rgb_to_gray(image):
  """Gray levels of a uint8 RGB image: `tf.image.rgb_to_grayscale`'s weighted sum, rounded.

  The weights add up to 0.9999, so an image whose three channels are equal keeps its values.

  Args:
    image: uint8 `(H, W, 3)`.

  Returns:
    uint8 `(H, W, 1)`.
  """
  gray = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))  # float32 in [0, 255]
  return tf.cast(tf.clip_by_value(tf.round(gray), 0.0, 255.0), tf.uint8)


def center_crop_and_resize(image, size):
  """Central square crop, then an area (box-filter) resize to `size x size`.

  Used for every `@SIZE` of a spec, e.g. ImageNet 128 and 256 from `imagenet2012` (paper
  section 4.2). The box filter is the resize of van den Oord et al. (2016, "Pixel Recurrent
  Neural Networks")'s Downsampled ImageNet; the crop keeps the aspect ratio instead of
  squashing the image. The largest central square of the image is kept (for an odd excess
  the extra row or column is dropped at the bottom or right), then every output pixel is the
  mean of the input pixels that its box covers, weighted by overlap (`tf.image.resize` with
  `method="area"`: exact block means for integer factors), rounded to the nearest integer
  (ties to even; float32 arithmetic). Images smaller than `size` are upscaled by the same
  operator (pixel replication).

  Args:
    image: uint8 `(H, W, C)`, `H` and `W` possibly unknown until run time.
    size: the output side, a positive int.

  Returns:
    uint8 `(size, size, C)`.
  """
  check_int("size", size)
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  side = tf.minimum(height, width)
  top = (height - side) // 2
  left = (width - side) // 2
  square = image[top:top + side, left:left + side, :]  # (side, side, C)
  out = area_resize(square, (size, size))  # uint8 (size, size, C)
  out.set_shape((size, size, image.shape[-1]))
  return out


def area_resize(image, new_size):
  """Box-filter (area) resize of a uint8 image, rounded to the nearest integer.

  Args:
    image: uint8 `(H, W, C)`.
    new_size: `(new_height, new_width)`, ints or int tensors.

  Returns:
    uint8 `(new_height, new_width, C)`.
  """
  resized = tf.image.resize(image, new_size, method="area")  # float32
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
