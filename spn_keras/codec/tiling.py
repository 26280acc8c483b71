"""Images of any size as tiles of a model's image shape, and back.

An image `(H, W, C)` becomes `ceil(H / h) * ceil(W / w)` tiles `(h, w, C)` in row-major order.
Tiles at the right and bottom edges are padded with `pad_value(bits)`; a mask marks the
sub-pixels that lie inside the image (the only ones the codec codes).
"""

import numpy as np


def pad_value(bits):
  """The value of the sub-pixels outside an image: `2**(bits - 1)`, mid-range.

  A constant, because the decoder must know them before it decodes anything (in the subscale
  order a pad sub-pixel may come before the image's edge pixels, so edge replication cannot be
  decoded); mid-range, because it is the constant nearest, at worst, to whatever the image
  holds at its edge, so the model, which conditions on the pad, is least surprised by the
  border (0 would draw a black edge around every photo). For a pipeline it splits into the
  most significant bits `100...` and least significant bits `0...`.
  """
  return 1 << (bits - 1)


def tile_grid(image_shape, tile_shape):
  """`(rows, cols)`: how many tiles of `tile_shape` cover an image of `image_shape`."""
  return -(-image_shape[0] // tile_shape[0]), -(-image_shape[1] // tile_shape[1])


def to_tiles(image, tile_shape, fill):
  """`image` `(H, W, C)` as tiles, padded with `fill`.

  Returns:
    `(tiles, mask)`: `(T, h, w, C)` of `image`'s dtype, and bool `(T, h, w, C)`, True inside
    the image; T = rows * cols, row-major.
  """
  height, width, channels = image.shape
  tile_height, tile_width = tile_shape[:2]
  rows, cols = tile_grid(image.shape, tile_shape)
  padded = np.full((rows * tile_height, cols * tile_width, channels), fill, image.dtype)
  padded[:height, :width] = image
  mask = np.zeros(padded.shape, bool)
  mask[:height, :width] = True
  return tuple(_split(array, rows, cols, tile_height, tile_width) for array in (padded, mask))


def from_tiles(tiles, image_shape):
  """Inverse of `to_tiles`: the `(H, W, C)` image of its `(T, h, w, C)` tiles."""
  _, tile_height, tile_width, channels = tiles.shape
  rows, cols = tile_grid(image_shape, tiles.shape[1:])
  grid = tiles.reshape(rows, cols, tile_height, tile_width, channels).transpose(0, 2, 1, 3, 4)
  whole = grid.reshape(rows * tile_height, cols * tile_width, channels)
  return whole[:image_shape[0], :image_shape[1]]


def _split(array, rows, cols, tile_height, tile_width):
  channels = array.shape[-1]
  grid = array.reshape(rows, tile_height, cols, tile_width, channels).transpose(0, 2, 1, 3, 4)
  return grid.reshape(rows * cols, tile_height, tile_width, channels)
