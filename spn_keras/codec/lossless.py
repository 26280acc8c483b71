"""Lossless image compression with a model's exact likelihood: `compress` and `decompress`.

Each image becomes one self-contained file: a `CodecHeader` and the range-coded sub-pixels,
coded with the model's own distribution of each one given all before it, so that a file
costs `-log2 p(image)` bits plus the header and a few bytes of coder overhead. The encoder
and the decoder run the same program (`AutoregressiveImageModel.code_slices`: the cached
sampler's slice programs, float32, a plain TensorFlow graph on the CPU) and quantize the same
logits the same way (`quantized_frequencies`), one image row at a time; the encoder feeds the
known sub-pixels where the decoder feeds the ones it decodes. Entropy coding is
`constriction`'s range coder.

A file decodes where it was made: the same model (its fingerprint is in the header, which has
its own CRC: another model's file, or a damaged header, is refused before decoding) and the
same environment (package, TensorFlow, numpy and constriction versions, CPU kind and core
count: the header's tag). Elsewhere float rounding may differ; then the pixels fail their CRC
and `decompress` says so, naming both environments, instead of returning a wrong image.
"""

import collections.abc
import zlib

import constriction
import numpy as np
import tensorflow as tf

from spn_keras.codec import environment
from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import CodecHeader
from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.ops.likelihood import check_images
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


def _coding_stages(model):
  """`{name: stage}` of `model` (a `Pipeline` or one stage) in coding order."""
  return {step.name: step.model for step in _coding_steps(model)}


def _integer_images(name, values, bits, shape):
  """`values` (an integer array `(N, *shape)` in `[0, 2**bits)`) as an int32 numpy array.

  Raises:
    TypeError: `values` is not an array (None, text, bytes, a dict) or not of integers.
    ValueError: images of several shapes, or another shape or depth.
  """
  if values is None or isinstance(values, (str, bytes, bytearray, memoryview, dict)):
    raise TypeError(f"`{name}` must be an integer array (N, H, W, C), got "
                    f"{type(values).__name__}.")
  if not tf.is_tensor(values):
    try:
      values = np.asarray(values)
    except ValueError:  # numpy: an inhomogeneous shape
      raise ValueError(f"`{name}` must be an array of images of one shape (N, H, W, C); "
                       f"its images differ in shape.") from None
    if values.dtype == object:
      raise TypeError(f"`{name}` must be an integer array (N, H, W, C), got an array of "
                      f"Python objects.")
  return check_images(name, values, bits, shape).numpy()


def _check_conditioning(model, conditioning, num_images):
  """`conditioning` checked against `model` for `num_images` images (None where it has none).

  Raises:
    TypeError, ValueError: naming `conditioning` and what `model` expects.
  """
  if isinstance(model, Pipeline):
    if conditioning is not None:
      raise ValueError("`conditioning` must be None for a Pipeline: its stages code the most "
                       "significant bits themselves.")
    return None
  if model.conditioning_bits and conditioning is not None:  # an array, or a clear TypeError
    conditioning = _integer_images("conditioning", conditioning, model.conditioning_bits,
                                   model.image_shape)
  checked = model.check_conditioning(conditioning, num_images)
  return None if checked is None else checked.numpy()


def _check_files(files):
  """`files` as a list of `bytes`.

  Raises:
    TypeError: `files` is not a sequence (list, tuple, array) of bytes-like objects: e.g. one
      file's bytes alone, a str, a dict.
  """
  if (isinstance(files, (str, bytes, bytearray, memoryview)) or
      not isinstance(files, (collections.abc.Sequence, np.ndarray))):
    raise TypeError(f"`files` must be a list of bytes objects, one per file, got "
                    f"{type(files).__name__}.")
  files = list(files)
  for index, file in enumerate(files):
    if not isinstance(file, (bytes, bytearray, memoryview)):
      raise TypeError(f"`files[{index}]` must be a bytes object (one file's contents), got "
                      f"{type(file).__name__}.")
  return [bytes(file) for file in files]


def _known_slices(model, images):
  """`{name: int32 (B, S*S, h, w, C)}`: each stage's slices of `images`, as it codes them."""
  parts = StagePlan(model).split(images) if isinstance(model, Pipeline) else {"image": images}
  return {step.name: step.model.slicer.slice(parts[step.produces])
          for step in _coding_steps(model)}


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


def _progress_bar(model, num_images, enabled):
  """`name -> callable or None`: per-stage slice callbacks of one bar over all batches."""
  if not enabled:
    return lambda name: None
  batches = -(-num_images // CODING_BATCH_SIZE)
  bar = SamplingProgress([(step.name, batches * step.num_slices, step.model.slice_sampling_cost())
                          for step in _coding_steps(model)])

  def for_stage(name):  # called just before the stage runs on a batch
    bar.stage_started(name)
    return lambda: bar.slice_done(name)

  return for_stage


def _pixels_crc(image):
  return zlib.crc32(np.ascontiguousarray(image, np.uint8).tobytes())


def _payload_bytes(words):
  """The coder's uint32 words as little-endian bytes without the trailing zero bytes."""
  return np.asarray(words, "<u4").tobytes().rstrip(b"\0")


def _payload_words(payload):
  """Inverse of `_payload_bytes` (the stripped zero bytes put back)."""
  padded = payload + b"\0" * (-len(payload) % 4)
  return np.frombuffer(padded, "<u4").astype(np.uint32)


def _padded(array, start):
  """`array[start:start + CODING_BATCH_SIZE]`, zero-padded to `CODING_BATCH_SIZE` rows."""
  rows = array[start:start + CODING_BATCH_SIZE]
  padding = np.zeros((CODING_BATCH_SIZE - len(rows), *rows.shape[1:]), rows.dtype)
  return np.concatenate([rows, padding])


def _encode_runs(encoder, symbols, tables):
  """Encodes `symbols` with their frequency `tables`, in runs of one alphabet size."""
  family = constriction.stream.model.Categorical(perfect=False)
  start = 0
  for end in range(1, len(tables) + 1):
    if end == len(tables) or len(tables[end]) != len(tables[start]):
      encoder.encode(np.asarray(symbols[start:end], np.int32), family,
                     np.asarray(tables[start:end], np.float64))
      start = end


def compress(model, images, conditioning=None, progress=False):
  """Compresses each image into a self-contained file, losslessly.

  Images are coded `CODING_BATCH_SIZE` at a time (the last batch padded with blank images):
  TensorFlow's kernels round differently at different batch sizes, so every file is coded,
  and decoded, at this one batch shape; the logits of an image do not depend on its place in
  the batch or on the other images.

  Args:
    model: a `Pipeline`, or one stage (`SliceDecoder` or `SubscalePixelNetwork`), float32.
    images: int `(N, H, W, C)` with values in `[0, 2**bits)` of the model's shape (uint8
      8-bit images for the zoo's 8-bit pipelines).
    conditioning: a depth-upscaling stage coded alone: int `(N, H, W, C)` most significant
      bits (the decoder needs the same).
    progress: show a progress bar over the stages' slices.

  Returns:
    list of N `bytes`.

  Raises:
    TypeError: `model` is not a Pipeline or stage, or `images` or `conditioning` is not an
      integer array.
    ValueError: images (or conditioning) of another shape, depth or count than the model
      expects.
  """
  stages = _coding_stages(model)
  images = _integer_images("images", images, model.bits, model.image_shape)
  conditioning = _check_conditioning(model, conditioning, len(images))
  header_start = dict(model_fingerprint=environment.model_fingerprint(stages),
                      environment_tag=environment.environment_tag(),
                      image_shape=model.image_shape)
  bar = _progress_bar(model, len(images), progress)
  files = []
  for start in range(0, len(images), CODING_BATCH_SIZE):
    count = min(CODING_BATCH_SIZE, len(images) - start)
    batch = _padded(images, start)
    known = {name: slices.numpy() for name, slices in _known_slices(model, batch).items()}
    symbols = [[] for _ in range(count)]
    tables = [[] for _ in range(count)]

    def values_for(name, known=known, symbols=symbols, tables=tables):
      def values(slice_index, logits, row, col, channel):
        chosen = known[name][:, slice_index, row, col, channel]
        for b, (image_symbols, image_tables) in enumerate(zip(symbols, tables)):
          image_symbols.append(chosen[b])
          image_tables.append(quantized_frequencies(logits[b]))
        return chosen
      return values

    batch_conditioning = None if conditioning is None else _padded(conditioning, start)
    coded = _run_stages(model, CODING_BATCH_SIZE, values_for, batch_conditioning, bar).numpy()
    if not np.array_equal(coded, batch):  # the program fed back what it was given
      raise AssertionError("The coding program changed the images it was given.")
    for image, image_symbols, image_tables in zip(batch, symbols, tables):
      encoder = constriction.stream.queue.RangeEncoder()
      _encode_runs(encoder, image_symbols, image_tables)
      header = CodecHeader(pixels_crc=_pixels_crc(image), **header_start)
      files.append(header.to_bytes() + _payload_bytes(encoder.get_compressed()))
  return files


def decompress(model, files, conditioning=None, progress=False):
  """Decodes files made by `compress` with the same model.

  Args:
    model: the `Pipeline` or stage the files were compressed with.
    files: a list (or tuple) of `bytes` objects, one per file.
    conditioning: a depth-upscaling stage coded alone: the `(N, H, W, C)` most significant
      bits given to `compress`.
    progress: show a progress bar over the stages' slices.

  Returns:
    uint8 `(N, H, W, C)`.

  Raises:
    TypeError: `model` is not a Pipeline or stage, or `files` is not a list of bytes (one
      file's bytes alone, a str).
    ValueError: `conditioning` is not what the model expects for `len(files)` images.
    CodecError: a file that is not of this format, has a damaged header, was made with
      another model or for another image shape, or whose pixels fail their CRC (corrupt,
      truncated, or made in another environment: the message compares the environments).
      Its `file_index` says which file.
  """
  stages = _coding_stages(model)
  files = _check_files(files)
  conditioning = _check_conditioning(model, conditioning, len(files))
  fingerprint = environment.model_fingerprint(stages)
  image_shape = tuple(model.image_shape)
  parsed = []
  for index, blob in enumerate(files):
    try:
      header, payload = CodecHeader.from_bytes(blob)
    except CodecError as e:
      raise CodecError(f"File {index}: {e}", index) from None
    if tuple(header.image_shape) != image_shape:
      raise CodecError(f"File {index} holds a {header.image_shape} image; this model codes "
                       f"{image_shape} images.", index)
    if header.model_fingerprint != fingerprint:
      raise CodecError(f"File {index} was compressed with another model (fingerprint "
                       f"{header.model_fingerprint.hex()}; this model's is "
                       f"{fingerprint.hex()}): decode it with the model that made it.", index)
    parsed.append((header, payload))
  bar = _progress_bar(model, len(parsed), progress)
  family = constriction.stream.model.Categorical(perfect=False)
  images = np.zeros((len(parsed), *image_shape), np.uint8)
  for start in range(0, len(parsed), CODING_BATCH_SIZE):
    batch = parsed[start:start + CODING_BATCH_SIZE]
    decoders = [constriction.stream.queue.RangeDecoder(_payload_words(payload))
                for _, payload in batch]

    def values_for(name, decoders=decoders):
      del name  # one stream per image runs through all the stages

      def values(slice_index, logits, row, col, channel):
        del slice_index, row, col, channel
        chosen = np.zeros(CODING_BATCH_SIZE, np.int32)  # blank padding images
        for b, decoder in enumerate(decoders):
          table = quantized_frequencies(logits[b]).astype(np.float64)
          try:
            chosen[b] = decoder.decode(family, table[None])[0]
          except AssertionError:  # constriction: data invalid for the model
            chosen[b] = 0  # garbage in: the CRC check below reports the file
        return chosen
      return values

    batch_conditioning = None if conditioning is None else _padded(conditioning, start)
    decoded = _run_stages(model, CODING_BATCH_SIZE, values_for, batch_conditioning,
                          bar).numpy()
    for offset, (header, _) in enumerate(batch):
      if _pixels_crc(decoded[offset]) != header.pixels_crc:
        raise CodecError(_crc_failure(start + offset, header), start + offset)
      images[start + offset] = decoded[offset]
  return images


def _crc_failure(index, header):
  """The message for file `index` whose decoded pixels fail the CRC of its `header`."""
  here = environment.environment_tag()
  if header.environment_tag != here:
    return (f"File {index} did not decode to its image (pixel CRC mismatch). It was made in "
            f"another environment (tag {header.environment_tag.hex()}; this one is "
            f"{here.hex()}: {environment.environment_description()}): files decode where "
            f"they were made (the same package, TensorFlow, numpy and constriction versions "
            f"and CPU kind and core count), since float rounding elsewhere may differ. Decode "
            f"it there.")
  return (f"File {index} did not decode to its image (pixel CRC mismatch): the file is "
          f"corrupt or truncated.")
