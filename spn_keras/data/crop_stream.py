"""Seeded streams of random square crops of in-memory photos (`photos32` and `crops:` specs).

Example `k` of the stream of seed `s` is a pure function of `(s, k)` (TensorFlow's stateless
random numbers): the stream needs no state, is the same on every run (on one TensorFlow
version), and input pipelines can take disjoint shares of it by index.
"""

import numpy as np
import tensorflow as tf

from spn_keras.data.image_ops import area_resize

# Draws are uniform int64 in [0, 2**62); modulo a range of n values they are biased by at most
# n / 2**62, negligible for image sizes.
_DRAW_RANGE = 2**62


def crop_stream_fn(photos, seed, size, view_sides=None):
  """A function from example index to a random square crop of one of `photos`.

  Without `view_sides`, a crop is `size x size` pixels of a photo: the photo picked uniformly
  (not in proportion to its area), then a uniform position, then a horizontal flip with
  probability 1/2. With `view_sides = (low, high)`, the crop shows the photo at a random
  resolution first: a side `c` is chosen so that the photo, downscaled by `c / size`, has a
  shorter side `view` log-uniform in `[low, min(high, shorter side)]`; the `c x c` crop at a
  uniform position is box-filtered (area resize, rounded to the nearest integer) to
  `size x size`. A 32 x 32 crop of a photo viewed 400 pixels high then looks like a patch of a
  400-pixel photo, whatever the resolution of the file.

  Args:
    photos: a sequence of uint8 `(H_i, W_i, C)` numpy arrays, each at least `size` pixels
      high and wide; all with the same `C`.
    seed: int, the seed of the stream.
    size: the side of the crops.
    view_sides: None, or `(low, high)` ints with `size <= low <= high`.

  Returns:
    `crop(index) -> (image, draw)`, traceable in `Dataset.map`: `index` is a scalar int64,
    `image` uint8 `(size, size, C)`, `draw` int64 `(5,)` `(photo, top, left, side, flip)`:
    `image` is `photos[photo][top:top+side, left:left+side]` (resized to `size` when
    `side != size`), mirrored left-right when `flip` is 1.
  """
  channels = photos[0].shape[2]
  heights = np.array([p.shape[0] for p in photos], np.int64)
  widths = np.array([p.shape[1] for p in photos], np.int64)
  smallest = int(np.argmin(np.minimum(heights, widths)))
  if min(heights[smallest], widths[smallest]) < size:
    raise ValueError(f"Every photo must be at least {size} x {size}; photo {smallest} is "
                     f"{heights[smallest]} x {widths[smallest]}.")
  if view_sides is not None:
    low, high = view_sides
    if not size <= low <= high:
      raise ValueError(f"`view_sides` must be (low, high) with {size} <= low <= high, got "
                       f"{view_sides!r}.")
  starts = np.concatenate([[0], np.cumsum(heights * widths * channels)[:-1]]).astype(np.int64)
  # All photos in one flat buffer: a crop is a gather of `side` rows of `side * C` bytes.
  flat = tf.constant(np.concatenate([p.reshape(-1) for p in photos]))
  heights_t, widths_t, starts_t = (tf.constant(a) for a in (heights, widths, starts))
  seed = tf.constant(int(seed), tf.int64)
  num_photos = len(photos)

  def crop_side(photo, draw):
    """`c`: the side whose crop, resized to `size`, shows the photo `view` pixels high."""
    shorter = tf.cast(tf.minimum(tf.gather(heights_t, photo), tf.gather(widths_t, photo)),
                      tf.float64)
    low = tf.minimum(tf.constant(float(view_sides[0]), tf.float64), shorter)
    high = tf.minimum(tf.constant(float(view_sides[1]), tf.float64), shorter)
    fraction = tf.cast(draw, tf.float64) / _DRAW_RANGE
    view = tf.exp(tf.math.log(low) + fraction * (tf.math.log(high) - tf.math.log(low)))
    side = tf.cast(tf.round(size * shorter / view), tf.int64)
    return tf.clip_by_value(side, size, tf.cast(shorter, tf.int64))

  def crop(index):
    index = tf.cast(index, tf.int64)
    count = 4 if view_sides is None else 5
    draws = tf.random.stateless_uniform(
        [count], seed=tf.stack([seed, index]), minval=0, maxval=_DRAW_RANGE, dtype=tf.int64)
    photo = draws[0] % num_photos
    side = tf.constant(size, tf.int64) if view_sides is None else crop_side(photo, draws[4])
    height, width = tf.gather(heights_t, photo), tf.gather(widths_t, photo)
    top = draws[1] % (height - side + 1)
    left = draws[2] % (width - side + 1)
    flip = draws[3] % 2
    span = tf.range(side, dtype=tf.int64)
    row_starts = tf.gather(starts_t, photo) + ((top + span) * width + left) * channels
    offsets = row_starts[:, None] + tf.range(side * channels, dtype=tf.int64)[None, :]
    image = tf.reshape(tf.gather(flat, offsets), tf.stack([side, side, channels]))
    if view_sides is not None:
      image = area_resize(image, (size, size))
    image = tf.reshape(image, (size, size, channels))
    image = tf.cond(flip > 0, lambda: image[:, ::-1, :], lambda: image)
    return image, tf.stack([photo, top, left, side, flip])

  return crop


def stream_indices(epoch_size, repeat, num_shards=1, shard_index=0):
  """The example indices of a crop stream that one input pipeline reads.

  Args:
    epoch_size: examples `0 .. epoch_size - 1` make a non-repeating dataset.
    repeat: continue past one epoch with fresh indices (infinite).
    num_shards, shard_index: this input pipeline's share (every `num_shards`-th index).

  Returns:
    A `tf.data.Dataset` of int64 indices.
  """
  if repeat:
    return tf.data.Dataset.counter(start=shard_index, step=num_shards)
  return tf.data.Dataset.range(shard_index, epoch_size, num_shards)
