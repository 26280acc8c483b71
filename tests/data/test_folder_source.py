import hashlib

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import FAST
from data_helpers import images_of
from data_helpers import keys_of
from data_helpers import write_jpeg
from data_helpers import write_png
from spn_keras.data import center_crop_and_resize
from spn_keras.data import folder_split
from spn_keras.data import make_dataset
from spn_keras.data.folder_source import folder_files
from spn_keras.data.folder_source import list_images


def _documented_split(relative_path):
  digest = hashlib.sha256(relative_path.encode("utf-8")).hexdigest()
  return "test" if int(digest[:8], 16) % 100 < 10 else "train"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
  """40 random 12 x 12 PNGs in nested folders, plus files that are not images."""
  root = tmp_path_factory.mktemp("images")
  rng = np.random.default_rng(0)
  images = {}
  for i in range(40):
    relative = f"{'abc'[i % 3]}/{'deep/' if i % 5 == 0 else ''}img_{i:02d}.png"
    images[relative] = rng.integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    write_png(root / relative, images[relative])
  (root / "notes.txt").write_text("not an image")
  (root / "a" / "data.npy").write_bytes(b"0")
  return root, images


def test_split_rule_is_the_documented_hash(folder):
  root, images = folder
  assert list_images(str(root)) == sorted(images)
  splits = {path: _documented_split(path) for path in images}
  assert {path: folder_split(path) for path in images} == splits
  test = sorted(p for p, s in splits.items() if s == "test")
  assert 0 < len(test) < 40
  assert [f[len(str(root)) + 1:] for f in folder_files(str(root), "test")] == test


def test_splits_are_disjoint_and_cover_the_folder(folder):
  root, images = folder
  test = images_of(make_dataset(f"folder:{root}", "test", batch_size=3, **FAST))
  train = images_of(make_dataset(f"folder:{root}", "train", batch_size=3,
                                 drop_remainder=False, **FAST))
  assert test.dtype == np.uint8 and test.shape[1:] == (12, 12, 3)
  expected_test = [images[p] for p in sorted(images) if folder_split(p) == "test"]
  np.testing.assert_array_equal(test, np.stack(expected_test))  # sorted order, once
  assert not set(keys_of(test)) & set(keys_of(train))
  assert keys_of(np.concatenate([train, test])) == keys_of(images.values())


def test_train_is_shuffled_with_the_seed(folder):
  root, _ = folder

  def epoch(seed):
    return images_of(make_dataset(f"folder:{root}", "train", seed=seed, **FAST))

  first = epoch(0)
  np.testing.assert_array_equal(first, epoch(0))
  assert not np.array_equal(first, epoch(1))
  ordered = images_of(make_dataset(f"folder:{root}", "train", shuffle=False, **FAST))
  assert keys_of(first) == keys_of(ordered) and not np.array_equal(first, ordered)


def test_resize_jpeg_and_grayscale(tmp_path):
  rng = np.random.default_rng(3)
  gradient = np.linspace(0, 255, 48).astype(np.uint8)
  # Several sizes and formats; the extensions' case does not matter.
  sources = {
      "wide.png": rng.integers(0, 256, size=(20, 36, 3), dtype=np.uint8),
      "tall.PNG": rng.integers(0, 256, size=(40, 24, 3), dtype=np.uint8),
      "smooth.jpg": np.ascontiguousarray(np.broadcast_to(gradient[None, :, None], (32, 48, 3))),
      "gray.jpeg": np.ascontiguousarray(np.broadcast_to(gradient[:, None, None], (48, 16, 1))),
  }
  for i in range(60):  # enough files for both splits to be non-empty
    sources[f"pad/{i}.png"] = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
  for name, image in sources.items():
    (write_jpeg if name.endswith(("jpg", "jpeg")) else write_png)(tmp_path / name, image)
  splits = {name: folder_split(name) for name in sources}
  for split in ("train", "test"):
    dataset = make_dataset(f"folder:{tmp_path}@8", split, shuffle=False, **FAST)
    assert dataset.element_spec.shape == (8, 8, 3)
    got = images_of(dataset)
    names = sorted(n for n in sources if splits[n] == split)
    assert len(got) == len(names)
    for name, image in zip(names, got):
      source = sources[name]
      if source.shape[2] == 1:
        source = np.repeat(source, 3, axis=2)
      expected = center_crop_and_resize(tf.constant(source), 8).numpy().astype(int)
      tolerance = 6 if name.endswith(("jpg", "jpeg")) else 0
      assert np.abs(image.astype(int) - expected).max() <= tolerance, name
  gray = make_dataset(f"folder:{tmp_path}@8", splits["gray.jpeg"], channels=1, shuffle=False,
                      **FAST)
  assert gray.element_spec.shape == (8, 8, 1)


def test_gray_pngs_for_a_gray_model(tmp_path):
  """Issue 27: a gray model's `folder:` of 28 x 28 gray PNGs (and an RGB one among them)."""
  rng = np.random.default_rng(4)
  names = [n for n in (f"{i}.png" for i in range(40)) if folder_split(n) == "train"][:4]
  sources = {name: rng.integers(0, 256, size=(28, 28, 1), dtype=np.uint8) for name in names}
  sources[names[-1]] = rng.integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
  for name, image in sources.items():
    write_png(tmp_path / name, image)
  dataset = make_dataset(f"folder:{tmp_path}", shuffle=False, batch_size=2,
                         image_shape=(28, 28, 1), **FAST)
  assert dataset.element_spec.shape == (None, 28, 28, 1)
  got = images_of(dataset)
  for name, image in zip(sorted(sources), got):
    source = sources[name]
    if source.shape[2] == 3:
      source = np.round(source @ [0.2989, 0.5870, 0.1140])[..., None]
    np.testing.assert_array_equal(image, source, err_msg=name)


def test_folder_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    make_dataset(f"folder:{tmp_path / 'missing'}", **FAST)
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="holds no files ending in .png"):
    make_dataset(f"folder:{tmp_path / 'empty'}", **FAST)
  # One train file: the test split is empty.
  name = next(f"{i}.png" for i in range(100) if folder_split(f"{i}.png") == "train")
  write_png(tmp_path / "one" / name, np.zeros((4, 4, 3), np.uint8))
  with pytest.raises(ValueError, match="none in the 'test' split"):
    make_dataset(f"folder:{tmp_path / 'one'}", "test", **FAST)
  with pytest.raises(ValueError, match=r"`channels` must be 1 \(gray\) or 3 \(RGB\) or None"):
    make_dataset(f"folder:{tmp_path / 'one'}", channels=4, **FAST)


def test_a_bucket_folder_of_pngs():
  """A `folder:` spec on `ram://` (TensorFlow's in-memory filesystem, the `tf.io.gfile` path
  that `gs://` buckets take)."""
  root = "ram://folder_source_test/images"
  rng = np.random.default_rng(3)
  images = {}
  for i in range(12):
    relative = f"{'ab'[i % 2]}/img_{i:02d}.png"
    images[relative] = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    tf.io.gfile.makedirs(f"{root}/{relative.split('/')[0]}")
    tf.io.write_file(f"{root}/{relative}", tf.io.encode_png(images[relative]))
  assert sorted(list_images(root)) == sorted(images)
  read = np.concatenate([images_of(make_dataset(f"folder:{root}", split, shuffle=False, **FAST))
                         for split in ("train", "test")])
  assert keys_of(read) == keys_of(images.values())
