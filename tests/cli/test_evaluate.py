import shutil

import numpy as np
import pytest

from spn_keras import data
from spn_keras import testing
from spn_keras.cli import evaluate
from spn_keras.pipelines import load_pipeline
from spn_keras.pipelines import serialization
from spn_keras.presets.preset_folders import read_pipeline_json


@pytest.fixture(scope="module")
def tiny_mnist_pipeline(tmp_path_factory):
  """A random-weight MDU pipeline for 28x28 gray images (3 + 5 bits), saved as a folder."""
  pipeline = testing.tiny_mdu_pipeline(28, stddev=0.3)
  path = tmp_path_factory.mktemp("pipelines") / "tiny_mnist"
  pipeline.save(path, metadata={"name": "tiny_mnist", "dataset": "mnist5k"})
  return pipeline, str(path)


def test_spn_eval_matches_pipeline_bits_per_dim(tiny_mnist_pipeline):
  pipeline, path = tiny_mnist_pipeline
  result = evaluate.evaluate(path, split="test", batch_size=8, max_examples=20)
  assert result["num_examples"] == 20 and result["dataset"] == "mnist5k"
  images = next(iter(data.make_dataset("mnist5k", "test", batch_size=20, autotune=False)))
  expected = {k: float(np.mean(v)) for k, v in pipeline.bits_per_dim(images).items()}
  assert set(result["bits_per_dim"]) == set(expected)
  for name, value in expected.items():
    assert abs(result["bits_per_dim"][name] - value) < 1e-5, name


@pytest.mark.parametrize("stage", ["slice_decoder", "size_upscaler", "depth_upscaler"])
def test_one_stage_matches_its_pipeline_term(tiny_mnist_pipeline, stage):
  pipeline, path = tiny_mnist_pipeline
  result = evaluate.evaluate(path, split="test", batch_size=8, max_examples=12, stage=stage)
  images = next(iter(data.make_dataset("mnist5k", "test", batch_size=12, autotune=False)))
  expected = float(np.mean(pipeline.bits_per_dim(images)[stage]))
  assert abs(result["bits_per_dim"][stage] - expected) < 1e-5


def test_corrupt_weights_are_refused(tiny_mnist_pipeline, tmp_path):
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "copy"
  shutil.copytree(path, copy)
  weights = copy / "depth_upscaler" / "model.weights.h5"
  raw = bytearray(weights.read_bytes())
  raw[len(raw) // 2] ^= 0xFF
  weights.write_bytes(bytes(raw))
  with pytest.raises(ValueError, match="depth_upscaler.*corrupt or not the one recorded"):
    evaluate.evaluate(str(copy), max_examples=2)


def test_record_writes_the_figures_into_the_metadata(tiny_mnist_pipeline, tmp_path):
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "recorded"
  shutil.copytree(path, copy)
  result = evaluate.evaluate(str(copy), max_examples=4, batch_size=4)
  serialization.update_pipeline_metadata(str(copy), evaluate.recorded_figures(result))
  metadata = read_pipeline_json(str(copy))["metadata"]
  assert metadata["test_num_examples"] == 4 and metadata["dataset"] == "mnist5k"
  assert metadata["test_bits_per_dim"] == result["bits_per_dim"]["total"]
  assert metadata["depth_upscaler_test_bits_per_dim"] == result["bits_per_dim"]["depth_upscaler"]
  load_pipeline(str(copy))  # digests still check out


def test_record_names_the_dataset_the_figures_come_from(tiny_mnist_pipeline, tmp_path):
  """A pipeline trained on one dataset and evaluated on another records the second, so that
  a later `spn_eval` without --dataset measures the same figures."""
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "recorded"
  shutil.copytree(path, copy)
  serialization.update_pipeline_metadata(str(copy), {"dataset": "folder:/elsewhere@28"})
  result = evaluate.evaluate(str(copy), dataset="mnist5k", max_examples=4, batch_size=4)
  serialization.update_pipeline_metadata(str(copy), evaluate.recorded_figures(result))
  assert read_pipeline_json(str(copy))["metadata"]["dataset"] == "mnist5k"
  assert evaluate.evaluate(str(copy), max_examples=4, batch_size=4) == result
