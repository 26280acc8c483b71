"""`coding_batches`: the batch size of a stream and the rows of its chunks; the streams
themselves are tested by the round trips of tests/codec/test_lossless.py and
test_archive.py."""

import numpy as np
import pytest

from spn_keras.codec.coding_batches import CODING_BATCH_SIZES
from spn_keras.codec.coding_batches import coding_batch_size
from spn_keras.codec.coding_batches import coding_batches
from spn_keras.codec.coding_batches import last_chunk_size


@pytest.mark.parametrize("tiles, batch_size", [(1, 8), (8, 8), (31, 8), (32, 64), (64, 64),
                                               (1000, 64)])
def test_coding_batch_size(tiles, batch_size):
  assert coding_batch_size(tiles) == batch_size in CODING_BATCH_SIZES


@pytest.mark.parametrize("tiles, batch_size", [(1, 8), (7, 8), (8, 8), (9, 8), (64, 64),
                                               (130, 64)])
def test_last_chunk_size_is_the_size_of_the_last_chunk_coded(tiles, batch_size):
  last_chunk = _chunks_of(coding_batches([tiles], batch_size), 0)[-1]
  assert last_chunk_size(tiles, batch_size) == last_chunk[2]


def _chunks_of(batches, stream):
  """`(first tile, first row, tiles)` of `stream`'s chunk in each batch that holds one, in
  order."""
  return [(first, row, size) for batch in batches for index, first, row, size in batch
          if index == stream]


def _check_batches(batches, tile_counts, batch_size=8):
  """Every tile once; a stream's chunks in order, in batches in order; no row used twice."""
  for batch in batches:
    rows = [row for _, _, first_row, size in batch for row in range(first_row, first_row + size)]
    assert batch and len(rows) == len(set(rows)) and 0 <= min(rows) <= max(rows) < batch_size
    assert [chunk[2] for chunk in batch] == sorted(chunk[2] for chunk in batch)
  for stream, count in enumerate(tile_counts):
    tiles = [tile for first, _, size in _chunks_of(batches, stream)
             for tile in range(first, first + size)]
    assert tiles == list(range(count))


@pytest.mark.parametrize("tile_counts", [[1], [8], [9], [3, 7, 1], [20, 2, 13], [5] * 7])
def test_coding_fills_batches_in_order(tile_counts):
  batches = coding_batches(tile_counts, 8)
  _check_batches(batches, tile_counts)
  flat = [(stream, tile) for batch in batches for stream, first, _, size in batch
          for tile in range(first, first + size)]
  assert flat == [(stream, tile) for stream, count in enumerate(tile_counts)
                  for tile in range(count)]


def _last_rows(batches, tile_counts):
  return [_chunks_of(batches, stream)[-1][1] for stream in range(len(tile_counts))]


@pytest.mark.parametrize("tile_counts, order", [
    ([1] * 10, list(range(9, -1, -1))), ([1] * 10, [7, 8, 0]), ([3, 7, 1], [2, 0, 1]),
    ([20, 2, 13, 5, 5], [4, 3, 2, 1, 0]), ([9, 1, 1, 6], [3, 1]), ([5] * 7, [6, 0, 5, 1])])
def test_decoding_puts_every_chunk_at_the_rows_it_was_coded_at(tile_counts, order):
  """A stream codes chunk after chunk of its tiles (0-7, 8-15, ...), each in consecutive rows
  at the same rows whatever streams share the call: its file decodes alone or in any company,
  at the rows (so with the logits) it was coded at."""
  coded = coding_batches(tile_counts, 8)
  last_rows = _last_rows(coded, tile_counts)
  counts = [tile_counts[stream] for stream in order]
  decoded = coding_batches(counts, 8, [last_rows[stream] for stream in order])
  _check_batches(decoded, counts)
  for position, stream in enumerate(order):
    assert _chunks_of(decoded, position) == _chunks_of(coded, stream)


def test_a_streams_last_chunk_follows_the_others_when_decoding():
  """A short last chunk whose rows are free in an earlier batch still goes after its stream's
  full chunks (a stream's words are read chunk after chunk)."""
  decoded = coding_batches([1, 17], 8, [0, 3])
  assert _chunks_of(decoded, 1) == [(0, 0, 8), (8, 0, 8), (16, 3, 1)]
  assert [[chunk[0] for chunk in batch] for batch in decoded] == [[0], [1], [1], [1]]


def test_files_of_one_tile_decoded_in_another_order_fill_as_few_batches_as_coded():
  coded = coding_batches([1] * 1000, 8)
  last_rows = _last_rows(coded, [1] * 1000)
  order = np.random.default_rng(0).permutation(1000)
  decoded = coding_batches([1] * 1000, 8, [last_rows[stream] for stream in order])
  _check_batches(decoded, [1] * 1000)
  assert len(decoded) == len(coded) == 125
