import re

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from data_helpers import write_png
from spn_keras.data import embedded
from spn_keras.data import folder_split
from spn_keras.data import image_shape_errors_as_value_errors
from spn_keras.data import make_dataset
from spn_keras.data import transforms


def test_defaults_train_versus_test():
  train = make_dataset("mnist5k", batch_size=1000, **FAST)  # split="train" by default
  test = make_dataset("mnist5k", "test", batch_size=300, **FAST)
  assert int(train.cardinality()) == 4  # 4500 // 1000: remainder dropped
  assert int(test.cardinality()) == 2   # 300 + 200: nothing dropped, no repeat
  assert train.element_spec.shape == (1000, 28, 28, 1)
  assert test.element_spec.shape == (None, 28, 28, 1)
  assert not np.array_equal(images_of(train.take(1)),
                            embedded.mnist5k_images("train")[:1000])  # shuffled


def test_explicit_overrides():
  ordered = make_dataset("mnist5k", "train", shuffle=False, batch_size=1000, **FAST)
  assert int(ordered.cardinality()) == 5  # no shuffle: no drop by default
  np.testing.assert_array_equal(images_of(ordered.take(1)),
                                embedded.mnist5k_images("train")[:1000])
  kept = make_dataset("mnist5k", "train", batch_size=1000, drop_remainder=False, **FAST)
  assert int(kept.cardinality()) == 5
  repeated = make_dataset("mnist5k", "test", batch_size=300, repeat=True, **FAST)
  assert repeated.cardinality() == tf.data.INFINITE_CARDINALITY
  assert len(list(repeated.take(5).as_numpy_iterator())) == 5


def test_unbatched_and_transformed():
  single = make_dataset("mnist5k", "test", **FAST)
  assert single.element_spec == tf.TensorSpec((28, 28, 1), tf.uint8)
  assert int(single.cardinality()) == 500
  stage = transforms.compose(transforms.pad_to(32), transforms.reduce_depth(3),
                             transforms.first_slice(4))
  dataset = make_dataset("mnist5k", "test", batch_size=50, transform=stage, **FAST)
  assert dataset.element_spec == tf.TensorSpec((None, 8, 8, 1), tf.uint8)
  got = images_of(dataset)
  padded = np.pad(embedded.mnist5k_images("test"), ((0, 0), (2, 2), (2, 2), (0, 0)))
  np.testing.assert_array_equal(got, padded[:, ::4, ::4] >> 5)
  split = make_dataset("photos32", "test", batch_size=8, transform=transforms.split_depth(3),
                       **FAST)
  batch = next(iter(split))
  np.testing.assert_array_equal(batch["conditioning"], embedded.photos32_test_patches()[:8] >> 5)


@pytest.mark.parametrize("autotune", [True, False])
def test_autotune_option(autotune):
  dataset = make_dataset("photos32", "test", batch_size=8, autotune=autotune)
  assert dataset.options().autotune.enabled is autotune
  assert dataset.options().deterministic is True
  assert next(iter(dataset)).shape == (8, 32, 32, 3)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(spec="cifar10"), ValueError, "Unknown dataset spec 'cifar10'. Valid specs"),
    (dict(split="validation"), ValueError, "`split` must be one of \\('train', 'test'\\)"),
    (dict(batch_size=0), ValueError, "`batch_size` must be a positive int or None"),
    (dict(shuffle_buffer=0), ValueError, "`shuffle_buffer` must be a positive int"),
    (dict(num_parallel_calls=0), ValueError, "`num_parallel_calls` must be a positive int"),
    (dict(seed=1.5), ValueError, "`seed` must be an int"),
    (dict(channels=3), ValueError,
     "Dataset 'mnist5k' has gray \\(1-channel\\) images, not the RGB \\(3-channel\\) images "
     "asked for \\(`channels` or `image_shape`\\): use a dataset of RGB images, or a folder:"),
    (dict(spec="photos32", image_shape=(32, 32, 1)), ValueError,
     "Dataset 'photos32' has RGB \\(3-channel\\) images, not the gray \\(1-channel\\)"),
    (dict(image_shape=(32, 32, 1)), ValueError,
     "Dataset 'mnist5k' gives 28 x 28 x 1 images, not the 32 x 32 x 1 asked for "
     "\\(`image_shape`\\)\\.$"),
    (dict(image_shape=(28, 28)), ValueError,
     "`image_shape` must be \\(height, width, channels\\), got \\(28, 28\\)"),
    (dict(image_shape=(0, 28, 1)), ValueError, "`image_shape\\[0\\]` must be a positive int"),
    (dict(image_shape=(28, 28, 2)), ValueError,
     r"`image_shape\[2\]` must be 1 \(gray\) or 3 \(RGB\)"),
    (dict(image_shape=(28, 28, 1), channels=3), ValueError,
     r"`image_shape` \(\(28, 28, 1\)\) and `channels` \(3\) disagree"),
    (dict(transform="reduce"), TypeError, "`transform` must be a function"),
    (dict(transform=transforms.first_slice(3)), ValueError,
     "height \\(28\\) must be divisible by `scale` \\(3\\)"),
])
def test_errors(kwargs, error, match):
  kwargs = dict(dict(spec="mnist5k", split="test"), **kwargs)
  with pytest.raises(error, match=match):
    make_dataset(kwargs.pop("spec"), kwargs.pop("split"), **kwargs, **FAST)


def test_image_shape_checked_in_advance():
  """Known shapes are checked when the dataset is built: nothing is read."""
  dataset = make_dataset("mnist5k", "test", image_shape=(28, 28, 1), **FAST)
  assert dataset.element_spec == tf.TensorSpec((28, 28, 1), tf.uint8)
  photos = make_dataset("photos32", "test", batch_size=4, image_shape=[32, 32, 3], **FAST)
  assert photos.element_spec.shape == (None, 32, 32, 3)


def test_a_wrong_size_read_from_a_folder_names_the_file(tmp_path):
  names = [n for n in (f"{i}.png" for i in range(40)) if folder_split(n) == "train"][:3]
  for name, side in zip(names, (28, 20, 28)):
    write_png(tmp_path / name, np.full((side, side, 1), 7, np.uint8))
  spec = f"folder:{tmp_path}"
  sized = make_dataset(f"{spec}@16", shuffle=False, channels=1, **FAST)
  assert sized.element_spec.shape == (16, 16, 1)
  with pytest.raises(ValueError, match=re.escape(
      f"Dataset '{spec}@16' gives 16 x 16 x 1 images, not the 28 x 28 x 1 asked for "
      "(`image_shape`); give @28 instead of @16 in the spec.")):
    make_dataset(f"{spec}@16", image_shape=(28, 28, 1), **FAST)
  dataset = make_dataset(spec, shuffle=False, image_shape=(28, 28, 1), **FAST)
  assert dataset.element_spec == tf.TensorSpec((28, 28, 1), tf.uint8)
  expected = (f"Image file {tmp_path / names[1]} is 20 x 20 pixels, not the 28 x 28 asked for "
              f"(`image_shape`) from {spec}; add @28 to the spec to crop and resize its images.")
  with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(expected)):
    list(dataset)
  with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
    with image_shape_errors_as_value_errors():
      list(dataset)
  with pytest.raises(tf.errors.InvalidArgumentError, match="another error"):
    with image_shape_errors_as_value_errors():
      raise tf.errors.InvalidArgumentError(None, None, "another error")
