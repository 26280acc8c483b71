"""Images for people: grids of samples (TensorBoard, `spn_sample`)."""

import math

import numpy as np


def image_grid(images, columns=None):
  """Tiles uint8 images `(N, H, W, C)` into one `(1, rows*H, columns*W, C)` image."""
  images = np.asarray(images)
  n, h, w, c = images.shape
  columns = columns or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / columns))
  grid = np.zeros((rows * h, columns * w, c), images.dtype)
  for i, image in enumerate(images):
    r, col = divmod(i, columns)
    grid[r * h:(r + 1) * h, col * w:(col + 1) * w] = image
  return grid[None]
