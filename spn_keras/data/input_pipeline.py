"""`make_dataset`: one entry point from a dataset spec to a `tf.data.Dataset` of images.

The pipeline, for every source:

```
source elements (file names, encoded bytes, in-memory images or stream indices)
  -> this input pipeline's shard (files when there are enough of them, else examples)
  -> shuffle (training)              -> repeat (if asked)
  -> parallel map: decode, crop-and-resize to the spec's @SIZE, `transform`
  -> batch (if `batch_size`)         -> prefetch
```

Shuffling happens before decoding, so the buffer holds file names or encoded bytes, not
decoded images.

**Autotune and stalls.** `tf.data` autotuning (`num_parallel_calls=AUTOTUNE`, `prefetch
(AUTOTUNE)` and the autotune model thread) has been seen to stall for 10-40 s when an iterator
is destroyed on small shared machines such as the 2-core development machine of this project.
`autotune=False` turns it off (`tf.data.Options().autotune.enabled = False`) and uses fixed
parallelism (`num_parallel_calls`, default: the number of CPUs, at most 8) and a fixed prefetch
of 2 batches; the tests use it.
"""

import contextlib
import os
import re

import tensorflow as tf

from spn_keras.argument_checks import check_channels
from spn_keras.argument_checks import check_int
from spn_keras.data import embedded
from spn_keras.data.crops_source import crops_dataset
from spn_keras.data.dataset_spec import DatasetSpec
from spn_keras.data.dataset_spec import check_split
from spn_keras.data.folder_source import folder_dataset
from spn_keras.data.image_ops import center_crop_and_resize
from spn_keras.data.tfds_source import tfds_dataset
from spn_keras.data.tfrecord_source import tfrecord_dataset

# Sources whose images are decoded to the channels asked for; the others have fixed channels.
_DECODED_KINDS = ("folder", "tfrecord", "crops")
_EMBEDDED_CHANNELS = {"mnist5k": 1, "photos32": 3}
_CHANNEL_NAMES = {1: "gray", 3: "RGB"}
# The message of a failed image-shape check inside the text of the InvalidArgumentError.
_WRONG_SIZE = re.compile(r"assertion failed: \[(.*?\(`image_shape`\)[^\]]*)\]", re.DOTALL)


def _resolve_channels(parsed, channels, image_shape):
  """The channels to decode to: `channels`, or `image_shape`'s, or the source's own."""
  check_channels("channels", channels, allow_none=True)
  if image_shape is not None:
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
      raise ValueError(f"`image_shape` must be (height, width, channels), got {image_shape!r}.")
    check_int("image_shape[0]", image_shape[0])
    check_int("image_shape[1]", image_shape[1])
    check_channels("image_shape[2]", image_shape[2])
    if channels is not None and channels != image_shape[2]:
      raise ValueError(f"`image_shape` ({image_shape!r}) and `channels` ({channels!r}) "
                       f"disagree on the channels.")
    channels = image_shape[2]
  if parsed.kind in _DECODED_KINDS:
    return 3 if channels is None else channels
  native = _EMBEDDED_CHANNELS.get(parsed.name, 3) if parsed.kind == "embedded" else 3
  if channels is not None and channels != native:
    raise ValueError(
        f"Dataset {str(parsed)!r} has {_CHANNEL_NAMES[native]} ({native}-channel) images, not "
        f"the {_CHANNEL_NAMES[channels]} ({channels}-channel) images asked for (`channels` or "
        f"`image_shape`): use a dataset of {_CHANNEL_NAMES[channels]} images, or a folder:, "
        "tfrecord: or crops: spec, whose images are converted to the channels asked for.")
  return native


def _size_hint(parsed, size):
  """How to change `parsed` to give `size x size` images, or "" when no spec can."""
  if parsed.kind == "embedded":
    return ""
  if parsed.size is None:
    return f"; add @{size} to the spec to crop and resize its images"
  return f"; give @{size} instead of @{parsed.size} in the spec"


def _shape_checker(parsed, image_shape):
  """A function `(image, element) -> image` that checks `image` against `image_shape`.

  A shape known when the dataset is built (embedded datasets, `@SIZE`, TFDS) is checked then:
  a `ValueError` before any image is read. Otherwise each image is checked when it is read:
  a `tf.errors.InvalidArgumentError` naming the file (`folder:`) or the spec.
  """
  height, width, channels = image_shape
  hint = _size_hint(parsed, height) if height == width else ""

  def check(image, element):
    if image.shape[:2].is_fully_defined():
      if tuple(image.shape) != tuple(image_shape):
        found = " x ".join(str(n) for n in image.shape)
        raise ValueError(f"Dataset {str(parsed)!r} gives {found} images, not the {height} x "
                         f"{width} x {channels} asked for (`image_shape`){hint}.")
      return image
    found = tf.shape(image)
    source = (tf.strings.join(["Image file ", element]) if parsed.kind == "folder" else
              f"An image of {parsed}")
    message = tf.strings.join([
        source, " is ", tf.strings.as_string(found[0]), " x ", tf.strings.as_string(found[1]),
        f" pixels, not the {height} x {width} asked for (`image_shape`) from {parsed}{hint}."])
    is_right = tf.reduce_all(tf.equal(found[:2], [height, width]))
    with tf.control_dependencies([tf.debugging.Assert(is_right, [message])]):
      image = tf.identity(image)
    image.set_shape(image_shape)
    return image

  return check


@contextlib.contextmanager
def image_shape_errors_as_value_errors():
  """Turns a failed `image_shape` check into a `ValueError` with just its message.

  Reading a `make_dataset(..., image_shape=...)` dataset inside the block raises, for an image
  of another size, a `ValueError` whose message is one line naming the file (or the spec), the
  size found and the one expected, instead of TensorFlow's `InvalidArgumentError` with its op
  and node names. Other errors pass through unchanged.

  Raises:
    ValueError: an image read inside the block has the wrong size.
  """
  try:
    yield
  except tf.errors.InvalidArgumentError as error:
    match = _WRONG_SIZE.search(error.message)
    if match is None:
      raise
    raise ValueError(match.group(1)) from None


def make_dataset(spec, split="train", *, data_dir=None, download=False, shuffle=None, seed=0,
                 batch_size=None, drop_remainder=None, repeat=False, input_context=None,
                 transform=None, channels=None, image_shape=None, shuffle_buffer=10_000,
                 num_parallel_calls=None, prefetch=None, autotune=True):
  """A `tf.data.Dataset` of uint8 images from a dataset spec.

  Args:
    spec: a dataset spec string such as "mnist5k", "photos32",
      "tfds:downsampled_imagenet/64x64", "tfds:imagenet2012@128", "folder:/data/faces@64",
      "tfrecord:/data/shards" or "crops:/data/photos@32" (grammar in `dataset_spec`), or a
      `DatasetSpec`.
    split: "train" or "test" (the held-out evaluation split: TFDS "validation" for ImageNet).
    data_dir: TFDS data folder (`tfds:` specs only; None: TFDS's default).
    download: let `tfds.load` download and prepare the data (`tfds:` specs only). Off by
      default: without a network TFDS retries for minutes before failing.
    shuffle: shuffle the examples (and files). Default: True for "train", False for "test".
      The photos32 and crops: train streams are random already and are never buffered.
    seed: int seed of the shuffles and of the photos32 and crops: train streams; the same seed
      gives the same sequence of examples.
    batch_size: per-pipeline batch size `B`, or None for single images. Under a distribution
      strategy use `make_dataset_fn`, which derives it from the global batch size.
    drop_remainder: drop the last, smaller batch. Default: True when shuffling (training, so
      that every step has the same shape), False otherwise, so that an evaluation pipeline
      (no shuffle, no repeat) yields every example of the split exactly once.
    repeat: repeat forever (each epoch reshuffled). For photos32 and crops: "train" the stream
      continues with new crops instead (see `embedded`, `crops_source`).
    input_context: a `tf.distribute.InputContext`: this input pipeline reads only its share of
      the data, disjoint from the other pipelines' (files when there are at least as many
      files as pipelines, else examples; TFDS: `tfds.even_splits`).
    transform: a function of one uint8 image `(H, W, C)` (after the crop-and-resize), applied
      before batching, e.g. from `spn_keras.data.transforms`; it may return any structure.
    channels: the channels (1 or 3) that `folder:`, `tfrecord:` and `crops:` images are
      decoded to (default 3, or `image_shape`'s; conversions: `image_ops.decode_image`: a gray
      image is repeated to RGB, an RGB image becomes gray by `tf.image.rgb_to_grayscale`'s
      weights, rounded). The other datasets have fixed channels: another count is refused.
    image_shape: `(H, W, C)` that every image must have after the crop-and-resize (before
      `transform`), e.g. a pipeline's `image_shape`; `C` sets `channels`. A mismatch known
      when the dataset is built (embedded datasets, `@SIZE`, TFDS) is a `ValueError` then;
      otherwise reading an image of another size raises a `tf.errors.InvalidArgumentError`
      whose message names its file (`folder:`) or the spec, its size and the one expected.
    shuffle_buffer: shuffle buffer of TFDS and TFRecord sources (encoded images). In-memory
      datasets and the file lists of folders are shuffled whole.
    num_parallel_calls: parallelism of the map; default `tf.data.AUTOTUNE`, or the number of
      CPUs (at most 8) when `autotune` is False.
    prefetch: batches (or images) to prefetch; default `AUTOTUNE`, or 2 when `autotune` is
      False.
    autotune: enable `tf.data` autotuning; False avoids the iterator-destruction stalls
      described in the module docstring.

  Returns:
    A `tf.data.Dataset` of uint8 `(H, W, C)` images, `(B, H, W, C)` when batched (or of what
    `transform` returns). `H = W = SIZE` when the spec has `@SIZE`.
  """
  parsed = DatasetSpec.parse(spec)
  check_split(split)
  check_int("batch_size", batch_size, allow_none=True)
  check_int("shuffle_buffer", shuffle_buffer)
  check_int("prefetch", prefetch, allow_none=True)
  if num_parallel_calls is not None and num_parallel_calls != tf.data.AUTOTUNE:
    check_int("num_parallel_calls", num_parallel_calls, allow_none=True)
  if isinstance(seed, bool) or not isinstance(seed, int):
    raise ValueError(f"`seed` must be an int, got {seed!r}.")
  if transform is not None and not callable(transform):
    raise TypeError(f"`transform` must be a function of one image, got {transform!r}.")
  channels = _resolve_channels(parsed, channels, image_shape)
  check_shape = None if image_shape is None else _shape_checker(parsed, image_shape)
  shuffle = (split == "train") if shuffle is None else bool(shuffle)
  drop_remainder = shuffle if drop_remainder is None else bool(drop_remainder)
  if input_context is None:
    num_shards, shard_index = 1, 0
  else:
    num_shards = input_context.num_input_pipelines
    shard_index = input_context.input_pipeline_id
  if num_parallel_calls is None:
    num_parallel_calls = tf.data.AUTOTUNE if autotune else min(os.cpu_count() or 1, 8)
  if prefetch is None:
    prefetch = tf.data.AUTOTUNE if autotune else 2

  # `buffer`: the shuffle buffer for this source, or None where shuffling is not needed.
  is_stream = False
  if parsed.kind == "embedded":
    dataset, decode, is_stream = embedded.embedded_dataset(
        parsed.name, split, seed=seed, repeat=repeat, num_shards=num_shards,
        shard_index=shard_index)
    buffer = None if is_stream else int(dataset.cardinality())
  elif parsed.kind == "crops":
    dataset, decode = crops_dataset(parsed.name, split, parsed.size, channels=channels,
                                    seed=seed, repeat=repeat, num_shards=num_shards,
                                    shard_index=shard_index)
    is_stream = split == "train"
    buffer = None if is_stream else int(dataset.cardinality())
  elif parsed.kind == "folder":
    dataset, decode = folder_dataset(parsed.name, split, channels=channels,
                                     num_shards=num_shards, shard_index=shard_index)
    buffer = int(dataset.cardinality())
  elif parsed.kind == "tfrecord":
    dataset, decode = tfrecord_dataset(parsed.name, split, channels=channels, shuffle=shuffle,
                                       seed=seed, num_shards=num_shards,
                                       shard_index=shard_index)
    buffer = shuffle_buffer
  else:
    dataset, decode = tfds_dataset(parsed.name, split, data_dir=data_dir, download=download,
                                   shuffle=shuffle, seed=seed, num_shards=num_shards,
                                   shard_index=shard_index)
    buffer = shuffle_buffer

  if shuffle and buffer is not None:
    dataset = dataset.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
  if repeat and not is_stream:
    dataset = dataset.repeat()

  size = None if parsed.kind == "crops" else parsed.size  # crops: cropped and resized already

  def to_example(element):
    image = decode(element)  # uint8 (H, W, C)
    if size is not None:
      image = center_crop_and_resize(image, size)  # uint8 (SIZE, SIZE, C)
    if check_shape is not None:
      image = check_shape(image, element)
    return image if transform is None else transform(image)

  dataset = dataset.map(to_example, num_parallel_calls=num_parallel_calls)
  if batch_size is not None:
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  dataset = dataset.prefetch(prefetch)
  options = tf.data.Options()
  options.autotune.enabled = bool(autotune)
  options.deterministic = True
  return dataset.with_options(options)
