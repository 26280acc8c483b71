import re

import numpy as np
import pytest

from data_helpers import FAST
from data_helpers import images_of
from data_helpers import write_jpeg
from data_helpers import write_png
from spn_keras.data import crops_source
from spn_keras.data import make_dataset
from spn_keras.data.folder_source import folder_split

MIN_SIDE = crops_source.VIEW_SIDES[0]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
  """16 photos of one flat colour each (the colour names the photo), 3 in the test split."""
  folder = tmp_path_factory.mktemp("photos")
  colours = {}
  for index in range(16):
    name = f"photo{index}.png" if index % 2 else f"sub/photo{index}.jpg"
    colour = np.array([16 * index, 255 - 16 * index, 128], np.uint8)
    shape = (MIN_SIDE + 8 * index, MIN_SIDE + 40, 3)
    (write_png if name.endswith(".png") else write_jpeg)(
        folder / name, np.broadcast_to(colour, shape).copy())
    colours[name] = colour
  splits = {name: folder_split(name) for name in colours}
  assert list(splits.values()).count("test") == 3
  return folder, colours, splits


def _photo_of(patch, colours):
  """The photo whose flat colour the patch has (JPEG: within a few levels)."""
  distances = {name: np.abs(patch.astype(int) - colour).max() for name, colour in
               colours.items()}
  name = min(distances, key=distances.get)
  assert distances[name] <= 3
  return name


def test_train_and_test_crops_come_from_their_split_of_the_photos(photo_folder):
  folder, colours, splits = photo_folder
  spec = f"crops:{folder}@16"
  train = images_of(make_dataset(spec, "train", batch_size=64, repeat=True, **FAST).take(4))
  test = images_of(make_dataset(spec, "test", batch_size=64, **FAST))
  assert train.shape == (256, 16, 16, 3) and train.dtype == np.uint8
  num_test = list(splits.values()).count("test")
  assert test.shape == (crops_source.TEST_CROPS_PER_PHOTO * num_test, 16, 16, 3)
  train_photos = {_photo_of(patch, colours) for patch in train}
  test_photos = {_photo_of(patch, colours) for patch in test}
  assert train_photos == {name for name, split in splits.items() if split == "train"}
  assert test_photos == {name for name, split in splits.items() if split == "test"}


def test_gray_crops_for_a_gray_model(photo_folder):
  """Issue 27: `crops:` of colour photos for a gray model: each crop is its photo's gray."""
  folder, colours, splits = photo_folder
  gray = {name: np.round(colour @ [0.2989, 0.5870, 0.1140]) for name, colour in colours.items()}
  test = images_of(make_dataset(f"crops:{folder}@16", "test", batch_size=64,
                                image_shape=(16, 16, 1), **FAST))
  assert test.shape == (crops_source.TEST_CROPS_PER_PHOTO * 3, 16, 16, 1)
  test_gray = sorted(g for name, g in gray.items() if splits[name] == "test")
  assert sorted({int(np.median(crop)) for crop in test}) == test_gray
  assert max(np.abs(crop.astype(int) - np.median(crop)).max() for crop in test) <= 3  # JPEG
  train = make_dataset(f"crops:{folder}@16", "train", batch_size=8, channels=1, **FAST)
  assert next(iter(train)).shape == (8, 16, 16, 1)
  with pytest.raises(ValueError, match=re.escape(
      f"Dataset 'crops:{folder}@16' gives 16 x 16 x 1 images, not the 28 x 28 x 1 asked for "
      "(`image_shape`); give @28 instead of @16 in the spec.")):
    make_dataset(f"crops:{folder}@16", "test", image_shape=(28, 28, 1), **FAST)


def test_train_stream_is_seeded_and_test_crops_are_fixed(tmp_path):
  rng = np.random.default_rng(0)
  for index in range(16):  # photo15.png is the test split
    write_png(tmp_path / f"photo{index}.png", rng.integers(0, 256, (MIN_SIDE, MIN_SIDE + 9, 3),
                                                      np.uint8))
  spec = f"crops:{tmp_path}@8"

  def train(seed):
    return images_of(make_dataset(spec, "train", batch_size=32, seed=seed, **FAST).take(2))

  np.testing.assert_array_equal(train(1), train(1))
  assert not np.array_equal(train(1), train(2))
  epoch = make_dataset(spec, "train", batch_size=32, **FAST)
  assert int(epoch.cardinality()) == crops_source.EPOCH_SIZE // 32
  test = [images_of(make_dataset(spec, "test", batch_size=50, seed=seed, **FAST))
          for seed in (1, 2)]
  np.testing.assert_array_equal(test[0], test[1])


def test_large_photos_are_box_filtered_to_the_largest_view(tmp_path):
  photo = np.zeros((1000, 1500, 3), np.uint8)
  photo[::2] = 200  # stripes one row high: their box-filtered mean is 100
  write_png(tmp_path / "big.png", photo)
  loaded = crops_source.load_photo(str(tmp_path / "big.png"), 3, max_shorter_side=500)
  assert loaded.shape == (500, 750, 3)
  np.testing.assert_array_equal(loaded, 100)
  small = crops_source.load_photo(str(tmp_path / "big.png"), 1, max_shorter_side=2000)
  assert small.shape == (1000, 1500, 1)


def test_bad_inputs(tmp_path):
  write_png(tmp_path / "a.png", np.zeros((MIN_SIDE - 1, 400, 3), np.uint8))
  write_png(tmp_path / "b.png", np.zeros((MIN_SIDE - 1, 400, 3), np.uint8))
  with pytest.raises(ValueError, match=f"at least {MIN_SIDE} pixels on each side"):
    make_dataset(f"crops:{tmp_path}@8", "train", **FAST)
  with pytest.raises(ValueError, match="'crops:' needs the side of its crops"):
    make_dataset(f"crops:{tmp_path}", "train", **FAST)
  with pytest.raises(ValueError, match=f"sizes up to {MIN_SIDE}"):
    make_dataset(f"crops:{tmp_path}@{MIN_SIDE + 1}", "train", **FAST)
