"""Random multi-scale crops of a folder of photographs: the `crops:PATH@SIZE` dataset spec.

The photos are the folder's PNG and JPEG files, split into train and **test** (about 10% of
the files, by a hash of each relative path: `folder_source.folder_split`); the test photos are
a validation set of other photos from the same source. Every photo is decoded once and kept in
memory, box-filtered down (area resize) to a shorter side of at most `VIEW_SIDES[1]` pixels.

- **train**: the infinite seeded stream of `crop_stream.crop_stream_fn` over the train photos
  at the view sides `VIEW_SIDES`: a photo picked uniformly, a crop whose side makes the photo
  look 192 to 768 pixels high (log-uniform; the test photos of `photos32` are 427 pixels
  high), a uniform position, a flip; box-filtered to `SIZE x SIZE`. Large wallpapers thus
  give patches of ordinary photos rather than of their smooth areas. One "epoch" of a
  non-repeating dataset is `EPOCH_SIZE` crops; a repeating one continues with fresh crops.
- **test**: the first `TEST_CROPS_PER_PHOTO` x (number of test photos) crops of the stream of
  seed `TEST_SEED` over the test photos, the same whatever the training seed.

Decoding and downscaling every photo once takes about a second per 10 megapixels; the
downscaled photos take `3 * H * W` bytes each (about 2 MB for a 768 x 1229 photo).
"""

import functools

import tensorflow as tf

from spn_keras.data.crop_stream import crop_stream_fn
from spn_keras.data.crop_stream import stream_indices
from spn_keras.data.folder_source import folder_files
from spn_keras.data.image_ops import area_resize
from spn_keras.data.image_ops import decode_image

VIEW_SIDES = (192, 768)
EPOCH_SIZE = 8192
TEST_CROPS_PER_PHOTO = 128
TEST_SEED = 0


def load_photo(path, channels, max_shorter_side):
  """Decodes a photo and box-filters it down to a shorter side of at most `max_shorter_side`.

  Args:
    path: an image file (any `tf.io.gfile` path).
    channels: 1 or 3.
    max_shorter_side: int; smaller photos are kept as they are.

  Returns:
    uint8 numpy `(H, W, channels)`.
  """
  photo = decode_image(tf.io.read_file(path), channels)
  height, width = int(photo.shape[0]), int(photo.shape[1])
  shrink = max_shorter_side / min(height, width)
  if shrink < 1:
    new_size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
    photo = area_resize(photo, new_size)
  return photo.numpy()


@functools.lru_cache(maxsize=4)
def _photos(directory, split, channels):
  files = folder_files(directory, split)
  photos = tuple(load_photo(path, channels, VIEW_SIDES[1]) for path in files)
  for path, photo in zip(files, photos):
    if min(photo.shape[:2]) < VIEW_SIDES[0]:
      raise ValueError(f"Photo {path!r} is {photo.shape[0]} x {photo.shape[1]}: `crops:` "
                       f"datasets need photos at least {VIEW_SIDES[0]} pixels on each side.")
  return photos


def crops_dataset(directory, split, size, *, channels=3, seed=0, repeat=False, num_shards=1,
                  shard_index=0):
  """Elements of a `crops:` dataset before the shared map / batch stages.

  Args:
    directory: the folder of photos.
    split: "train" or "test".
    size: the side of the crops.
    channels: 1 or 3.
    seed: seed of the train stream (the test crops do not depend on it).
    repeat: train only: continue the stream past `EPOCH_SIZE` crops (infinite).
    num_shards, shard_index: this input pipeline's share (every `num_shards`-th crop).

  Returns:
    `(dataset, decode)`: a dataset of int64 stream indices and a function from one to a uint8
    image `(size, size, channels)`. The elements are random already (no shuffle needed).
  """
  if size > VIEW_SIDES[0]:
    raise ValueError(f"`crops:` specs take sizes up to {VIEW_SIDES[0]}, got {size}.")
  photos = _photos(directory, split, channels)
  if split == "train":
    crop = crop_stream_fn(photos, seed, size, VIEW_SIDES)
    indices = stream_indices(EPOCH_SIZE, repeat, num_shards, shard_index)
  else:
    crop = crop_stream_fn(photos, TEST_SEED, size, VIEW_SIDES)
    indices = tf.data.Dataset.range(shard_index, TEST_CROPS_PER_PHOTO * len(photos), num_shards)
  return indices, lambda index: crop(index)[0]
