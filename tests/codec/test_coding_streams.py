"""`coding_streams`'s batching of tiles; the streams themselves are tested by the round trips
of tests/codec/test_lossless.py and test_archive.py."""

import pytest

from spn_keras.codec.coding_streams import CODING_BATCH_SIZE
from spn_keras.codec.coding_streams import _coding_batches


def _chunks_of(batches, image):
  """The runs of consecutive tiles of `image` in each batch, in order."""
  return [[tile for i, tile in batch if i == image] for batch in batches
          if any(i == image for i, _ in batch)]


@pytest.mark.parametrize("tile_counts", [[1], [8], [9], [3, 7, 1], [20, 2, 13], [5] * 7])
def test_every_tile_once_in_order_in_batches_of_at_most_the_coding_batch(tile_counts):
  batches = _coding_batches(tile_counts)
  assert all(0 < len(batch) <= CODING_BATCH_SIZE for batch in batches)
  flat = [pair for batch in batches for pair in batch]
  assert flat == [(image, tile) for image, count in enumerate(tile_counts)
                  for tile in range(count)]


@pytest.mark.parametrize("others", [[], [3], [7, 7], [1, 20]])
def test_an_images_chunks_do_not_depend_on_the_other_images(others):
  """An image's stream codes chunk after chunk of its tiles (0-7, 8-15, ...): the same
  chunks whatever images share the call, so that its file decodes alone."""
  alone = _chunks_of(_coding_batches([19]), 0)
  assert alone == [list(range(0, 8)), list(range(8, 16)), [16, 17, 18]]
  assert _chunks_of(_coding_batches(others + [19]), len(others)) == alone
  assert _chunks_of(_coding_batches([19] + others), 0) == alone
