"""How the codec's tiles fill its coding batches: the batch size of a stream, and the rows of
every chunk of its tiles (`coding_batches`), which the encoder chooses and the decoder
repeats."""

# The batch sizes a stream is coded at (part of the format: the kernels round differently at
# different batch shapes, so a stream is decoded at the batch size it was coded at, which
# `coding_batch_size` derives from its tile count).
CODING_BATCH_SIZES = (8, 64)
# From this many tiles a stream is coded 64 at a time: measured (mnist28_mdu, 2-core Xeon,
# XLA) a batch of 64 takes about 4x the time of a batch of 8, so 32 tiles cost the same.
_LARGEST_BATCH_FROM = 32


def coding_batch_size(num_tiles):
  """The batch size a stream of `num_tiles` tiles is coded at: 8 for fewer than 32 tiles
  (streams of few tiles share batches), else 64 (`CODING_BATCH_SIZES`)."""
  return CODING_BATCH_SIZES[0] if num_tiles < _LARGEST_BATCH_FROM else CODING_BATCH_SIZES[1]


def last_chunk_size(num_tiles, batch_size):
  """The tiles of a stream's last chunk (`coding_batches`): its other chunks hold
  `batch_size` each."""
  return num_tiles % batch_size or batch_size


def coding_batches(tile_counts, batch_size, last_rows=None):
  """The batches that code streams of `tile_counts` tiles: lists of chunks `(stream, first
  tile, first row, tiles)`.

  A stream's tiles go in chunks of `batch_size` (tiles 0 .. B-1, B .. 2B-1, ...), each in
  consecutive rows of one batch, its tile `first + i` being lane `i` of its stream; only a
  stream's last chunk can be shorter than a batch. Which row a chunk starts at is part of the
  file: on some CPUs (AMD Zen 3, seen) a row's logits depend on the row's position in the
  batch (the kernels' tail rows round differently), though never on the other rows' contents,
  so a stream decodes at the rows it was coded at, alone or in any company.

  Args:
    tile_counts: the streams' tile counts, in order.
    batch_size: `B`.
    last_rows: None to code (chunks fill batches in order, a chunk that does not fit in what
      is left of a batch starting the next); or the row of each stream's last chunk, as the
      coder placed it, to decode (each chunk goes in the first batch after its stream's
      previous chunk whose rows it needs are free).

  Returns:
    The list of batches, each a list of chunks in row order.
  """
  batches, used = [], []  # used[b]: the occupied rows of batch b
  # (row, tiles) -> a batch before which every batch has these rows taken (rows are only ever
  # taken), where the search for such a chunk starts.
  searched = {}
  for stream, count in enumerate(tile_counts):
    previous = -1  # the batch of the stream's previous chunk
    for first in range(0, count, batch_size):
      size = min(batch_size, count - first)
      if last_rows is None:  # the last batch, after what it holds, if the chunk fits there
        last = len(batches) - 1
        free_from = max(used[last], default=-1) + 1 if batches else batch_size
        fits = last > previous and free_from + size <= batch_size
        batch, row = (last, free_from) if fits else (None, 0)
      else:
        row = last_rows[stream] if first + size == count else 0
        rows, taken_before = set(range(row, row + size)), searched.get((row, size), 0)
        batch = next((index for index in range(max(previous + 1, taken_before), len(batches))
                      if not used[index] & rows), None)
        if previous < taken_before:  # every batch before `batch` has these rows taken
          searched[row, size] = len(batches) if batch is None else batch + 1
      if batch is None:
        batch = len(batches)
        batches.append([])
        used.append(set())
      batches[batch].append((stream, first, row, size))
      used[batch].update(range(row, row + size))
      previous = batch
  return [sorted(batch, key=lambda chunk: chunk[2]) for batch in batches]
