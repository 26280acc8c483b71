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
from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.codec.tiling import from_tiles
from spn_keras.codec.tiling import pad_value
from spn_keras.codec.tiling import tile_grid
from spn_keras.codec.tiling import to_tiles
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.ops.slice_updates import update_slice
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines.stage_plan import StagePlan
from spn_keras.pipelines.stage_step import StageStep
from spn_keras.sampling import SamplingProgress

STAGE = "stage"  # the name of a single stage's one coding step
# The batch sizes a stream is coded at (part of the format: the kernels round differently at
# different batch shapes, so a stream is decoded at the batch size it was coded at, which
# `coding_batch_size` derives from its tile count).
CODING_BATCH_SIZES = (1, 8, 64)
# From this many tiles a stream is coded 64 at a time: measured (mnist28_mdu, 2-core Xeon,
# XLA) a batch of 64 takes about 4x the time of a batch of 8, so 32 tiles cost the same.
_LARGEST_BATCH_FROM = 32


def coding_batch_size(num_tiles):
  """The batch size a stream of `num_tiles` tiles is coded at: 1 for one tile, 8 for fewer
  than 32, else 64 (`CODING_BATCH_SIZES`)."""
  if num_tiles <= 1:
    return CODING_BATCH_SIZES[0]
  return CODING_BATCH_SIZES[1] if num_tiles < _LARGEST_BATCH_FROM else CODING_BATCH_SIZES[2]


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

  Decodes the lanes of `inputs["decoding"]` from the stream (`interleaved_rans`) and takes
  `inputs["known"]` elsewhere (all of them in the encoder's pass), and records each value's
  start and frequency for the encoder.

  Args:
    step_logits: float32 `(B, K)`.
    row, col: int32 scalar tensors; channel: a Python int.
    inputs: `known` int32 and `decoding` bool `(B, h, w, C)`, `words` int64 `(N,)`.
    state: `states` int64 `(B,)`, `position` int32 scalar, `starts` and `counts` int64
      `(B, h, w, C)`.

  Returns:
    `(values (B,) int32, state)`.
  """
  values, starts, counts, states, position = interleaved_rans.decode_sub_pixel(
      state["states"], inputs["words"], state["position"], quantized_frequencies(step_logits),
      inputs["known"][:, row, col, channel], inputs["decoding"][:, row, col, channel])
  at = (0, row, col, channel)
  return values, dict(states=states, position=position,
                      starts=update_slice(state["starts"], at, starts[:, None, None, None]),
                      counts=update_slice(state["counts"], at, counts[:, None, None, None]))


def _window_size(values):
  """The stream words a slice program is given: at most one word per lane and sub-pixel."""
  return values.size


def _chooser_state(values, states):
  """The chooser's initial state for a slice of `values`' shape `(B, h, w, C)`."""
  return dict(states=states, position=np.int32(0), starts=np.zeros(values.shape, np.int64),
              counts=np.zeros(values.shape, np.int64))


class _StreamEncoder:
  """Runs the encoder's pass over batches and collects what `interleaved_rans.encode` codes."""

  def __init__(self, batch_size):
    self.states = np.full(batch_size, interleaved_rans.LOWER_BOUND, np.int64)
    self.records = []  # (starts, counts, valid), each (steps, B), in decoding order

  def code_slice_for(self, known, valid):
    """`name -> code_slice` for one batch: `known` and `valid` are its `{name: (B, S*S, ...)}`."""
    def for_stage(name):
      def code_slice(slice_index, run):
        values = known[name][:, slice_index]
        inputs = dict(known=values, decoding=np.zeros(values.shape, bool),
                      words=np.zeros(_window_size(values), np.int64))
        _, state = run(_choose_and_code, inputs, _chooser_state(values, self.states))
        batch = values.shape[0]
        self.records.append(tuple(np.asarray(array).reshape(batch, -1).T for array in (
            state["starts"], state["counts"], valid[name][:, slice_index])))
      return code_slice
    return for_stage

  def stream(self, lanes):
    """The coded stream of lanes `0 .. lanes - 1` as bytes."""
    starts, counts, valid = (np.concatenate(arrays)[:, :lanes] for arrays in zip(*self.records))
    return np.asarray(interleaved_rans.encode(starts, counts, valid), "<u4").tobytes()


class _StreamDecoder:
  """Feeds a stream's words to the decoder's pass, slice program after slice program."""

  def __init__(self, payload, batch_size, lanes):
    padded = bytes(payload) + b"\0" * (-len(payload) % 4)
    self.words = np.frombuffer(padded, "<u4").astype(np.int64)
    states, self.position = interleaved_rans.initial_states(self.words, lanes)
    self.states = np.full(batch_size, interleaved_rans.LOWER_BOUND, np.int64)
    self.states[:lanes] = states

  def code_slice_for(self, known, valid):
    """`name -> code_slice` for one batch (`known`: the pad values; `valid`: what to decode)."""
    def for_stage(name):
      def code_slice(slice_index, run):
        values = known[name][:, slice_index]
        size = _window_size(values)
        window = np.zeros(size, np.int64)
        ahead = self.words[self.position:self.position + size]
        window[:ahead.size] = ahead
        inputs = dict(known=values, decoding=valid[name][:, slice_index], words=window)
        _, state = run(_choose_and_code, inputs, _chooser_state(values, self.states))
        self.states = np.asarray(state["states"])
        self.position += int(state["position"])
      return code_slice
    return for_stage


def _stream_batches(model, shapes, images=None, conditioning=None):
  """The coding batches of one stream: the tiles of images of `shapes`, in order.

  Args:
    model: the `Pipeline` or stage.
    shapes: the images' `(H, W, C)`.
    images: their int32 images (the encoder), or None (the decoder: only pad values known).
    conditioning: a depth stage coded alone: its images' conditioning, or None.

  Returns:
    `(batch_size, tiles, arrays)`: `coding_batch_size` of the tile count, the `(image, tile)`
    of every tile in coding order, and an iterator over the batches (`batch_size` tiles each,
    the last one padded with blank tiles) of `(tiles, known, valid, conditioning)`: the
    tiles (pad values where unknown), their `_known_slices` and `_known_masks`, and their
    conditioning or None.
  """
  tile_shape = tuple(model.image_shape)
  fill = pad_value(model.bits)
  if images is None:
    images = [np.full(shape, fill, np.int32) for shape in shapes]
  tiled = [to_tiles(image, tile_shape, fill) for image in images]
  order = [(image, tile) for image, (tiles, _) in enumerate(tiled) for tile in range(len(tiles))]
  batch_size = coding_batch_size(len(order))
  given = None
  if conditioning is not None:
    conditioning_fill = pad_value(model.conditioning_bits)
    given = [to_tiles(array, tile_shape, conditioning_fill)[0] for array in conditioning]

  def batch_of(arrays, batch, blank):
    rows = [arrays[image][tile] for image, tile in batch]
    return np.stack(rows + [blank] * (batch_size - len(rows)))

  def arrays():
    blank = np.full(tile_shape, fill, np.int32)
    for first in range(0, len(order), batch_size):
      batch = order[first:first + batch_size]
      tiles = batch_of([tiles for tiles, _ in tiled], batch, blank)
      masks = batch_of([masks for _, masks in tiled], batch, np.zeros(tile_shape, bool))
      batch_conditioning = None if given is None else batch_of(
          given, batch, np.full(tile_shape, conditioning_fill, np.int32))
      yield tiles, _known_slices(model, tiles), _known_masks(model, masks), batch_conditioning

  return batch_size, order, arrays()


def _streams(num_images, one_stream):
  """The images of each stream: one each, or all in one."""
  return [list(range(num_images))] if one_stream else [[index] for index in range(num_images)]


def _total_batches(model, shapes, streams):
  """How many coding batches the streams take (for the progress bar)."""
  total = 0
  for stream in streams:
    tiles = sum(int(np.prod(tile_grid(shapes[index], model.image_shape))) for index in stream)
    total += -(-tiles // coding_batch_size(tiles))
  return total


def _pick(items, indices):
  return None if items is None else [items[index] for index in indices]


def encode_streams(model, images, conditioning=None, progress=False, one_stream=False):
  """Each image's sub-pixels inside it as one interleaved rANS stream: its file's payload.

  With `one_stream`, all the images' tiles go into one stream instead (an archive's: the
  lanes' initial states paid once, and no lengths). A stream's tiles are coded in batches of
  `coding_batch_size(tiles)` (the last padded with blank tiles); its words are read in the
  order of the coding program: batch after batch, stage, slice, row, column, channel, lane.

  Args:
    model: a `Pipeline` or stage.
    images: list of int32 `(H, W, C)` images, checked (`image_list`).
    conditioning: a depth stage coded alone: the list of its images' conditioning.
    progress: show a progress bar.
    one_stream: code all the images as one stream.

  Returns:
    list of `bytes`, one per image (one in all for `one_stream`).
  """
  streams = _streams(len(images), one_stream)
  bar = _progress_bar(model, _total_batches(model, [image.shape for image in images], streams),
                      progress)
  payloads = []
  for stream in streams:
    stream_images = _pick(images, stream)
    batch_size, order, batches = _stream_batches(
        model, [image.shape for image in stream_images], stream_images,
        _pick(conditioning, stream))
    encoder = _StreamEncoder(batch_size)
    for tiles, known, valid, given in batches:
      coded = _run_stages(model, batch_size, encoder.code_slice_for(known, valid), given,
                          bar).numpy()
      if not np.array_equal(coded, tiles):  # the program fed back what it was given
        raise AssertionError("The coding program changed the images it was given.")
    payloads.append(encoder.stream(min(batch_size, len(order))))
  return payloads


def decode_streams(model, shapes, payloads, conditioning=None, progress=False,
                   one_stream=False):
  """Inverse of `encode_streams`: the images of `shapes` that `payloads` code.

  A payload that is damaged decodes to a wrong image (the caller's CRC finds it), never to an
  error here, and never reads past its end.

  Args:
    model: a `Pipeline` or stage.
    shapes: the images' `(H, W, C)`, in coding order.
    payloads: list of `bytes`: one per image, or the one stream of all for `one_stream`.
    conditioning: a depth stage coded alone: the list of its images' conditioning.
    progress: show a progress bar.
    one_stream: `payloads` is one stream of all the images (`encode_streams`'s `one_stream`).

  Returns:
    list of uint8 `(H, W, C)` images.
  """
  streams = _streams(len(shapes), one_stream)
  if len(payloads) != len(streams):
    raise ValueError(f"Expected {len(streams)} payload(s), got {len(payloads)}.")
  bar = _progress_bar(model, _total_batches(model, shapes, streams), progress)
  decoded_tiles = [np.zeros((np.prod(tile_grid(shape, model.image_shape)), *model.image_shape),
                            np.int32) for shape in shapes]
  for stream, payload in zip(streams, payloads):
    batch_size, order, batches = _stream_batches(model, _pick(shapes, stream),
                                                 conditioning=_pick(conditioning, stream))
    decoder = _StreamDecoder(payload, batch_size, min(batch_size, len(order)))
    for first, (_, known, valid, given) in zip(range(0, len(order), batch_size), batches):
      decoded = _run_stages(model, batch_size, decoder.code_slice_for(known, valid), given,
                            bar).numpy()
      for row, (image, tile) in enumerate(order[first:first + batch_size]):
        decoded_tiles[stream[image]][tile] = decoded[row]
  return [from_tiles(tiles, shape).astype(np.uint8)
          for tiles, shape in zip(decoded_tiles, shapes)]
