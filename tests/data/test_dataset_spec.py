import pytest

from spn_keras.data import DatasetSpec
from spn_keras.data import TFDS_DATASETS


@pytest.mark.parametrize("text, kind, name, size", [
    ("mnist5k", "embedded", "mnist5k", None),
    ("photos32", "embedded", "photos32", None),
    ("tfds:downsampled_imagenet/64x64", "tfds", "downsampled_imagenet/64x64", None),
    ("tfds:imagenet2012@128", "tfds", "imagenet2012", 128),
    ("tfds:celeb_a_hq/256@64", "tfds", "celeb_a_hq/256", 64),
    ("folder:/data/faces", "folder", "/data/faces", None),
    ("folder:/data/me@home/faces@32", "folder", "/data/me@home/faces", 32),
    ("folder:/data/v@2", "folder", "/data/v", 2),
    ("tfrecord:/data/shards", "tfrecord", "/data/shards", None),
    ("tfrecord:gs://b/x-{split}-*.tfrecord@16", "tfrecord", "gs://b/x-{split}-*.tfrecord", 16),
    ("crops:/data/photos@32", "crops", "/data/photos", 32),
    ("crops:gs://b/photos@16", "crops", "gs://b/photos", 16),
])
def test_parse_and_round_trip(text, kind, name, size):
  spec = DatasetSpec.parse(text)
  assert (spec.kind, spec.name, spec.size) == (kind, name, size)
  assert str(spec) == text
  assert DatasetSpec.parse(spec) is spec


@pytest.mark.parametrize("kind", ["folder", "tfrecord", "crops"])
def test_a_path_from_home_is_expanded(kind, monkeypatch, tmp_path):
  monkeypatch.setenv("HOME", str(tmp_path))
  spec = DatasetSpec.parse(f"{kind}:~/spn_keras_photos@128")
  assert (spec.kind, spec.name, spec.size) == (kind, f"{tmp_path}/spn_keras_photos", 128)


def test_every_registered_tfds_name_parses():
  for name in TFDS_DATASETS:
    size = "@64" if TFDS_DATASETS[name]["shape"] is None else ""
    assert DatasetSpec.parse(f"tfds:{name}{size}").name == name


def test_unknown_spec_lists_the_valid_ones():
  with pytest.raises(ValueError, match="Unknown dataset spec 'mnist'") as info:
    DatasetSpec.parse("mnist")
  message = str(info.value)
  for valid in ("'mnist5k'", "'photos32'", "tfds:NAME", "folder:PATH", "tfrecord:", "crops:",
                "imagenet2012", "celeb_a_hq/256"):
    assert valid in message


@pytest.mark.parametrize("text, match", [
    ("tfds:cifar10", "Unknown TFDS dataset 'cifar10'.*Valid names: \\['celeb_a_hq/1024'"),
    ("tfds:imagenet2012", "varying sizes: give one in the spec, e.g. 'tfds:imagenet2012@128'"),
    ("tfds:imagenet2012@0", "size after '@' must be positive"),
    ("mnist5k@32", "embedded datasets have a fixed size"),
    ("folder:", "names no folder dataset"),
    ("folder:@32", "names no folder dataset"),
    ("crops:/data/photos", "'crops:' needs the side of its crops, e.g. 'crops:/data/photos@32'"),
])
def test_bad_specs(text, match):
  with pytest.raises(ValueError, match=match):
    DatasetSpec.parse(text)


def test_bad_types():
  with pytest.raises(TypeError, match="`spec` must be a str"):
    DatasetSpec.parse(3)
  with pytest.raises(ValueError, match="`kind` must be"):
    DatasetSpec("ftp", "x")
  with pytest.raises(ValueError, match="`size` must be a positive int"):
    DatasetSpec("folder", "x", 0)
