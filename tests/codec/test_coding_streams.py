"""`coding_streams`'s batch inputs; the streams themselves are tested by the round trips of
tests/codec/test_lossless.py and test_archive.py, their batching by test_coding_batches.py."""

import numpy as np

from spn_keras import testing
from spn_keras.codec.coding_streams import _batch_arrays
from spn_keras.codec.coding_streams import _Stream
from spn_keras.codec.tiling import pad_value


def test_a_batch_holds_its_chunks_at_their_rows_and_blank_tiles_elsewhere():
  pipeline = testing.tiny_mdu_pipeline(4, depth_scale=1)
  rng = np.random.default_rng(0)
  streams = [_Stream(pipeline, [rng.integers(0, 256, shape, np.int32)], None)
             for shape in ((4, 8, 1), (5, 5, 1))]  # 2 and 4 tiles
  chunks = [(streams[0], 0, 0, 2), (streams[1], 1, 4, 3)]
  tiles, known, valid, conditioning, first_rows = _batch_arrays(pipeline, chunks, 8)
  np.testing.assert_array_equal(tiles[:2], streams[0].tiles)
  np.testing.assert_array_equal(tiles[4:7], streams[1].tiles[1:])
  blank = [2, 3, 7]
  assert np.all(tiles[blank] == pad_value(8)) and conditioning is None
  np.testing.assert_array_equal(first_rows, [0, 0, 2, 3, 4, 4, 4, 7])
  assert set(known) == set(valid) == {"slice_decoder", "size_upscaler", "depth_upscaler"}
  for mask in valid.values():  # the blank rows code nothing; the others something
    assert not mask[blank].any() and mask[[0, 1, 4, 5, 6]].any(axis=(1, 2, 3, 4)).all()
