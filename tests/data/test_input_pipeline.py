import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from spn_keras.data import embedded
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
    (dict(channels=3), ValueError, "'mnist5k' has 1, got channels=3"),
    (dict(transform="reduce"), TypeError, "`transform` must be a function"),
    (dict(transform=transforms.first_slice(3)), ValueError,
     "height \\(28\\) must be divisible by `scale` \\(3\\)"),
])
def test_errors(kwargs, error, match):
  kwargs = dict(dict(spec="mnist5k", split="test"), **kwargs)
  with pytest.raises(error, match=match):
    make_dataset(kwargs.pop("spec"), kwargs.pop("split"), **kwargs, **FAST)
