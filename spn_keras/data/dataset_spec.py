"""`DatasetSpec`: the parsed form of the dataset strings that `make_dataset` accepts.

Grammar (one string names the images and, optionally, their size):

```
spec     := EMBEDDED | SOURCE [ "@" SIZE ]
EMBEDDED := "mnist5k" | "photos32"                    (see embedded.py; no size)
SOURCE   := "tfds:" TFDS_NAME                         (a key of tfds_source.TFDS_DATASETS)
          | "folder:" PATH                            (PNG/JPEG files, recursive)
          | "tfrecord:" FOLDER | "tfrecord:" GLOB     (GLOB containing "{split}")
          | "crops:" PATH                             (random multi-scale crops of the
                                                       photos in a folder; SIZE required)
SIZE     := a positive decimal integer
```

`@SIZE` makes every image `SIZE x SIZE` by a central square crop and a box (area) resize
(`image_ops.center_crop_and_resize`); for `crops:` it is the side of the random crops
(`crops_source`). Without it, images keep their stored size, which must then
be the same for all images of a batch; `tfds:imagenet2012`, whose images vary, requires it.
Only a trailing `@` followed by digits is a size, so a path that itself ends in `@<digits>`
needs an explicit size after it. A PATH, FOLDER or GLOB starting with `~` starts at the user's
home folder (`os.path.expanduser`). Examples: `mnist5k`, `photos32`,
`tfds:downsampled_imagenet/64x64`, `tfds:imagenet2012@128`, `tfds:celeb_a_hq/256`,
`tfds:celeb_a_hq/256@64`, `folder:/data/faces@64`, `tfrecord:/data/shards`,
`tfrecord:gs://bucket/faces-{split}-*.tfrecord@32`, `crops:/data/photos@32`.
"""

import dataclasses
import os
import re

from spn_keras.data.tfds_source import TFDS_DATASETS

EMBEDDED_DATASETS = ("mnist5k", "photos32")
SOURCE_PREFIXES = ("tfds:", "folder:", "tfrecord:", "crops:")
SPLITS = ("train", "test")

_SIZE_SUFFIX = re.compile(r"^(?P<body>.*)@(?P<size>[0-9]+)$", re.DOTALL)


def check_split(split):
  """Raises a ValueError unless `split` is "train" or "test"."""
  if split not in SPLITS:
    raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}.")
  return split


def _valid_specs():
  return (f"'mnist5k', 'photos32', 'tfds:NAME[@SIZE]' with NAME in "
          f"{sorted(TFDS_DATASETS)}, 'folder:PATH[@SIZE]', 'tfrecord:FOLDER[@SIZE]' or "
          "'tfrecord:GLOB_WITH_{split}[@SIZE]' or 'crops:FOLDER@SIZE'")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """A dataset named by a spec string (grammar in the module docstring).

  Build it with `DatasetSpec.parse(text)`; `str(spec)` gives the string back.
  """

  # "embedded", "tfds", "folder", "tfrecord" or "crops".
  kind: str
  # The embedded or TFDS dataset name, the folder path, or the TFRecord folder or glob.
  name: str
  # Side of the square central crop-and-resize (of the random crops for "crops"), or None to
  # keep the stored size.
  size: int | None = None

  def __post_init__(self):
    if self.kind not in ("embedded", "tfds", "folder", "tfrecord", "crops"):
      raise ValueError(f"`kind` must be 'embedded', 'tfds', 'folder', 'tfrecord' or 'crops', "
                       f"got {self.kind!r}.")
    if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                  or self.size < 1):
      raise ValueError(f"`size` must be a positive int or None, got {self.size!r}.")

  @classmethod
  def parse(cls, spec):
    """Parses a spec string.

    Args:
      spec: a str (see the module docstring), or a `DatasetSpec` (returned as is).

    Returns:
      A `DatasetSpec`.
    """
    if isinstance(spec, DatasetSpec):
      return spec
    if not isinstance(spec, str):
      raise TypeError(f"`spec` must be a str such as 'mnist5k', got {spec!r}.")
    if spec in EMBEDDED_DATASETS:
      return cls("embedded", spec)
    prefix = next((p for p in SOURCE_PREFIXES if spec.startswith(p)), None)
    if prefix is None:
      if spec.split("@")[0] in EMBEDDED_DATASETS:
        raise ValueError(
            f"Dataset spec {spec!r}: embedded datasets have a fixed size and take no '@SIZE' "
            "(pad or crop them with a transform, e.g. transforms.pad_to(32)).")
      raise ValueError(f"Unknown dataset spec {spec!r}. Valid specs: {_valid_specs()}.")
    body, size = spec[len(prefix):], None
    match = _SIZE_SUFFIX.match(body)
    if match:
      body, size = match.group("body"), int(match.group("size"))
      if size < 1:
        raise ValueError(f"Dataset spec {spec!r}: the size after '@' must be positive.")
    kind = prefix[:-1]
    if not body:
      raise ValueError(f"Dataset spec {spec!r} names no {kind} dataset after {prefix!r}.")
    if kind != "tfds" and body.startswith("~"):
      body = os.path.expanduser(body)
    if kind == "tfds":
      if body not in TFDS_DATASETS:
        raise ValueError(
            f"Unknown TFDS dataset {body!r} in spec {spec!r}. Valid names: "
            f"{sorted(TFDS_DATASETS)}.")
      if TFDS_DATASETS[body]["shape"] is None and size is None:
        raise ValueError(
            f"TFDS dataset {body!r} has images of varying sizes: give one in the spec, e.g. "
            f"'tfds:{body}@128'.")
    if kind == "crops" and size is None:
      raise ValueError(f"Dataset spec {spec!r}: 'crops:' needs the side of its crops, e.g. "
                       f"'crops:{body}@32'.")
    return cls(kind, body, size)

  def __str__(self):
    if self.kind == "embedded":
      return self.name
    suffix = "" if self.size is None else f"@{self.size}"
    return f"{self.kind}:{self.name}{suffix}"
