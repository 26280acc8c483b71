"""Pipeline folders on a local disk and on `ram://` (TensorFlow's in-memory filesystem, whose
`tf.io.gfile` code path `gs://` buckets share): round trips, commits, interrupted writes."""

import os

import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras import zoo
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import serialization
from spn_keras.presets import file_io
from spn_keras.presets.preset_folders import PIPELINE_FILE


@pytest.fixture(scope="module")
def pipeline():
  return testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3)


def _images():
  return np.random.default_rng(0).integers(0, 256, (2, 4, 4, 1), np.uint8)


def _assert_same(a, b):
  for (name, stage), (other_name, other) in zip(a.stages.items(), b.stages.items()):
    assert name == other_name
    for w, v in zip(stage.get_weights(), other.get_weights()):
      np.testing.assert_array_equal(w, v)


def test_save_and_load(storage_root, pipeline):
  path = os.path.join(storage_root, "tiny")
  pipeline.save(path, metadata={"name": "tiny"})
  loaded = zoo.load(path)
  _assert_same(pipeline, loaded)
  assert loaded.metadata["name"] == "tiny"
  assert {name.rstrip("/") for name in tf.io.gfile.listdir(path)} == {
      PIPELINE_FILE, *pipeline.stages}
  np.testing.assert_allclose(loaded.log_prob(_images())["total"],
                             pipeline.log_prob(_images())["total"], rtol=1e-6)
  with pytest.raises(FileExistsError, match="overwrite=True"):
    pipeline.save(path)


def test_replacing_a_stage_commits_with_pipeline_json(storage_root, pipeline):
  path = os.path.join(storage_root, "tiny")
  pipeline.save(path)
  other = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.5)
  serialization.save_pipeline_stage(path, "depth_upscaler", other.depth_upscaler,
                                    metadata={"note": "retrained"})
  spec = serialization.read_pipeline_json(path)
  folder = spec["stages"]["depth_upscaler"]["folder"]
  assert folder.startswith("depth_upscaler.") and spec["metadata"]["note"] == "retrained"
  listing = {name.rstrip("/") for name in tf.io.gfile.listdir(path)}
  assert listing == {PIPELINE_FILE, "slice_decoder", "size_upscaler", folder}  # old one gone
  loaded = zoo.load(path)
  _assert_same(Pipeline(pipeline.slice_decoder, pipeline.size_upscaler, other.depth_upscaler),
               loaded)
  # The next replacement takes the free plain name again.
  serialization.save_pipeline_stage(path, "depth_upscaler", pipeline.depth_upscaler)
  assert serialization.read_pipeline_json(path)["stages"]["depth_upscaler"]["folder"] == (
      "depth_upscaler")
  _assert_same(pipeline, zoo.load(path))


def _failing_on_second_stage(monkeypatch):
  write_stage = serialization._write_stage
  calls = []

  def failing(model, folder):
    calls.append(folder)
    if len(calls) == 2:
      write_stage(model, folder)  # written whole, or half: either way never committed
      raise OSError("simulated failure while writing")
    return write_stage(model, folder)

  monkeypatch.setattr(serialization, "_write_stage", failing)


def test_an_interrupted_first_save_leaves_nothing_that_loads(storage_root, pipeline, monkeypatch):
  path = os.path.join(storage_root, "tiny")
  _failing_on_second_stage(monkeypatch)
  with pytest.raises(OSError, match="simulated failure"):
    pipeline.save(path)
  with pytest.raises(FileNotFoundError, match=PIPELINE_FILE):
    zoo.load(path)
  monkeypatch.undo()
  pipeline.save(path, overwrite=True)  # the leftovers are cleared
  _assert_same(pipeline, zoo.load(path))


def test_an_interrupted_overwrite_keeps_the_previous_pipeline(storage_root, pipeline, monkeypatch):
  path = os.path.join(storage_root, "tiny")
  pipeline.save(path, metadata={"name": "before"})
  _failing_on_second_stage(monkeypatch)
  other = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.5)
  with pytest.raises(OSError, match="simulated failure"):
    other.save(path, metadata={"name": "after"}, overwrite=True)
  loaded = zoo.load(path)
  _assert_same(pipeline, loaded)
  assert loaded.metadata["name"] == "before"


def test_export_and_saved_model_load_on_ram(pipeline):
  base = "ram://serialization_test/export"
  file_io.remove_tree(base)
  decoder_only = Pipeline(slice_decoder=pipeline.slice_decoder)
  folder = decoder_only.export(base, version=3)
  assert folder == f"{base}/3" and tf.io.gfile.exists(f"{folder}/saved_model.pb")
  assert [name.rstrip("/") for name in tf.io.gfile.listdir(base)] == ["3"]
  restored = tf.saved_model.load(folder)
  slices = _images()[:, ::2, ::2] >> 5
  bits = restored.signatures["log_prob"](images=tf.constant(slices, tf.uint8))
  np.testing.assert_allclose(bits["total_bits_per_dim"],
                             decoder_only.bits_per_dim(slices)["total"], rtol=1e-5)
