import numpy as np

from spn_keras.visualization import image_grid


def test_image_grid():
  images = np.arange(5 * 2 * 2 * 1, dtype=np.uint8).reshape(5, 2, 2, 1)
  grid = image_grid(images)
  assert grid.shape == (1, 4, 6, 1)  # 3 columns, 2 rows
  np.testing.assert_array_equal(grid[0, 2:4, 2:4], images[4])
