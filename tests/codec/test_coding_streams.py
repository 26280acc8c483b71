"""`coding_streams`'s batching of a stream's tiles; the streams themselves are tested by the
round trips of tests/codec/test_lossless.py and test_archive.py."""

import numpy as np
import pytest

from spn_keras import testing
from spn_keras.codec.coding_streams import CODING_BATCH_SIZES
from spn_keras.codec.coding_streams import _stream_batches
from spn_keras.codec.coding_streams import coding_batch_size
from spn_keras.codec.tiling import pad_value


@pytest.mark.parametrize("tiles, batch_size", [(1, 1), (2, 8), (8, 8), (31, 8), (32, 64),
                                               (64, 64), (1000, 64)])
def test_coding_batch_size(tiles, batch_size):
  assert coding_batch_size(tiles) == batch_size in CODING_BATCH_SIZES


@pytest.fixture(scope="module")
def pipeline():
  return testing.tiny_mdu_pipeline(4, depth_scale=1)


@pytest.mark.parametrize("shapes", [[(4, 4, 1)], [(5, 9, 1)], [(4, 4, 1)] * 3 + [(9, 1, 1)],
                                    [(16, 16, 1)] * 3])
def test_every_tile_once_in_order_in_full_batches_padded_with_blank_tiles(pipeline, shapes):
  rng = np.random.default_rng(0)
  images = [rng.integers(0, 256, shape, np.int32) for shape in shapes]
  batch_size, order, batches = _stream_batches(pipeline, shapes, images)
  tile_counts = [-(-h // 4) * -(-w // 4) for h, w, _ in shapes]
  assert order == [(image, tile) for image, count in enumerate(tile_counts)
                   for tile in range(count)]
  assert batch_size == coding_batch_size(len(order))
  batches = list(batches)
  assert len(batches) == -(-len(order) // batch_size)
  blank_rows = len(batches) * batch_size - len(order)
  for tiles, known, valid, conditioning in batches:
    assert tiles.shape == (batch_size, 4, 4, 1) and conditioning is None
    assert set(known) == set(valid) == {"slice_decoder", "size_upscaler", "depth_upscaler"}
  last_tiles, _, last_valid, _ = batches[-1]
  if blank_rows:
    assert np.all(last_tiles[-blank_rows:] == pad_value(8))
    assert not any(mask[-blank_rows:].any() for mask in last_valid.values())
  assert all(mask[:batch_size - blank_rows].any(axis=(1, 2, 3, 4)).all()
             for mask in last_valid.values())
