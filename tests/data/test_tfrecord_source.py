import os
import re

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from data_helpers import keys_of
from spn_keras.data import image_shape_errors_as_value_errors
from spn_keras.data import make_dataset
from spn_keras.data import write_tfrecords
from spn_keras.data.tfrecord_source import FEATURE_KEY


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
  root = tmp_path_factory.mktemp("records")
  rng = np.random.default_rng(0)
  train = rng.integers(0, 256, size=(22, 8, 8, 3), dtype=np.uint8)
  test = rng.integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)
  write_tfrecords(train, str(root), "train", num_shards=4)
  write_tfrecords(test, str(root), "test", num_shards=2)
  return root, train, test


def test_writer_layout_and_feature_key(tmp_path):
  images = np.arange(5 * 4 * 4).reshape(5, 4, 4, 1).astype(np.uint8)
  paths = write_tfrecords(images, str(tmp_path), "test", num_shards=2)
  assert [os.path.basename(p) for p in paths] == ["test-00000-of-00002.tfrecord",
                                                  "test-00001-of-00002.tfrecord"]
  records = list(tf.data.TFRecordDataset(paths).as_numpy_iterator())
  assert len(records) == 5
  example = tf.train.Example.FromString(records[0])
  encoded = example.features.feature[FEATURE_KEY].bytes_list.value[0]
  assert FEATURE_KEY == "image/encoded"
  np.testing.assert_array_equal(tf.io.decode_png(encoded), images[0])


def test_test_split_reads_back_exactly_in_order(shards):
  root, _, test = shards
  dataset = make_dataset(f"tfrecord:{root}", "test", batch_size=3, **FAST)
  batches = list(dataset.as_numpy_iterator())
  assert [len(b) for b in batches] == [3, 3, 1]
  np.testing.assert_array_equal(np.concatenate(batches), test)
  pattern = make_dataset(f"tfrecord:{root}/{{split}}-*.tfrecord", "test", **FAST)
  np.testing.assert_array_equal(images_of(pattern), test)


def test_train_split_is_shuffled_and_complete(shards):
  root, train, _ = shards

  def epoch(seed):
    return images_of(make_dataset(f"tfrecord:{root}", "train", seed=seed, **FAST))

  first = epoch(0)
  assert keys_of(first) == keys_of(train)
  np.testing.assert_array_equal(first, epoch(0))
  assert not np.array_equal(first, train)
  batched = make_dataset(f"tfrecord:{root}", "train", batch_size=4, repeat=True, **FAST)
  assert batched.element_spec.shape.as_list() == [4, None, None, 3]  # no @SIZE: not static
  assert len(list(batched.take(12).as_numpy_iterator())) == 12  # repeats past 22 images


def test_resize_and_jpeg(tmp_path):
  smooth = np.ascontiguousarray(np.broadcast_to(
      np.linspace(0, 255, 24).astype(np.uint8)[:, None, None], (24, 16, 3)))
  write_tfrecords([smooth, smooth], str(tmp_path), "test", image_format="jpeg")
  out = images_of(make_dataset(f"tfrecord:{tmp_path}@4", "test", **FAST))
  assert out.shape == (2, 4, 4, 3)
  square = smooth[4:20].astype(float)  # central 16 x 16
  expected = square.reshape(4, 4, 4, 4, 3).mean(axis=(1, 3))
  assert np.abs(out[0] - expected).max() <= 6


def test_gray_and_rgb_records_for_a_gray_model(tmp_path, shards):
  """Issue 27: records of gray PNGs keep their values, records of RGB PNGs become gray."""
  gray = np.random.default_rng(5).integers(0, 256, size=(5, 8, 8, 1), dtype=np.uint8)
  write_tfrecords(gray, str(tmp_path), "test", num_shards=2)
  got = make_dataset(f"tfrecord:{tmp_path}", "test", image_shape=(8, 8, 1), **FAST)
  assert got.element_spec == tf.TensorSpec((8, 8, 1), tf.uint8)
  np.testing.assert_array_equal(images_of(got), gray)
  root, _, rgb = shards
  converted = images_of(make_dataset(f"tfrecord:{root}", "test", channels=1, **FAST))
  np.testing.assert_array_equal(converted[..., 0], np.round(rgb @ [0.2989, 0.5870, 0.1140]))
  wrong = make_dataset(f"tfrecord:{tmp_path}", "test", image_shape=(28, 28, 1), **FAST)
  with pytest.raises(ValueError, match=re.escape(
      f"An image of tfrecord:{tmp_path} is 8 x 8 pixels, not the 28 x 28 asked for "
      f"(`image_shape`) from tfrecord:{tmp_path}; add @28 to the spec")):
    with image_shape_errors_as_value_errors():
      list(wrong)


def test_tfrecord_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    make_dataset(f"tfrecord:{tmp_path / 'missing'}", **FAST)
  with pytest.raises(FileNotFoundError, match="No TFRecord files of split 'train'"):
    make_dataset(f"tfrecord:{tmp_path}", **FAST)
  with pytest.raises(ValueError, match="`image_format` must be 'png' or 'jpeg'"):
    write_tfrecords(np.zeros((1, 2, 2, 3), np.uint8), str(tmp_path), image_format="gif")
  with pytest.raises(ValueError, match="uint8 \\(H, W, C\\)"):
    write_tfrecords(np.zeros((1, 2, 2, 3), np.float32), str(tmp_path))
  with pytest.raises(ValueError, match="`num_shards` must be an int in \\[1, 2\\]"):
    write_tfrecords(np.zeros((2, 2, 2, 3), np.uint8), str(tmp_path), num_shards=3)


def test_a_bucket_tfrecord_file():
  """`write_tfrecords` and a `tfrecord:` spec on `ram://` (the `tf.io.gfile` path of `gs://`)."""
  root = "ram://tfrecord_source_test/records"
  images = np.random.default_rng(5).integers(0, 256, size=(5, 6, 6, 3), dtype=np.uint8)
  paths = write_tfrecords(images, root, "test", num_shards=1)
  assert paths == [f"{root}/test-00000-of-00001.tfrecord"] and tf.io.gfile.exists(paths[0])
  np.testing.assert_array_equal(images_of(make_dataset(f"tfrecord:{root}", "test", **FAST)),
                                images)
  np.testing.assert_array_equal(
      images_of(make_dataset(f"tfrecord:{root}/{{split}}-*.tfrecord", "test", **FAST)), images)
