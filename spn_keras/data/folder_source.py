"""Folders of image files: PNG and JPEG, found recursively.

Split rule: a file belongs to the **test** split when the first 8 hex digits of the SHA-256 of
its path relative to the folder (UTF-8, `/` separators) read as an integer are `< 10` modulo
100, i.e. about 10% of the files; the others are **train**. The rule depends only on each
file's own relative path, so adding or removing files never moves another file between the
splits, and it is the same on every machine. Files are listed in sorted relative-path order.
"""

import hashlib
import os

import tensorflow as tf

from spn_keras.data.image_ops import decode_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
TEST_PERCENT = 10


def folder_split(relative_path):
  """The split ("train" or "test") of a file, from its path relative to the folder."""
  relative_path = relative_path.replace(os.sep, "/")
  digest = hashlib.sha256(relative_path.encode("utf-8")).hexdigest()
  return "test" if int(digest[:8], 16) % 100 < TEST_PERCENT else "train"


def list_images(directory):
  """Relative paths (`/`-separated, sorted) of the PNG and JPEG files under `directory`.

  Args:
    directory: a folder; searched recursively, extensions matched case-insensitively.

  Returns:
    A sorted list of str.
  """
  if not tf.io.gfile.isdir(directory):
    raise FileNotFoundError(f"Image folder {directory!r} does not exist or is not a folder.")
  found = []
  for root, _, files in tf.io.gfile.walk(directory):
    for filename in files:
      if filename.lower().endswith(IMAGE_EXTENSIONS):
        relative = os.path.relpath(os.path.join(root, filename), directory)
        found.append(relative.replace(os.sep, "/"))
  return sorted(found)


def folder_files(directory, split):
  """Full paths of the image files of `split`, in sorted relative-path order.

  Args:
    directory: the folder.
    split: "train" or "test".

  Returns:
    A non-empty list of str.
  """
  all_files = list_images(directory)
  if not all_files:
    raise ValueError(
        f"Image folder {directory!r} holds no files ending in {', '.join(IMAGE_EXTENSIONS)}.")
  files = [f for f in all_files if folder_split(f) == split]
  if not files:
    raise ValueError(
        f"Image folder {directory!r} has {len(all_files)} images but none in the {split!r} "
        f"split (about {TEST_PERCENT}% of files, chosen by a hash of their relative path, are "
        "'test'); add more images.")
  return [os.path.join(directory, f) for f in files]


def folder_dataset(directory, split, *, channels=3, num_shards=1, shard_index=0):
  """File names of a folder split, before the shared map / shuffle / batch stages.

  Each file is one example, so sharding the file list (every `num_shards`-th file) is sharding
  both by file and by example.

  Args:
    directory: the folder.
    split: "train" or "test".
    channels: 1 or 3, channels of the decoded images.
    num_shards, shard_index: this input pipeline's share.

  Returns:
    `(dataset, decode)`: a dataset of file names and a function from one to a uint8 image
    `(H, W, channels)`.
  """
  files = folder_files(directory, split)[shard_index::num_shards]
  if not files:
    raise ValueError(
        f"Input pipeline {shard_index} of {num_shards} gets no file of the {split!r} split of "
        f"{directory!r}: it has fewer files than input pipelines.")
  dataset = tf.data.Dataset.from_tensor_slices(files)

  def decode(path):
    return decode_image(tf.io.read_file(path), channels)

  return dataset, decode
