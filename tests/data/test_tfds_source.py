import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from data_helpers import FAST
from data_helpers import images_of
from spn_keras.data import TFDS_DATASETS
from spn_keras.data import make_dataset


def _mock(**kwargs):
  # USE_CODE: features from the builders' code, so no metadata is looked up anywhere.
  return tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE, **kwargs)


@pytest.mark.parametrize("spec, shape", [
    ("tfds:imagenet_resized/64x64", (64, 64, 3)),
    ("tfds:imagenet_resized/32x32", (32, 32, 3)),
    ("tfds:imagenet2012@128", (128, 128, 3)),   # random-sized mock images, cropped and resized
    ("tfds:imagenet2012@256", (256, 256, 3)),
    ("tfds:celeb_a_hq/256", (256, 256, 3)),
    ("tfds:celeb_a_hq/256@64", (64, 64, 3)),
])
def test_mock_tfds_shapes_and_dtypes(spec, shape):
  with _mock(num_examples=3):
    for split in ("train", "test"):
      dataset = make_dataset(spec, split, batch_size=2, **FAST)
      batch = 2 if split == "train" else None  # static when the remainder is dropped
      assert dataset.element_spec == tf.TensorSpec((batch, *shape), tf.uint8)
      images = images_of(dataset)
      assert images.dtype == np.uint8 and images.shape[1:] == shape
      # Training drops the last incomplete batch; evaluation yields every example once.
      assert len(images) == (2 if split == "train" else 3)


class _Recorder:
  """A mock `as_dataset` that yields real-sized encoded images and records its arguments."""

  def __init__(self, shape, count=5):
    rng = np.random.default_rng(0)
    self.images = rng.integers(0, 256, size=(count, *shape), dtype=np.uint8)
    self.calls = []

    def as_dataset(builder, split, decoders=None, read_config=None, shuffle_files=False,
                   **kwargs):
      return self._as_dataset(builder, split, decoders, read_config, shuffle_files)

    self.as_dataset = as_dataset  # a function: mock_data installs it as a method

  def _as_dataset(self, builder, split, decoders, read_config, shuffle_files):
    self.calls.append(dict(name=builder.info.full_name, split=split, shuffle_files=shuffle_files,
                           seed=read_config.shuffle_seed, decoders=decoders))
    # The pipeline asks for encoded images, decoded in its own parallel map.
    assert isinstance(decoders["image"], tfds.decode.SkipDecoding)
    encoded = [tf.io.encode_png(image).numpy() for image in self.images]
    return tf.data.Dataset.from_tensor_slices({"image": encoded})


def test_downsampled_imagenet_at_its_real_shape():
  recorder = _Recorder((64, 64, 3))
  with _mock(as_dataset_fn=recorder.as_dataset):
    dataset = make_dataset("tfds:downsampled_imagenet/64x64", "test", batch_size=2, **FAST)
    # The TFDS feature is (None, None, 3); the registry pins the real (64, 64, 3).
    assert dataset.element_spec.shape == (None, 64, 64, 3)
    np.testing.assert_array_equal(images_of(dataset), recorder.images)
  assert recorder.calls[-1]["split"] == "validation"
  assert recorder.calls[-1]["shuffle_files"] is False


def test_wrong_sized_images_are_caught():
  recorder = _Recorder((40, 64, 3))
  with _mock(as_dataset_fn=recorder.as_dataset):
    dataset = make_dataset("tfds:downsampled_imagenet/64x64", "test", **FAST)
    with pytest.raises(tf.errors.InvalidArgumentError):
      images_of(dataset)


@pytest.mark.parametrize("name, split, expected", [
    ("imagenet2012", "train", "train"),
    ("imagenet2012", "test", "validation"),
    ("imagenet_resized/64x64", "test", "validation"),
    ("celeb_a_hq/256", "train", "train[:27000]"),
    ("celeb_a_hq/256", "test", "train[27000:]"),
])
def test_split_mapping_and_shuffle(name, split, expected):
  recorder = _Recorder((16, 16, 3))
  spec = f"tfds:{name}" + ("@8" if TFDS_DATASETS[name]["shape"] is None else "")
  with _mock(as_dataset_fn=recorder.as_dataset):
    make_dataset(spec, split, seed=7, **FAST)
  call = recorder.calls[-1]
  assert call["split"] == expected
  assert call["shuffle_files"] is (split == "train") and call["seed"] == 7


def test_input_pipelines_read_even_subsplits():
  recorder = _Recorder((16, 16, 3))
  with _mock(as_dataset_fn=recorder.as_dataset):
    for index in range(3):
      context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=index)
      make_dataset("tfds:imagenet2012@8", "test", input_context=context, **FAST)
  assert [c["split"] for c in recorder.calls] == tfds.even_splits("validation", 3)


def test_data_dir_and_download_reach_tfds_load(monkeypatch, tmp_path):
  calls = []
  real_load = tfds.load

  def load(*args, **kwargs):
    calls.append(kwargs)
    return real_load(*args, **kwargs)

  monkeypatch.setattr(tfds, "load", load)
  with _mock(num_examples=1):
    make_dataset("tfds:imagenet_resized/32x32", data_dir=str(tmp_path), **FAST)
    make_dataset("tfds:imagenet_resized/32x32", download=True, **FAST)
  assert calls[0]["data_dir"] == str(tmp_path) and calls[0]["download"] is False
  assert calls[1]["download"] is True


def test_missing_data_fails_at_once_without_download(tmp_path):
  with pytest.raises(AssertionError, match="could not find data"):
    make_dataset("tfds:imagenet_resized/32x32", data_dir=str(tmp_path), **FAST)
