"""Helpers shared by the input-pipeline tests."""

import numpy as np
import tensorflow as tf

# tf.data autotune can stall for seconds when an iterator is destroyed on a small machine.
FAST = dict(autotune=False)


def images_of(dataset):
  """All images of a finite dataset of (batches of) images, as one uint8 array (N, H, W, C)."""
  batches = [np.asarray(x) for x in dataset.as_numpy_iterator()]
  if batches and batches[0].ndim == 3:
    return np.stack(batches)
  return np.concatenate(batches)


def keys_of(images):
  """The multiset of images, as sorted bytes, to compare contents regardless of order."""
  return sorted(np.asarray(image).tobytes() for image in images)


def write_png(path, image):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tf.io.encode_png(image).numpy())


def write_jpeg(path, image):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tf.io.encode_jpeg(image, quality=95).numpy())
