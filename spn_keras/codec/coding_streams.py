"""The coding program of `spn_keras.codec`: tiles coded in batches by the model's compiled slice
programs into interleaved rANS streams, one per image (`encode_streams` / `decode_streams`),
or one for all the images (`one_stream=True`: an archive's).

Both directions run the same XLA-compiled program (`AutoregressiveImageModel.code_slices`
with `_choose_and_code`, the chooser traced into it) on inputs of the same shapes, so the
logits, and the quantized frequency tables, are the same bit for bit. The decoder's chooser
decodes each sub-pixel from the stream inside the program; the encoder's takes the image's
values and records each one's `(start, frequency)`, which `interleaved_rans.encode` then
codes in numpy. Sub-pixels of a tile's padding and blank rows are fed but not coded.
"""

import numpy as np

from spn_keras.codec import interleaved_rans
from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.coding_batches import CODING_BATCH_SIZES
from spn_keras.codec.coding_batches import coding_batches
from spn_keras.codec.coding_batches import coding_batch_size
from spn_keras.codec.coding_batches import last_chunk_size
from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.codec.tiling import from_tiles
from spn_keras.codec.tiling import pad_value
from spn_keras.codec.tiling import to_tiles
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.ops.slice_updates import update_slice
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines.stage_plan import StagePlan
from spn_keras.pipelines.stage_step import StageStep
from spn_keras.sampling import SamplingProgress

STAGE = "stage"  # the name of a single stage's one coding step
def _coding_steps(model):
  """The `StageStep`s that code `model`'s images, in order: a `Pipeline`'s `StagePlan`, or
  one step `STAGE` for a single stage (its images, given their `conditioning` if it has
  conditioning bits)."""
  if isinstance(model, Pipeline):
    return StagePlan(model).steps
  if isinstance(model, AutoregressiveImageModel):
    return (StageStep(STAGE, model, "image", "low" if model.conditioning_bits else None),)
  raise TypeError(f"`model` must be a Pipeline or a stage (AutoregressiveImageModel), got "
                  f"{type(model).__name__}.")


def coding_stages(model):
  """`{name: stage}` of `model` (a `Pipeline` or one stage) in coding order."""
  return {step.name: step.model for step in _coding_steps(model)}


def _known_slices(model, images):
  """`{name: int32 (B, S*S, h, w, C)}`: each stage's slices of `images`, as it codes them."""
  parts = StagePlan(model).split(images) if isinstance(model, Pipeline) else {"image": images}
  return {step.name: step.model.slicer.slice(parts[step.produces]).numpy()
          for step in _coding_steps(model)}


def _known_masks(model, masks):
  """`{name: bool (B, S*S, h, w, C)}`: which of each stage's sub-pixels lie inside the image.

  `masks` (bool `(B, H, W, C)`, tiles' `to_tiles` masks) is split into the stages' parts and
  slices as the pixels are (`_known_slices` of an image whose inside holds all ones bits).
  """
  ones = np.where(masks, (1 << model.bits) - 1, 0).astype(np.int32)
  return {name: slices != 0 for name, slices in _known_slices(model, ones).items()}


def _run_stages(model, batch_size, code_slice_for, conditioning, progress):
  """Runs every stage's coding program in order, each slice coded by `code_slice_for(name)`.

  Returns:
    int32 `(B, H, W, C)`: the images whose sub-pixels the programs chose.
  """
  def code(step, inputs):
    values, _ = step.model.code_slices(code_slice_for(step.name), batch_size,
                                       progress=progress(step.name), **inputs)
    return values

  if isinstance(model, Pipeline):
    return StagePlan(model).run(code)
  step, = _coding_steps(model)
  return code(step, step.inputs({"low": conditioning}))


def _progress_bar(model, batches, enabled):
  """`name -> callable or None`: per-stage slice callbacks of one bar over `batches` batches."""
  if not enabled:
    return lambda name: None
  bar = SamplingProgress([(step.name, batches * step.num_slices, step.model.slice_sampling_cost())
                          for step in _coding_steps(model)])

  def for_stage(name):  # called just before the stage runs on a batch
    bar.stage_started(name)
    return lambda: bar.slice_done(name)

  return for_stage


def _choose_and_code(step_logits, row, col, channel, inputs, state):
  """The codec's chooser, traced into the slice program (`CachedSliceSampler.code`).

  Decodes the lanes of `inputs["decoding"]` from their streams (`interleaved_rans`) and takes
  `inputs["known"]` elsewhere (all of them in the encoder's pass), and records each value's
  start and frequency for the encoder.

  Args:
    step_logits: float32 `(B, K)`.
    row, col: int32 scalar tensors; channel: a Python int.
    inputs: `known` int32 and `decoding` bool `(B, h, w, C)`, `words` int64 `(N,)`,
      `first_rows` int32 `(B,)` (`interleaved_rans.decode_sub_pixel`).
    state: `states` int64 `(B,)`, `positions` int32 `(B,)`, `starts` and `counts` int64
      `(B, h, w, C)`.

  Returns:
    `(values (B,) int32, state)`.
  """
  values, starts, counts, states, positions = interleaved_rans.decode_sub_pixel(
      state["states"], inputs["words"], state["positions"], inputs["first_rows"],
      quantized_frequencies(step_logits), inputs["known"][:, row, col, channel],
      inputs["decoding"][:, row, col, channel])
  at = (0, row, col, channel)
  return values, dict(states=states, positions=positions,
                      starts=update_slice(state["starts"], at, starts[:, None, None, None]),
                      counts=update_slice(state["counts"], at, counts[:, None, None, None]))


def _chooser_state(values, states, positions):
  """The chooser's initial state for a slice of `values`' shape `(B, h, w, C)`."""
  return dict(states=states, positions=positions, starts=np.zeros(values.shape, np.int64),
              counts=np.zeros(values.shape, np.int64))


class _Stream:
  """One stream: the tiles of its images, and its coder's lanes.

  Args:
    model: the `Pipeline` or stage.
    images: its int32 images (the encoder's), or their shapes' pad-value images (the
      decoder's).
    conditioning: a depth stage coded alone: its images' conditioning, or None.
  """

  def __init__(self, model, images, conditioning):
    tile_shape = tuple(model.image_shape)
    tiled = [to_tiles(image, tile_shape, pad_value(model.bits)) for image in images]
    self.tiles = np.concatenate([tiles for tiles, _ in tiled])  # (T, h, w, C)
    self.masks = np.concatenate([masks for _, masks in tiled])
    self.tile_counts = [len(tiles) for tiles, _ in tiled]
    self.conditioning = None if conditioning is None else np.concatenate([
        to_tiles(given, tile_shape, pad_value(model.conditioning_bits))[0]
        for given in conditioning])
    self.batch_size = coding_batch_size(len(self.tiles))
    self.lanes = min(self.batch_size, len(self.tiles))
    self.records = []  # the encoder's (starts, counts, valid), each (steps, tiles of a chunk)
    self.words = self.position = self.states = None  # the decoder's
    # The batch row of the stream's last chunk (`coding_batches`): its other chunks fill
    # whole batches. The encoder sets it; a file's payload starts with it.
    self.last_row = 0

  def encoded(self, with_row=True):
    """The stream's bytes from the encoder's records, after the byte `last_row` (a file's
    payload) or without it (`with_row=False`: an archive's one stream, whose last chunk is
    always at row 0)."""
    def lanes_wide(array, fill):
      return np.pad(array, ((0, 0), (0, self.lanes - array.shape[1])), constant_values=fill)

    starts, counts, valid = (np.concatenate([lanes_wide(record[index], fill)
                                             for record in self.records])
                             for index, fill in ((0, 0), (1, 1), (2, False)))
    words = np.asarray(interleaved_rans.encode(starts, counts, valid), "<u4").tobytes()
    return (bytes([self.last_row]) if with_row else b"") + words

  def start_decoding(self, payload, with_row=True):
    """Reads `last_row` (unless `with_row=False`) and the stream's first words.

    Raises:
      ValueError: no row byte, or a row at which the last chunk would not fit in its batch
        (a damaged payload).
    """
    payload = bytes(payload)
    if with_row:
      last_chunk = last_chunk_size(len(self.tiles), self.batch_size)
      if not payload or payload[0] + last_chunk > self.batch_size:
        raise ValueError("its coding-batch row is missing or impossible")
      self.last_row, payload = payload[0], payload[1:]
    padded = payload + b"\0" * (-len(payload) % 4)
    self.words = np.frombuffer(padded, "<u4").astype(np.int64)
    self.states, self.position = interleaved_rans.initial_states(self.words, self.lanes)

  @property
  def overrun(self):
    """Whether the decoder has read past the stream's end: a stream that was coded never
    does, so the stream is damaged, or shorter than its images need."""
    return self.position > self.words.size


def _batch_arrays(model, chunks, batch_size):
  """A batch's inputs: `(tiles, known, valid, conditioning, first_rows)`.

  Args:
    model: the `Pipeline` or stage.
    chunks: `(stream, first tile, first row, tiles)` of `_Stream`s (`coding_batches`).
    batch_size: `B`; the rows no chunk holds hold blank tiles (pad values, nothing coded).

  Returns:
    the int32 tiles `(B, h, w, C)`, their `_known_slices` and `_known_masks`, their
    conditioning or None, and int32 `(B,)` the first row of each row's chunk (a blank row
    its own).
  """
  def rows(arrays_of, blank):
    batch = np.array(np.broadcast_to(blank, (batch_size, *blank.shape)))
    for stream, first, row, size in chunks:
      batch[row:row + size] = arrays_of(stream)[first:first + size]
    return batch

  tile_shape = tuple(model.image_shape)
  tiles = rows(lambda stream: stream.tiles, np.full(tile_shape, pad_value(model.bits), np.int32))
  masks = rows(lambda stream: stream.masks, np.zeros(tile_shape, bool))
  conditioning = None
  if chunks[0][0].conditioning is not None:
    conditioning = rows(lambda stream: stream.conditioning,
                        np.full(tile_shape, pad_value(model.conditioning_bits), np.int32))
  first_rows = np.arange(batch_size, dtype=np.int32)
  for _, _, row, size in chunks:
    first_rows[row:row + size] = row
  return (tiles, _known_slices(model, tiles), _known_masks(model, masks), conditioning,
          first_rows)


def _encoder_slices(chunks, known, valid, first_rows):
  """`name -> code_slice` of the encoder's pass over one batch: records each chunk's starts,
  counts and validity in its stream."""
  def for_stage(name):
    def code_slice(slice_index, run):
      values = known[name][:, slice_index]
      batch = values.shape[0]
      inputs = dict(known=values, decoding=np.zeros(values.shape, bool),
                    words=np.zeros(values.size, np.int64), first_rows=first_rows)
      _, state = run(_choose_and_code, inputs, _chooser_state(
          values, np.full(batch, interleaved_rans.LOWER_BOUND, np.int64),
          np.zeros(batch, np.int32)))
      starts, counts, coded = (np.asarray(array).reshape(batch, -1).T for array in (
          state["starts"], state["counts"], valid[name][:, slice_index]))
      for stream, _, row, size in chunks:
        stream.records.append(tuple(array[:, row:row + size] for array in (starts, counts, coded)))
    return code_slice
  return for_stage


def _decoder_slices(chunks, known, valid, first_rows):
  """`name -> code_slice` of the decoder's pass over one batch: feeds each chunk's rows the
  next words of its stream (at most one per row and sub-pixel) and keeps its lanes' states."""
  def for_stage(name):
    def code_slice(slice_index, run):
      values = known[name][:, slice_index]
      batch, per_row = values.shape[0], values[0].size
      window = np.zeros(values.size, np.int64)
      positions = np.zeros(batch, np.int32)
      states = np.full(batch, interleaved_rans.LOWER_BOUND, np.int64)
      for stream, _, row, size in chunks:
        base = row * per_row
        ahead = stream.words[stream.position:stream.position + size * per_row]
        window[base:base + ahead.size] = ahead
        positions[row:row + size] = base
        states[row:row + size] = stream.states[:size]
      inputs = dict(known=values, decoding=valid[name][:, slice_index], words=window,
                    first_rows=first_rows)
      _, state = run(_choose_and_code, inputs, _chooser_state(values, states, positions))
      states, positions = np.asarray(state["states"]), np.asarray(state["positions"])
      for stream, _, row, size in chunks:
        stream.states[:size] = states[row:row + size]
        stream.position += int(positions[row]) - row * per_row
    return code_slice
  return for_stage


def _streams(model, images, conditioning, one_stream):
  """The `_Stream`s of `images`: one each, or all in one."""
  groups = [list(range(len(images)))] if one_stream else [[index]
                                                           for index in range(len(images))]
  return [_Stream(model, [images[index] for index in group],
                  None if conditioning is None else [conditioning[index] for index in group])
          for group in groups]


def _run_batches(model, streams, code_slices_for, progress):
  """Runs the coding program over all the streams' tiles: streams of one batch size share
  batches (`coding_batches`).

  Args:
    model: the `Pipeline` or stage.
    streams: `_Stream`s.
    code_slices_for: `_encoder_slices` (the batches place the chunks, and set each stream's
      `last_row`) or `_decoder_slices` (the chunks go at the rows the streams' `last_row`
      give).
    progress: show a progress bar.

  Yields:
    `(chunks, tiles, coded)` per batch: its chunks, its input tiles and the int32 tiles
    `(B, h, w, C)` the program chose.
  """
  plans = []
  decoding = code_slices_for is _decoder_slices
  for batch_size in CODING_BATCH_SIZES:
    members = [stream for stream in streams if stream.batch_size == batch_size]
    batches = coding_batches([len(stream.tiles) for stream in members], batch_size,
                              [stream.last_row for stream in members] if decoding else None)
    for batch in batches:
      chunks = [(members[index], first, row, size) for index, first, row, size in batch]
      for stream, first, row, size in chunks:
        if not decoding and first + size == len(stream.tiles):  # the encoder's placement
          stream.last_row = row
      plans.append((batch_size, chunks))
  bar = _progress_bar(model, len(plans), progress)
  for batch_size, chunks in plans:
    tiles, known, valid, conditioning, first_rows = _batch_arrays(model, chunks, batch_size)
    yield chunks, tiles, _run_stages(
        model, batch_size, code_slices_for(chunks, known, valid, first_rows), conditioning,
        bar).numpy()


def encode_streams(model, images, conditioning=None, progress=False, one_stream=False):
  """Each image's sub-pixels inside it as one interleaved rANS stream: its file's payload.

  With `one_stream`, all the images' tiles go into one stream instead (an archive's: the
  lanes' initial states paid once, and no lengths). A stream's tiles are coded in batches of
  `coding_batch_size(tiles)`, in chunks that streams of that batch size share
  (`coding_batches`); a stream's words are read in the order of the coding program: its
  chunk after chunk, and in a chunk stage, slice, row, column, channel, lane.

  Args:
    model: a `Pipeline` or stage.
    images: list of int32 `(H, W, C)` images, checked (`image_list`).
    conditioning: a depth stage coded alone: the list of its images' conditioning.
    progress: show a progress bar.
    one_stream: code all the images as one stream.

  Returns:
    list of `bytes`, one per image: the batch row of its stream's last chunk (one byte) and
    the stream's words; for `one_stream`, the one stream's words alone (its last chunk is at
    row 0).
  """
  streams = _streams(model, images, conditioning, one_stream)
  for _, tiles, coded in _run_batches(model, streams, _encoder_slices, progress):
    if not np.array_equal(coded, tiles):  # the program fed back what it was given
      raise AssertionError("The coding program changed the images it was given.")
  return [stream.encoded(with_row=not one_stream) for stream in streams]


def _check_not_overrun(stream, index, one_stream):
  """Raises `CodecError` if `stream`'s decoder has read past its end (a damaged stream)."""
  if stream.overrun:
    what = "The archive is truncated or corrupt" if one_stream else (
        f"File {index} is corrupt or truncated")
    raise CodecError(f"{what}: its coded stream ran out before its images did.",
                     None if one_stream else index)


def decode_streams(model, shapes, payloads, conditioning=None, progress=False,
                   one_stream=False):
  """Inverse of `encode_streams`: the images of `shapes` that `payloads` code.

  A payload that is damaged decodes to a wrong image (the caller's CRC finds it) or, once
  the decoder has read past its end, to a `CodecError` (checked after each batch: a header
  that claims far more images than its payload holds is stopped after a batch).

  Args:
    model: a `Pipeline` or stage.
    shapes: the images' `(H, W, C)`, in coding order.
    payloads: list of `bytes`: one per image, or the one stream of all for `one_stream`.
    conditioning: a depth stage coded alone: the list of its images' conditioning.
    progress: show a progress bar.
    one_stream: `payloads` is one stream of all the images (`encode_streams`'s `one_stream`).

  Returns:
    list of uint8 `(H, W, C)` images.

  Raises:
    CodecError: a stream that ran out before its images did (`file_index`: the file's, or
      None for `one_stream`).
  """
  fill = pad_value(model.bits)
  streams = _streams(model, [np.full(shape, fill, np.int32) for shape in shapes], conditioning,
                     one_stream)
  if len(payloads) != len(streams):
    raise ValueError(f"Expected {len(streams)} payload(s), got {len(payloads)}.")
  for index, (stream, payload) in enumerate(zip(streams, payloads)):
    try:
      stream.start_decoding(payload, with_row=not one_stream)
    except ValueError as error:
      raise CodecError(f"File {index} is corrupt or truncated: {error}.", index) from None
  for chunks, _, decoded in _run_batches(model, streams, _decoder_slices, progress):
    for stream, first, row, size in chunks:  # only these streams read words
      stream.tiles[first:first + size] = decoded[row:row + size]
      _check_not_overrun(stream, streams.index(stream), one_stream)
  images = []
  for stream in streams:
    offsets = np.cumsum([0] + stream.tile_counts)
    images += [stream.tiles[start:end] for start, end in zip(offsets[:-1], offsets[1:])]
  return [from_tiles(tiles, shape).astype(np.uint8) for tiles, shape in zip(images, shapes)]
