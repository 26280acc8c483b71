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

import os

import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.data import embedded
from spn_keras.data.crops_source import crops_dataset
from spn_keras.data.dataset_spec import DatasetSpec
from spn_keras.data.dataset_spec import check_split
from spn_keras.data.folder_source import folder_dataset
from spn_keras.data.image_ops import center_crop_and_resize
from spn_keras.data.tfds_source import tfds_dataset
from spn_keras.data.tfrecord_source import tfrecord_dataset

_EMBEDDED_CHANNELS = {"mnist5k": 1, "photos32": 3}


def _check_channels(parsed, channels):
  if channels is not None and channels not in (1, 3):
    raise ValueError(f"`channels` must be 1, 3 or None, got {channels!r}.")
  if channels is None or parsed.kind in ("folder", "tfrecord", "crops"):
    return 3 if channels is None else channels
  native = _EMBEDDED_CHANNELS.get(parsed.name, 3)
  if channels != native:
    raise ValueError(
        f"`channels` selects the decoded channels of folder:, tfrecord: and crops: specs; "
        f"{str(parsed)!r} has {native}, got channels={channels}.")
  return channels


def make_dataset(spec, split="train", *, data_dir=None, download=False, shuffle=None, seed=0,
                 batch_size=None, drop_remainder=None, repeat=False, input_context=None,
                 transform=None, channels=None, shuffle_buffer=10_000, num_parallel_calls=None,
                 prefetch=None, autotune=True):
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
    channels: decoded channels (1 or 3) for `folder:`, `tfrecord:` and `crops:` specs
      (default 3).
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
  channels = _check_channels(parsed, channels)
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
    return image if transform is None else transform(image)

  dataset = dataset.map(to_example, num_parallel_calls=num_parallel_calls)
  if batch_size is not None:
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  dataset = dataset.prefetch(prefetch)
  options = tf.data.Options()
  options.autotune.enabled = bool(autotune)
  options.deterministic = True
  return dataset.with_options(options)
