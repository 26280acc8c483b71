import numpy as np
import pytest

from spn_keras.visualization import image_grid
from spn_keras.visualization import upscaling_grid


def test_image_grid():
  images = np.arange(5 * 2 * 2 * 1, dtype=np.uint8).reshape(5, 2, 2, 1)
  grid = image_grid(images)
  assert grid.shape == (1, 4, 6, 1)  # 3 columns, 2 rows
  np.testing.assert_array_equal(grid[0, 2:4, 2:4], images[4])


def test_upscaling_grid_rows_hold_the_zoomed_input_its_upscalings_and_the_original():
  rng = np.random.default_rng(0)
  inputs = rng.integers(0, 256, (2, 2, 3, 3), np.uint8)
  upscalings = rng.integers(0, 256, (2, 4, 4, 6, 3), np.uint8)
  originals = rng.integers(0, 256, (2, 4, 6, 3), np.uint8)
  grid = upscaling_grid(inputs, upscalings, originals)[0]
  assert grid.shape == (8, 36, 3)  # 2 rows of 4 pixels, 6 columns of 6
  np.testing.assert_array_equal(grid[4:8, :6], inputs[1].repeat(2, 0).repeat(2, 1))
  np.testing.assert_array_equal(grid[0:4, 18:24], upscalings[0, 2])
  np.testing.assert_array_equal(grid[4:8, 30:36], originals[1])


def test_upscaling_grid_refuses_shapes_that_do_not_agree():
  upscalings = np.zeros((2, 4, 4, 6, 3), np.uint8)
  with pytest.raises(ValueError, match="`originals` must have shape"):
    upscaling_grid(np.zeros((2, 2, 3, 3), np.uint8), upscalings, np.zeros((1, 4, 6, 3), np.uint8))
  with pytest.raises(ValueError, match="`inputs` must have shape"):
    upscaling_grid(np.zeros((2, 3, 3, 3), np.uint8), upscalings, np.zeros((2, 4, 6, 3), np.uint8))
