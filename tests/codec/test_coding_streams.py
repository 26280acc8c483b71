"""`coding_streams`'s batching of the streams' tiles; the streams themselves are tested by the
round trips of tests/codec/test_lossless.py and test_archive.py."""

import numpy as np
import pytest

from spn_keras import testing
from spn_keras.codec.coding_streams import CODING_BATCH_SIZES
from spn_keras.codec.coding_streams import _batch_arrays
from spn_keras.codec.coding_streams import _coding_batches
from spn_keras.codec.coding_streams import _Stream
from spn_keras.codec.coding_streams import coding_batch_size
from spn_keras.codec.tiling import pad_value


@pytest.mark.parametrize("tiles, batch_size", [(1, 8), (8, 8), (31, 8), (32, 64), (64, 64),
                                               (1000, 64)])
def test_coding_batch_size(tiles, batch_size):
  assert coding_batch_size(tiles) == batch_size in CODING_BATCH_SIZES


def _chunks_of(batches, stream):
  """`(first tile, tiles)` of `stream`'s chunk in each batch that holds one, in order."""
  return [(first, size) for batch in batches for index, first, size in batch if index == stream]


@pytest.mark.parametrize("tile_counts", [[1], [8], [9], [3, 7, 1], [20, 2, 13], [5] * 7])
def test_every_tile_once_in_order_in_batches_of_at_most_the_batch_size(tile_counts):
  batches = _coding_batches(tile_counts, 8)
  assert all(0 < sum(size for _, _, size in batch) <= 8 for batch in batches)
  flat = [(stream, tile) for batch in batches for stream, first, size in batch
          for tile in range(first, first + size)]
  assert flat == [(stream, tile) for stream, count in enumerate(tile_counts)
                  for tile in range(count)]


@pytest.mark.parametrize("others", [[], [3], [7, 7], [1, 20]])
def test_a_streams_chunks_do_not_depend_on_the_other_streams(others):
  """A stream codes chunk after chunk of its tiles (0-7, 8-15, ...), each in consecutive rows:
  the same chunks, so the same lanes, whatever streams share the call: its file decodes alone."""
  alone = _chunks_of(_coding_batches([19], 8), 0)
  assert alone == [(0, 8), (8, 8), (16, 3)]
  assert _chunks_of(_coding_batches(others + [19], 8), len(others)) == alone
  assert _chunks_of(_coding_batches([19] + others, 8), 0) == alone


def test_a_batch_holds_its_chunks_rows_then_blank_tiles():
  pipeline = testing.tiny_mdu_pipeline(4, depth_scale=1)
  rng = np.random.default_rng(0)
  streams = [_Stream(pipeline, [rng.integers(0, 256, shape, np.int32)], None)
             for shape in ((4, 8, 1), (5, 5, 1))]  # 2 and 4 tiles
  chunks = [(streams[0], 0, 2), (streams[1], 1, 3)]
  tiles, known, valid, conditioning, first_rows = _batch_arrays(pipeline, chunks, 8)
  np.testing.assert_array_equal(tiles[:2], streams[0].tiles)
  np.testing.assert_array_equal(tiles[2:5], streams[1].tiles[1:])
  assert np.all(tiles[5:] == pad_value(8)) and conditioning is None
  np.testing.assert_array_equal(first_rows, [0, 0, 2, 2, 2, 5, 6, 7])
  assert set(known) == set(valid) == {"slice_decoder", "size_upscaler", "depth_upscaler"}
  for mask in valid.values():  # the blank rows code nothing; the others something
    assert not mask[5:].any() and mask[:5].any(axis=(1, 2, 3, 4)).all()
