import dataclasses
import json
import os
import pathlib

import numpy as np
import pytest

from spn_keras import zoo
from spn_keras.data.dataset_spec import DatasetSpec
from spn_keras.presets import shipped_folder

# Pinned so that an accidental change of an architecture is noticed (timm-style).
PARAMETERS = {
    "imagenet32": {"slice_decoder": 24685504},
    "imagenet32_s2": {"size_upscaler": 39059104},
    "imagenet32_s4": {"size_upscaler": 39150336},
    "imagenet64": {"size_upscaler": 39206560},
    "imagenet64_du": {"size_upscaler": 38241592, "depth_upscaler": 38392768},
    "imagenet64_5bit": {"size_upscaler": 38334976},
    "imagenet128": {"size_upscaler": 68377024},
    "imagenet128_du": {"size_upscaler": 67412056, "depth_upscaler": 67819232},
    "imagenet128_mdu": {"slice_decoder": 49426200, "size_upscaler": 67412056,
                        "depth_upscaler": 67819232},
    "imagenet256": {"size_upscaler": 68940608},
    "imagenet256_du": {"size_upscaler": 67975640, "depth_upscaler": 69509216},
    "celebahq256": {"size_upscaler": 22935059},
    "celebahq256_du": {"size_upscaler": 21970091, "depth_upscaler": 23503667},
    "celebahq256_5bit": {"size_upscaler": 22063475},
    "mnist28_mdu": {"slice_decoder": 648584, "size_upscaler": 968552, "depth_upscaler": 977280},
    "photos32_mdu": {"slice_decoder": 672024, "size_upscaler": 1000056,
                     "depth_upscaler": 1025088},
    "photos128_mdu": {"slice_decoder": 721176, "size_upscaler": 1130456,
                      "depth_upscaler": 1219488},
}
SMALL = ("mnist28_mdu", "photos32_mdu", "photos128_mdu")


def test_every_paper_setting_is_registered():
  assert set(zoo.list_models()) == set(PARAMETERS)


@pytest.mark.parametrize("name", zoo.list_models())
def test_entry_configs_round_trip_and_fit_together(name):
  entry = zoo.get(name)
  for config in entry.stages.values():
    assert type(config).from_json(config.to_json()) == config
  slices = {c.height // getattr(c, "scale", 1) for c in entry.stages.values()}
  # The paper's slices are always 32 x 32, except in Table 1's ablations at ImageNet 32.
  expected = {"imagenet32_s2": {16}, "imagenet32_s4": {8}}.get(name, {32})
  assert slices == expected or name in SMALL


@pytest.mark.parametrize("name", SMALL)
def test_small_entries_build_with_pinned_parameter_counts(name):
  pipeline = zoo.load(name, weights=None)
  assert {k: v.count_params() for k, v in pipeline.stages.items()} == PARAMETERS[name]
  assert pipeline.metadata["weights"] == "random"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in PARAMETERS if n not in SMALL])
def test_paper_entries_build_with_pinned_parameter_counts(name):
  entry = zoo.get(name)
  assert {s: entry.build_stage(s).count_params() for s in entry.stages} == PARAMETERS[name]


def test_entries_describe_themselves(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  entry = zoo.get("mnist28_mdu")
  assert repr(entry) == (
      "ZooEntry('mnist28_mdu': MNIST 28x28 gray: 14x14 3-bit decoder, S=2 size upscaling, "
      "depth upscaling to 8 bit. Stages: slice_decoder, size_upscaler, depth_upscaler; "
      "data: mnist5k)")
  for name in _shipped():  # a shipped pipeline's card is its folder's README.md
    card = zoo.get(name).card
    assert card.startswith(f"# {name}: model card")
    for section in ("## Data", "## Recipe", "## Figures", "## Intended use and limitations"):
      assert section in card, (name, section)
  card = zoo.get("imagenet64").card  # no shipped weights: a card built from the entry
  assert "imagenet64" in card and "none shipped" in card and "Table 4" in card


def test_list_pretrained_models(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  assert zoo.list_models(pretrained=True) == [name for name in zoo.list_models()
                                              if name in _shipped()]
  (tmp_path / "imagenet32").mkdir()  # weights placed in the home folder count too
  (tmp_path / "imagenet32" / "pipeline.json").write_text("{}")
  assert "imagenet32" in zoo.list_models(pretrained=True)


def test_missing_pretrained_weights_say_where_and_how(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  with pytest.raises(FileNotFoundError) as error:
    zoo.load("imagenet128_mdu")
  message = str(error.value)
  assert str(tmp_path / "imagenet128_mdu") in message and "spn_train --zoo=imagenet128_mdu" in message


def test_unknown_name():
  with pytest.raises(ValueError, match="Unknown zoo name 'imagenet512'.*imagenet128_mdu"):
    zoo.load("imagenet512")


def test_register_refuses_duplicates_and_accepts_new_entries():
  entry = zoo.get("mnist28_mdu")
  with pytest.raises(ValueError, match="exists"):
    zoo.register(entry)
  custom = dataclasses.replace(entry, name="my_mnist")
  zoo.register(custom)
  try:
    assert "my_mnist" in zoo.list_models()
  finally:
    zoo.registry._REGISTRY.pop("my_mnist")  # keep the registry as the other tests expect


def test_load_from_home_folder_and_architecture_check(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  pipeline = zoo.load("mnist28_mdu", weights=None)
  pipeline.save(tmp_path / "mnist28_mdu", metadata={"note": "home copy"})
  loaded = zoo.load("mnist28_mdu")
  assert loaded.metadata["note"] == "home copy"
  images = np.random.default_rng(0).integers(0, 256, (2, 28, 28, 1), np.uint8)
  np.testing.assert_allclose(loaded.log_prob(images)["total"], pipeline.log_prob(images)["total"],
                             rtol=1e-6)
  assert zoo.load(str(tmp_path / "mnist28_mdu")).metadata["note"] == "home copy"
  with pytest.raises(ValueError, match="does not have photos32_mdu's architecture"):
    zoo.load("photos32_mdu", weights=str(tmp_path / "mnist28_mdu"))


def _shipped():
  return [name for name in SMALL if shipped_folder(name) is not None]


def test_every_small_pipeline_is_shipped():
  assert _shipped() == ["mnist28_mdu", "photos32_mdu", "photos128_mdu"]


def _photos_slow(names):
  """`names` with the RGB pipelines' cases slow tests (their stages take 15-90 s a test)."""
  return [name if name == "mnist28_mdu" else pytest.param(name, marks=pytest.mark.slow)
          for name in names]


@pytest.mark.parametrize("name", _photos_slow(_shipped()))
def test_shipped_pipeline_samples_reproducibly(name, tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))  # no user copy shadows the shipped one
  pipeline = zoo.load(name)
  first = pipeline.sample(2, temperatures=(0.99, 1.0, 1.0), seed=3)
  np.testing.assert_array_equal(first, pipeline.sample(2, temperatures=(0.99, 1.0, 1.0), seed=3))
  assert first.shape == (2,) + pipeline.image_shape


@pytest.mark.parametrize("name", _photos_slow(_shipped()))
def test_shipped_pipeline_matches_its_recorded_test_bits_per_dim(name, tmp_path, monkeypatch):
  from spn_keras.cli import evaluate
  folder = pathlib.Path(shipped_folder(name))
  recorded = json.loads((folder / "pipeline.json").read_text())["metadata"]
  spec = DatasetSpec.parse(recorded["dataset"])
  if spec.kind == "crops" and not os.path.isdir(spec.name):  # photos128_mdu's test crops
    pytest.skip(f"{name}'s test crops are cut from photos not in the repository: "
                f"bash zoo/photos32_mdu/fetch_training_photos.sh {spec.name}")
  result = evaluate.evaluate(str(folder), split="test")
  assert result["num_examples"] == recorded["test_num_examples"]
  for stage in ("slice_decoder", "size_upscaler", "depth_upscaler"):
    assert abs(result["bits_per_dim"][stage] - recorded[f"{stage}_test_bits_per_dim"]) < 0.005
  assert abs(result["bits_per_dim"]["total"] - recorded["test_bits_per_dim"]) < 0.005
  assert os.path.getsize(folder / "depth_upscaler" / "model.weights.h5") < 20e6
