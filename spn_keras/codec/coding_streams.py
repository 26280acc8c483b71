"""The coding program of `spn_keras.codec`: tiles coded in fixed batches by the model's slice
programs, and one range-coder stream per image (`encode_streams` / `decode_streams`), or one
stream for all the images (`one_stream=True`: an archive's).

Both directions run the same program (`AutoregressiveImageModel.code_slices`, a plain graph)
on the same batches of tiles, so the logits, and the quantized frequency tables, are the same
bit for bit; the encoder feeds the image's sub-pixels where the decoder feeds those it
decodes. Sub-pixels of a tile's padding are fed but not coded.
"""

import collections

import constriction
import numpy as np

from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.codec.tiling import from_tiles
from spn_keras.codec.tiling import pad_value
from spn_keras.codec.tiling import tile_grid
from spn_keras.codec.tiling import to_tiles
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines.stage_plan import StagePlan
from spn_keras.pipelines.stage_step import StageStep
from spn_keras.sampling import SamplingProgress

STAGE = "stage"  # the name of a single stage's one coding step
# Images coded together. Part of the format: TensorFlow's kernels round differently at other
# batch sizes (measured: the logits of batch 1, 2-4 and 8-16 differ in their last bits), so
# every file is coded and decoded at this one batch shape, padded with blank images.
CODING_BATCH_SIZE = 8


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
  return {step.name: step.model.slicer.slice(parts[step.produces])
          for step in _coding_steps(model)}


def _known_masks(model, masks):
  """`{name: bool (B, S*S, h, w, C)}`: which of each stage's sub-pixels lie inside the image.

  `masks` (bool `(B, H, W, C)`, tiles' `to_tiles` masks) is split into the stages' parts and
  slices as the pixels are (`_known_slices` of an image whose inside holds all ones bits).
  """
  ones = np.where(masks, (1 << model.bits) - 1, 0).astype(np.int32)
  return {name: slices.numpy() != 0 for name, slices in _known_slices(model, ones).items()}


def _run_stages(model, num_images, values_for, conditioning, progress):
  """Runs every stage's coding program in order, each fed by `values_for(name)`.

  Returns:
    int32 `(B, H, W, C)`: the images whose sub-pixels the callables chose.
  """
  def code(step, inputs):
    values, _ = step.model.code_slices(values_for(step.name), num_images,
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


def _payload_bytes(words):
  """The coder's uint32 words as little-endian bytes without the trailing zero bytes."""
  return np.asarray(words, "<u4").tobytes().rstrip(b"\0")


def _payload_words(payload):
  """Inverse of `_payload_bytes` (the stripped zero bytes put back)."""
  padded = payload + b"\0" * (-len(payload) % 4)
  return np.frombuffer(padded, "<u4").astype(np.uint32)


def _encode_runs(encoder, symbols, tables):
  """Encodes `symbols` with their frequency `tables`, in runs of one alphabet size."""
  family = constriction.stream.model.Categorical(perfect=False)
  start = 0
  for end in range(1, len(tables) + 1):
    if end == len(tables) or len(tables[end]) != len(tables[start]):
      encoder.encode(np.asarray(symbols[start:end], np.int32), family,
                     np.asarray(tables[start:end], np.float64))
      start = end


def _coding_batches(tile_counts):
  """The batches that code images of `tile_counts` tiles: lists of `(image, tile)`.

  An image's tiles go in chunks of `CODING_BATCH_SIZE` (tiles 0-7, 8-15, ...) and a chunk is
  never split between batches: chunks fill batches in order, and one that does not fit in
  what is left of a batch starts the next. So the order in which an image's stream codes its
  sub-pixels (chunk after chunk; in a chunk, sub-pixel after sub-pixel, its tiles in order)
  does not depend on the other images in the call: a file decodes alone or in any company.
  """
  batches, current = [], []
  for image, count in enumerate(tile_counts):
    for first in range(0, count, CODING_BATCH_SIZE):
      chunk = [(image, tile) for tile in range(first, min(count, first + CODING_BATCH_SIZE))]
      if len(current) + len(chunk) > CODING_BATCH_SIZE:
        batches.append(current)
        current = []
      current += chunk
  return batches + [current] if current else batches


def _batch_arrays(arrays, batch, blank):
  """`arrays[image][tile]` of `batch`, padded with `blank` to `CODING_BATCH_SIZE` rows."""
  rows = [arrays[image][tile] for image, tile in batch]
  return np.stack(rows + [blank] * (CODING_BATCH_SIZE - len(rows)))


def _tiled_batches(model, shapes, images=None, conditioning=None):
  """The coding batches of images of `shapes`, tiled (`to_tiles`).

  Args:
    model: the `Pipeline` or stage.
    shapes: the images' `(H, W, C)`.
    images: their int32 images (the encoder), or None (the decoder: only pad values known).
    conditioning: a depth stage coded alone: its images' conditioning, or None.

  Returns:
    `(batches, arrays)`: the `_coding_batches`, and an iterator over them of `(tiles, known,
    valid, conditioning)`: the batch's tiles (pad values where unknown), their
    `_known_slices` and `_known_masks` as numpy arrays, and the tiles' conditioning or None.
  """
  tile_shape = tuple(model.image_shape)
  fill = pad_value(model.bits)
  if images is None:
    images = [np.full(shape, fill, np.int32) for shape in shapes]
  tiled = [to_tiles(image, tile_shape, fill) for image in images]
  blank = np.full(tile_shape, fill, np.int32)
  if conditioning is not None:
    conditioning_fill = pad_value(model.conditioning_bits)
    conditioning = [to_tiles(given, tile_shape, conditioning_fill)[0] for given in conditioning]
    blank_conditioning = np.full(tile_shape, conditioning_fill, np.int32)
  batches = _coding_batches([len(tiles) for tiles, _ in tiled])

  def arrays():
    for batch in batches:
      tiles = _batch_arrays([tiles for tiles, _ in tiled], batch, blank)
      masks = _batch_arrays([masks for _, masks in tiled], batch, np.zeros_like(blank, bool))
      known = {name: slices.numpy() for name, slices in _known_slices(model, tiles).items()}
      given = (None if conditioning is None else
               _batch_arrays(conditioning, batch, blank_conditioning))
      yield tiles, known, _known_masks(model, masks), given

  return batches, arrays()


def _stream_owners(batch, one_stream):
  """The stream of each row of `batch` (its image's, or stream 0 for `one_stream`)."""
  return [0 if one_stream else image for image, _ in batch]


def encode_streams(model, images, conditioning=None, progress=False, one_stream=False):
  """Each image's sub-pixels inside it as one range-coder stream: the payload of its file.

  With `one_stream`, all the images' sub-pixels go into one stream instead (an archive's: one
  coder flush for all, and no lengths), in the order `decode_streams(..., one_stream=True)`
  reads them: batch after batch (`_coding_batches`); in a batch, sub-pixel after sub-pixel as
  the coding program visits them (stage, slice, row, column, channel), the batch's rows in
  order. That order depends on every image before it, so such a stream decodes only whole,
  with the same shapes in the same order.

  Args:
    model: a `Pipeline` or stage.
    images: list of int32 `(H, W, C)` images, checked (`image_list`).
    conditioning: a depth stage coded alone: the list of its images' conditioning.
    progress: show a progress bar.
    one_stream: code all the images as one stream.

  Returns:
    list of `bytes`, one per image (one in all for `one_stream`).
  """
  batches, arrays = _tiled_batches(model, [image.shape for image in images], images,
                                   conditioning)
  bar = _progress_bar(model, len(batches), progress)
  encoders = [constriction.stream.queue.RangeEncoder()
              for _ in (images[:1] if one_stream else images)]
  for batch, (tiles, known, valid, batch_conditioning) in zip(batches, arrays):
    owners = _stream_owners(batch, one_stream)
    symbols = collections.defaultdict(list)
    tables = collections.defaultdict(list)

    def values_for(name, known=known, valid=valid, owners=owners, symbols=symbols,
                   tables=tables):
      def values(slice_index, logits, row, col, channel):
        chosen = known[name][:, slice_index, row, col, channel]
        for b in np.flatnonzero(valid[name][:, slice_index, row, col, channel]):
          symbols[owners[b]].append(chosen[b])
          tables[owners[b]].append(quantized_frequencies(logits[b]))
        return chosen
      return values

    coded = _run_stages(model, CODING_BATCH_SIZE, values_for, batch_conditioning, bar).numpy()
    if not np.array_equal(coded, tiles):  # the program fed back what it was given
      raise AssertionError("The coding program changed the images it was given.")
    for image in symbols:
      _encode_runs(encoders[image], symbols[image], tables[image])
  return [_payload_bytes(encoder.get_compressed()) for encoder in encoders]


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
  if one_stream and len(payloads) != 1:
    raise ValueError(f"`one_stream` decodes one payload, got {len(payloads)}.")
  batches, arrays = _tiled_batches(model, shapes, conditioning=conditioning)
  bar = _progress_bar(model, len(batches), progress)
  family = constriction.stream.model.Categorical(perfect=False)
  decoders = [constriction.stream.queue.RangeDecoder(_payload_words(payload))
              for payload in payloads]
  decoded_tiles = [np.zeros((np.prod(tile_grid(shape, model.image_shape)), *model.image_shape),
                            np.int32) for shape in shapes]
  for batch, (_, known, valid, batch_conditioning) in zip(batches, arrays):
    owners = _stream_owners(batch, one_stream)

    def values_for(name, known=known, valid=valid, owners=owners):
      def values(slice_index, logits, row, col, channel):
        chosen = known[name][:, slice_index, row, col, channel].copy()  # the pad values
        for b in np.flatnonzero(valid[name][:, slice_index, row, col, channel]):
          table = quantized_frequencies(logits[b]).astype(np.float64)
          try:
            chosen[b] = decoders[owners[b]].decode(family, table[None])[0]
          except AssertionError:  # constriction: data invalid for the model
            chosen[b] = 0  # garbage in: the caller's CRC check reports the file
        return chosen
      return values

    decoded = _run_stages(model, CODING_BATCH_SIZE, values_for, batch_conditioning,
                          bar).numpy()
    for row, (image, tile) in enumerate(batch):
      decoded_tiles[image][tile] = decoded[row]
  return [from_tiles(tiles, shape).astype(np.uint8)
          for tiles, shape in zip(decoded_tiles, shapes)]
