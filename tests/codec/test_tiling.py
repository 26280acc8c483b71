import numpy as np
import pytest

from spn_keras.codec import tiling


@pytest.mark.parametrize("shape, grid", [((1, 1, 1), (1, 1)), ((27, 29, 3), (4, 4)),
                                         ((16, 8, 1), (2, 1)), ((3, 61, 1), (1, 8))])
def test_tiles_cover_the_image_row_major_and_join_back(shape, grid):
  image = np.arange(np.prod(shape)).reshape(shape).astype(np.int32)
  tiles, mask = tiling.to_tiles(image, (8, 8, shape[2]), fill=-1)
  assert tiling.tile_grid(shape, (8, 8)) == grid
  assert tiles.shape == mask.shape == (grid[0] * grid[1], 8, 8, shape[2])
  np.testing.assert_array_equal(tiles[0, :min(8, shape[0]), :min(8, shape[1])],
                                image[:8, :8])
  if grid[1] > 1:  # the second tile is to the right of the first
    np.testing.assert_array_equal(tiles[1, :min(8, shape[0]), 0], image[:8, 8])
  assert mask.sum() == image.size and np.all(tiles[~mask] == -1)
  np.testing.assert_array_equal(tiling.from_tiles(tiles, shape), image)


def test_pad_value_is_mid_range():
  assert [tiling.pad_value(bits) for bits in (1, 3, 8)] == [1, 4, 128]
