"""Images for people: grids of samples (TensorBoard, `spn_sample`) and of upscalings."""

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


def upscaling_grid(inputs, upscalings, originals):
  """One row per input: the input, its upscalings and the original it was taken from.

  Args:
    inputs: uint8 `(R, h, w, C)` low-resolution inputs; shown enlarged by nearest-neighbour
      zoom to the upscalings' size (which must be a whole multiple of theirs).
    upscalings: uint8 `(R, K, H, W, C)`, K upscalings of each input.
    originals: uint8 `(R, H, W, C)`, the full-size images the inputs were taken from.

  Returns:
    uint8 `(1, R*H, (K+2)*W, C)`: per row the zoomed input, the K upscalings, the original.

  Raises:
    ValueError: the shapes do not agree.
  """
  inputs, upscalings, originals = (np.asarray(a) for a in (inputs, upscalings, originals))
  if upscalings.ndim != 5:
    raise ValueError(f"`upscalings` must have shape (R, K, H, W, C), got {upscalings.shape}.")
  rows, per_input, height, width, channels = upscalings.shape
  if originals.shape != (rows, height, width, channels):
    raise ValueError(f"`originals` must have shape {(rows, height, width, channels)} (one per "
                     f"row of `upscalings`), got {originals.shape}.")
  if (inputs.ndim != 4 or inputs.shape[0] != rows or inputs.shape[3] != channels
      or height % inputs.shape[1] or width % inputs.shape[2]):
    raise ValueError(f"`inputs` must have shape ({rows}, h, w, {channels}) with h and w "
                     f"dividing {height} and {width}, got {inputs.shape}.")
  zoomed = inputs.repeat(height // inputs.shape[1], 1).repeat(width // inputs.shape[2], 2)
  cells = np.concatenate([zoomed[:, None], upscalings, originals[:, None]], axis=1)
  return image_grid(cells.reshape(-1, height, width, channels), columns=per_input + 2)
