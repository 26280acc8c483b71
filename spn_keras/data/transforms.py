"""Stage transforms: what each stage of a multidimensional-upscaling pipeline trains on.

Every function here returns a *transform*: a function of one uint8 image `(H, W, C)` usable in
`tf.data.Dataset.map` and as the `transform` argument of `make_dataset` (applied before
batching). The bit logic is `spn_keras.ops` (SPN_SPEC section 1); orderings follow SPN_SPEC
section 2. Transforms compose with `compose`; typical recipes for a pipeline with scale `S`
and `d1` low bits (paper sections 2.3, 2.4, SPN_SPEC section 6):

```python
slice_decoder = compose(reduce_depth(3), first_slice(S))   # 3-bit x[::S, ::S]
size_upscaler = reduce_depth(3)                            # 3-bit full-size image
depth_upscaler = split_depth(3)                            # {"images": 5-bit lsb,
                                                           #  "conditioning": 3-bit msb}
five_bit_depth = compose(reduce_depth(5), split_depth(3, total_bits=5))   # CelebA-HQ 5 bit
mnist_32 = pad_to(32)                                      # 28 x 28 digits on a 32 x 32 canvas
```
"""

import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.ops import reduce_bits
from spn_keras.ops import split_bits

_PROBE = np.zeros((1,), np.uint8)


def _check_image(image):
  image = tf.convert_to_tensor(image)
  if image.shape.rank is not None and image.shape.rank != 3:
    raise ValueError(
        f"Transforms take one image (H, W, C) (apply them before batching), got shape "
        f"{tuple(image.shape)}.")
  return image


def reduce_depth(bits, from_bits=8):
  """Keeps the `bits` most significant bits: `x >> (from_bits - bits)` (`ops.reduce_bits`).

  Args:
    bits: bits to keep, `1 <= bits <= from_bits`.
    from_bits: bit depth of the incoming image.

  Returns:
    A transform: image `(H, W, C)` -> same shape and dtype, values in `[0, 2**bits)`.
  """
  reduce_bits(_PROBE, bits, from_bits)  # Raises the ops' own error for bad `bits` now.

  def transform(image):
    return reduce_bits(_check_image(image), bits, from_bits)

  return transform


def first_slice(scale):
  """Slice 0 of the subscale ordering, `x[::S, ::S]`: the slice decoder's training images.

  Args:
    scale: `S`, a positive int that must divide the image height and width (checked when the
      transform is traced if the shape is static, else when it runs).

  Returns:
    A transform: image `(H, W, C)` -> `(H/S, W/S, C)`.
  """
  check_int("scale", scale)

  def transform(image):
    image = _check_image(image)
    for axis, name in ((0, "height"), (1, "width")):
      size = image.shape[axis]
      if size is not None and size % scale:
        raise ValueError(f"Image {name} ({size}) must be divisible by `scale` ({scale}).")
    if image.shape[0] is None or image.shape[1] is None:
      shape = tf.shape(image)
      tf.debugging.assert_equal(
          shape[:2] % scale, 0, message=f"Image size must be divisible by `scale` ({scale}).")
    return image[::scale, ::scale, :]

  return transform


def split_depth(msb_bits, total_bits=8):
  """Depth split for a depth upscaler (`ops.split_bits`; paper section 3.4).

  Args:
    msb_bits: `d1`, the bits that the depth upscaler is conditioned on.
    total_bits: `D`, the bit depth of the incoming image (reduce it first with `reduce_depth`
      when the pipeline models fewer than 8 bits).

  Returns:
    A transform: image `(H, W, C)` -> `{"images": lsb, "conditioning": msb}`, both `(H, W, C)`
    of the image's dtype, `lsb` in `[0, 2**(D - d1))` and `msb` in `[0, 2**d1)`: the keyword
    arguments of the models' `log_prob` / `training_loss`.
  """
  split_bits(_PROBE, msb_bits, total_bits)  # Raises the ops' own error for bad bits now.

  def transform(image):
    msb, lsb = split_bits(_check_image(image), msb_bits, total_bits)
    return {"images": lsb, "conditioning": msb}

  return transform


def pad_to(size, value=0):
  """Pads an image with a constant to `size x size`, centred (e.g. MNIST 28 -> 32).

  The extra rows (columns) go half above (left), half below (right); an odd excess puts the
  extra one below (right). Padding adds dimensions: bits/dim of a padded image is not
  comparable with the unpadded benchmark.

  Args:
    size: the output side; must be at least the image height and width.
    value: the padding value (0 is black).

  Returns:
    A transform: image `(H, W, C)` -> `(size, size, C)`.
  """
  check_int("size", size)

  def transform(image):
    image = _check_image(image)
    height, width = image.shape[0], image.shape[1]
    for name, length in (("height", height), ("width", width)):
      if length is not None and length > size:
        raise ValueError(f"Image {name} ({length}) is larger than the padded `size` ({size}).")
    shape = tf.shape(image)
    extra_h, extra_w = size - shape[0], size - shape[1]
    tf.debugging.assert_non_negative(
        tf.stack([extra_h, extra_w]), message=f"Image is larger than the padded size {size}.")
    paddings = [[extra_h // 2, extra_h - extra_h // 2], [extra_w // 2, extra_w - extra_w // 2],
                [0, 0]]
    out = tf.pad(image, paddings, constant_values=tf.cast(value, image.dtype))
    out.set_shape((size, size, image.shape[2]))
    return out

  return transform


def compose(*transforms):
  """Chains transforms left to right: `compose(f, g)(x) == g(f(x))`.

  Args:
    *transforms: callables; `None` entries are skipped.

  Returns:
    A transform.
  """
  steps = [t for t in transforms if t is not None]
  for step in steps:
    if not callable(step):
      raise TypeError(f"`compose` takes callables, got {step!r}.")

  def transform(image):
    for step in steps:
      image = step(image)
    return image

  return transform
