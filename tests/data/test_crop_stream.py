import numpy as np
import pytest
import tensorflow as tf

from spn_keras.data.crop_stream import crop_stream_fn


def _photos():
  rng = np.random.default_rng(0)
  return [rng.integers(0, 256, shape, np.uint8) for shape in ((40, 60, 3), (90, 50, 3),
                                                              (64, 64, 3))]


def _draws(crop, count):
  dataset = tf.data.Dataset.range(count).map(lambda i: crop(i)[1]).batch(count)
  return next(iter(dataset)).numpy()


def _area_resize(image, size):
  resized = tf.image.resize(image, (size, size), method="area")
  return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8).numpy()


@pytest.mark.parametrize("view_sides", [None, (8, 32)])
def test_crops_are_the_drawn_window(view_sides):
  photos = _photos()
  crop = crop_stream_fn(photos, seed=3, size=8, view_sides=view_sides)
  flips, sides = 0, set()
  for index in range(40):
    image, (photo, top, left, side, flip) = (t.numpy() for t in crop(tf.constant(index,
                                                                                  tf.int64)))
    window = photos[photo][top:top + side, left:left + side]
    assert window.shape == (side, side, 3)
    expected = window if side == 8 else _area_resize(window, 8)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected[:, ::-1] if flip else expected)
    flips += flip
    sides.add(int(side))
  assert 0 < flips < 40
  assert sides == {8} if view_sides is None else len(sides) > 5


def test_sides_show_the_photo_at_log_uniform_heights():
  photos = [np.zeros((400, 600, 1), np.uint8), np.zeros((100, 100, 1), np.uint8)]
  draws = _draws(crop_stream_fn(photos, seed=0, size=8, view_sides=(20, 200)), 4000)
  for photo, shorter, high in ((0, 400, 200), (1, 100, 100)):  # view <= the photo's side
    sides = draws[draws[:, 0] == photo, 3]
    views = 8 * shorter / sides
    assert views.min() >= 20 * 0.9 and views.max() <= high * 1.1
    # log-uniform: the median view is the geometric mean of the bounds.
    assert abs(np.log(np.median(views)) - np.log(np.sqrt(20 * high))) < 0.1
  assert np.all(draws[:, 1] + draws[:, 3] <= np.where(draws[:, 0] == 0, 400, 100))
  assert np.all(draws[:, 2] + draws[:, 3] <= np.where(draws[:, 0] == 0, 600, 100))


def test_stream_is_a_function_of_seed_and_index():
  photos = _photos()

  def images(seed, indices):
    crop = crop_stream_fn(photos, seed=seed, size=8, view_sides=(8, 32))
    return np.stack([crop(tf.constant(i, tf.int64))[0].numpy() for i in indices])

  np.testing.assert_array_equal(images(1, [5, 6]), images(1, [7, 5, 6])[1:])
  assert not np.array_equal(images(1, range(4)), images(2, range(4)))


def test_photo_picked_uniformly():
  draws = _draws(crop_stream_fn(_photos(), seed=0, size=8), 3000)
  assert np.all(np.abs(np.bincount(draws[:, 0], minlength=3) - 1000) < 120)


def test_bad_arguments():
  with pytest.raises(ValueError, match="at least 50 x 50; photo 0 is 40 x 60"):
    crop_stream_fn(_photos(), seed=0, size=50)
  with pytest.raises(ValueError, match="`view_sides` must be \\(low, high\\) with 8 <= low"):
    crop_stream_fn(_photos(), seed=0, size=8, view_sides=(4, 32))
  with pytest.raises(ValueError, match="`view_sides`"):
    crop_stream_fn(_photos(), seed=0, size=8, view_sides=(32, 16))
