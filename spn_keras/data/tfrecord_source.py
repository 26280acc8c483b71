"""TFRecord files of encoded images, and a writer for them.

Each record is a `tf.train.Example` whose feature `image/encoded` (`FEATURE_KEY`) is a
`bytes_list` holding one PNG or JPEG file; other features are ignored. A `tfrecord:` spec
names the files of each split in one of two ways:

- `tfrecord:FOLDER`: the files `FOLDER/<split>-*.tfrecord*`, as written by `write_tfrecords`
  (`train-00000-of-00004.tfrecord`, ...);
- `tfrecord:PATTERN` with `{split}` in it: the glob `PATTERN` with `{split}` replaced by
  "train" or "test", e.g. `tfrecord:/data/faces/{split}/*.rec`.

Files are taken in sorted order.
"""

import os

import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.data.image_ops import decode_image

FEATURE_KEY = "image/encoded"


def tfrecord_files(location, split):
  """Sorted paths of the TFRecord files of `split` (see the module docstring).

  Args:
    location: a folder, or a glob containing `{split}`.
    split: "train" or "test".

  Returns:
    A non-empty list of str.
  """
  if "{split}" in location:
    pattern = location.replace("{split}", split)
  else:
    if not tf.io.gfile.isdir(location):
      raise FileNotFoundError(
          f"TFRecord folder {location!r} does not exist (give a folder, or a glob pattern "
          "containing '{split}').")
    pattern = os.path.join(location, f"{split}-*.tfrecord*")
  files = sorted(tf.io.gfile.glob(pattern))
  if not files:
    raise FileNotFoundError(f"No TFRecord files of split {split!r} match {pattern!r}.")
  return files


def tfrecord_dataset(location, split, *, channels=3, shuffle=False, seed=0, num_shards=1,
                     shard_index=0, num_parallel_reads=None):
  """Serialized examples of a TFRecord split, before the shared map / shuffle / batch stages.

  With at least as many files as input pipelines, pipeline `shard_index` reads every
  `num_shards`-th file; with fewer, every pipeline reads all files in a fixed order and keeps
  every `num_shards`-th record (correct, but each pipeline reads all the data).

  Args:
    location: a folder, or a glob containing `{split}`.
    split: "train" or "test".
    channels: 1 or 3, channels of the decoded images.
    shuffle: read the files in a random order (reshuffled every epoch) and interleaved;
      otherwise one after the other in sorted order, records in file order.
    seed: int, the seed of the file order.
    num_shards, shard_index: this input pipeline's share.
    num_parallel_reads: files read at once when shuffling (default: up to 8).

  Returns:
    `(dataset, decode)`: a dataset of serialized `tf.train.Example`s and a function from one
    to a uint8 image `(H, W, channels)`.
  """
  files = tfrecord_files(location, split)
  shard_files = len(files) >= num_shards
  if shard_files:
    files = files[shard_index::num_shards]
  if shuffle and shard_files:
    names = tf.data.Dataset.from_tensor_slices(files).shuffle(
        len(files), seed=seed, reshuffle_each_iteration=True)
    reads = num_parallel_reads or min(len(files), 8)
    dataset = tf.data.TFRecordDataset(names, num_parallel_reads=reads)
  else:
    dataset = tf.data.TFRecordDataset(files)  # sequential: a fixed order
  if not shard_files and num_shards > 1:
    dataset = dataset.shard(num_shards, shard_index)

  def decode(record):
    features = tf.io.parse_single_example(
        record, {FEATURE_KEY: tf.io.FixedLenFeature([], tf.string)})
    return decode_image(features[FEATURE_KEY], channels)

  return dataset, decode


def write_tfrecords(images, directory, split="train", num_shards=1, image_format="png"):
  """Writes images as TFRecord files that a `tfrecord:` spec reads back.

  Images are cut into `num_shards` contiguous runs of (nearly) equal length, written to
  `directory/<split>-<i>-of-<num_shards>.tfrecord` (5-digit numbers), one
  `tf.train.Example` per image with the encoded file under `image/encoded`.

  Args:
    images: uint8 `(N, H, W, C)`, `C` in {1, 3}, or an iterable of uint8 `(H, W, C)` arrays.
    directory: output folder, created if needed.
    split: "train" or "test" (the file-name prefix).
    num_shards: number of files, `1 <= num_shards <= N`.
    image_format: "png" (lossless) or "jpeg" (quality 95).

  Returns:
    The list of paths written, in order.
  """
  if image_format not in ("png", "jpeg"):
    raise ValueError(f"`image_format` must be 'png' or 'jpeg', got {image_format!r}.")
  images = [np.asarray(image) for image in images]
  for image in images:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
      raise ValueError(
          f"`images` must be uint8 (H, W, C) with C in {{1, 3}}, got {image.dtype} "
          f"{image.shape}.")
  check_int("num_shards", num_shards, 1, max(len(images), 1))
  tf.io.gfile.makedirs(directory)
  encode = tf.io.encode_png if image_format == "png" else (
      lambda image: tf.io.encode_jpeg(image, quality=95))
  paths = []
  for shard, indices in enumerate(np.array_split(np.arange(len(images)), num_shards)):
    path = os.path.join(directory, f"{split}-{shard:05d}-of-{num_shards:05d}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for i in indices:
        encoded = encode(images[i]).numpy()
        example = tf.train.Example(features=tf.train.Features(feature={
            FEATURE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))}))
        writer.write(example.SerializeToString())
    paths.append(path)
  return paths
