"""TensorFlow Datasets sources: the benchmarks of the paper (section 4).

`TFDS_DATASETS` lists the TFDS names that `make_dataset` accepts after `tfds:`, with the TFDS
split that serves as spn-keras's "train" and "test" split:

- `downsampled_imagenet/32x32`, `downsampled_imagenet/64x64`: van den Oord et al. (2016)'s
  Downsampled ImageNet, the benchmark of Table 1 (test = TFDS "validation").
- `imagenet_resized/32x32`, `imagenet_resized/64x64`: Chrabaszcz et al. (2017)'s box-resized
  ImageNet (test = "validation"); a similar but different dataset.
- `imagenet2012`: full-size ImageNet (a manual download), test = "validation". Its images vary
  in size, so the spec must give one, e.g. `tfds:imagenet2012@128` or `@256` (paper section
  4.2): central square crop, then box resize (`image_ops.center_crop_and_resize`).
- `celeb_a_hq/128` ... `celeb_a_hq/1024` (a manual download; the paper uses 256). TFDS has a
  single split of 30,000 images; spn-keras uses the sizes of Glow's split (Kingma & Dhariwal
  2018): train = the first 27,000 in TFDS order (`train[:27000]`), test = the last 3,000
  (`train[27000:]`). Glow's exact membership is not reproduced.

`data_dir` and `download` are passed to `tfds.load`. `download` defaults to False in
`make_dataset`: without a network `tfds.load(download=True)` retries for minutes before it
fails, whereas with data missing and `download=False` it fails at once, naming `data_dir`.
"""

import tensorflow as tf

_IMAGENET_SPLITS = {"train": "train", "test": "validation"}
_CELEB_A_HQ_SPLITS = {"train": "train[:27000]", "test": "train[27000:]"}

TFDS_DATASETS = {
    "downsampled_imagenet/32x32": dict(splits=_IMAGENET_SPLITS, shape=(32, 32, 3)),
    "downsampled_imagenet/64x64": dict(splits=_IMAGENET_SPLITS, shape=(64, 64, 3)),
    "imagenet_resized/32x32": dict(splits=_IMAGENET_SPLITS, shape=(32, 32, 3)),
    "imagenet_resized/64x64": dict(splits=_IMAGENET_SPLITS, shape=(64, 64, 3)),
    "imagenet2012": dict(splits=_IMAGENET_SPLITS, shape=None),
}
for _side in (128, 256, 512, 1024):
  TFDS_DATASETS[f"celeb_a_hq/{_side}"] = dict(splits=_CELEB_A_HQ_SPLITS, shape=(_side, _side, 3))
del _side

IMAGE_KEY = "image"


def tfds_split(name, split):
  """The TFDS split string that serves as `split` ("train" or "test") of dataset `name`."""
  return TFDS_DATASETS[name]["splits"][split]


def tfds_dataset(name, split, *, data_dir=None, download=False, shuffle=False, seed=0,
                 num_shards=1, shard_index=0):
  """Encoded images of a TFDS dataset, before the shared map / shuffle / batch stages.

  Images are read still encoded (`tfds.decode.SkipDecoding`) so that the shuffle buffer holds
  bytes, and decoded in the parallel map. An input pipeline `shard_index` of `num_shards`
  reads the even sub-split `tfds.even_splits(split, num_shards)[shard_index]`: disjoint
  example ranges whose union is the split, each read from its own files only.

  Args:
    name: a key of `TFDS_DATASETS`.
    split: "train" or "test".
    data_dir, download: passed to `tfds.load`.
    shuffle: shuffle the order of the files (with `seed`).
    seed: int.
    num_shards, shard_index: this input pipeline's share.

  Returns:
    `(dataset, decode)`: a dataset of scalar `tf.string`s and a function from one to a uint8
    image `(H, W, 3)` (static shape when the dataset's images all have one).
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  entry = TFDS_DATASETS[name]
  split_arg = tfds_split(name, split)
  if num_shards > 1:
    split_arg = tfds.even_splits(split_arg, num_shards)[shard_index]
  dataset, info = tfds.load(
      name, split=split_arg, data_dir=data_dir, download=download, shuffle_files=shuffle,
      with_info=True, decoders={IMAGE_KEY: tfds.decode.SkipDecoding()},
      read_config=tfds.ReadConfig(shuffle_seed=seed, try_autocache=False))
  feature = info.features[IMAGE_KEY]
  dataset = dataset.map(lambda example: example[IMAGE_KEY])
  shape = entry["shape"]

  def decode(encoded):
    image = feature.decode_example(encoded)
    if shape is not None:
      image = tf.ensure_shape(image, shape)
    return image

  return dataset, decode
