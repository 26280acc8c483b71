import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from data_helpers import keys_of
from data_helpers import write_png
from spn_keras.data import make_dataset
from spn_keras.data import make_dataset_fn
from spn_keras.data import write_tfrecords


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
  """Spec strings of a folder (one image per file), TFRecords with 4 files and with 1, and
  random crops of a folder of photos."""
  rng = np.random.default_rng(0)
  folder = tmp_path_factory.mktemp("folder")
  for i in range(60):
    write_png(folder / f"{i % 4}" / f"{i}.png", rng.integers(0, 256, (6, 6, 3), np.uint8))
  records = tmp_path_factory.mktemp("records")
  one = tmp_path_factory.mktemp("one_file")
  for split, count in (("train", 30), ("test", 11)):
    images = rng.integers(0, 256, (count, 6, 6, 3), np.uint8)
    write_tfrecords(images, str(records), split, num_shards=4)
    write_tfrecords(images, str(one), split, num_shards=1)
  photos = tmp_path_factory.mktemp("photos")
  for i in range(16):  # photo15.png is the test split
    write_png(photos / f"photo{i}.png", rng.integers(0, 256, (192, 200, 3), np.uint8))
  return {"folder": f"folder:{folder}", "crops": f"crops:{photos}@4",
          "tfrecords": f"tfrecord:{records}", "one_tfrecord": f"tfrecord:{one}",
          "mnist5k": "mnist5k", "photos32": "photos32"}


def _pipeline_images(spec, split, num_pipelines, **kwargs):
  shares = []
  for index in range(num_pipelines):
    context = tf.distribute.InputContext(num_input_pipelines=num_pipelines,
                                         input_pipeline_id=index)
    shares.append(images_of(make_dataset(spec, split, input_context=context, **kwargs, **FAST)))
  return shares


@pytest.mark.parametrize("source", ["folder", "tfrecords", "one_tfrecord", "mnist5k",
                                    "photos32", "crops"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_two_pipelines_see_disjoint_shares_of_the_split(sources, source, split):
  spec = sources[source]
  whole = images_of(make_dataset(spec, split, shuffle=False, **FAST))
  first, second = _pipeline_images(spec, split, 2)  # shuffled for "train"
  assert len(first) and len(second)
  assert abs(len(first) - len(second)) <= 1 or source == "tfrecords"  # 4 files of unequal size
  # Multisets: the photos32 stream holds equal crops (black corners of retina, dark sky).
  assert keys_of(np.concatenate([first, second])) == keys_of(whole)
  if len(set(keys_of(whole))) == len(whole):
    assert not set(keys_of(first)) & set(keys_of(second))


def test_more_pipelines_than_records_files(sources):
  shares = _pipeline_images(sources["tfrecords"], "test", 5)  # 4 files: shard by example
  whole = images_of(make_dataset(sources["tfrecords"], "test", **FAST))
  assert [len(s) for s in shares] == [3, 2, 2, 2, 2]
  assert keys_of(np.concatenate(shares)) == keys_of(whole)


def test_folder_with_more_pipelines_than_files(tmp_path):
  write_png(tmp_path / "0.png", np.zeros((2, 2, 3), np.uint8))
  context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
  with pytest.raises(ValueError, match="fewer files than input pipelines"):
    make_dataset(f"folder:{tmp_path}", "train", input_context=context, **FAST)


def test_dataset_fn_uses_the_per_replica_batch_size():
  dataset_fn = make_dataset_fn("mnist5k", "train", global_batch_size=32, seed=1, **FAST)
  context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1,
                                       num_replicas_in_sync=4)
  dataset = dataset_fn(context)
  assert dataset.element_spec == tf.TensorSpec((8, 28, 28, 1), tf.uint8)
  assert int(dataset.cardinality()) == 2250 // 8
  bad = tf.distribute.InputContext(num_replicas_in_sync=3)
  with pytest.raises(ValueError, match="divisible"):
    dataset_fn(bad)


def test_distribute_datasets_from_function():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  dataset_fn = make_dataset_fn("photos32", "test", global_batch_size=16, **FAST)
  dataset = strategy.distribute_datasets_from_function(dataset_fn)
  batches = [strategy.experimental_local_results(b)[0].numpy() for b in dataset]
  assert batches[0].shape == (16, 32, 32, 3) and sum(len(b) for b in batches) == 520


def test_dataset_fn_errors():
  with pytest.raises(ValueError, match="`global_batch_size` must be a positive int"):
    make_dataset_fn("mnist5k", global_batch_size=0)
  with pytest.raises(TypeError, match="sets `batch_size` itself"):
    make_dataset_fn("mnist5k", global_batch_size=8, batch_size=8)
