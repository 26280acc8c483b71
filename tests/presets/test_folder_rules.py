"""Hostile and careless pipeline folders: every reader and writer refuses them with a clear
error, and nothing outside the folder (nor a user's file inside it) is read, changed or
deleted. Each test hashes the whole surroundings (every file and link under `tmp_path`)
before and after."""

import hashlib
import json
import os
import shutil

import numpy as np
import pytest

from spn_keras import zoo
from spn_keras.models import SliceDecoder
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import serialization
from spn_keras.presets import folder_rules
from spn_keras.presets.folder_rules import PIPELINE_FILE
from spn_keras.testing import tiny_mdu_pipeline


@pytest.fixture(scope="module")
def tiny_pipeline():
  return tiny_mdu_pipeline(8)


@pytest.fixture(scope="module")
def saved_pipeline(tiny_pipeline, tmp_path_factory):
  path = tmp_path_factory.mktemp("saved") / "pipeline"
  tiny_pipeline.save(str(path))
  return path


@pytest.fixture
def world(saved_pipeline, tmp_path):
  """`(pipeline folder, victim folder)` under `tmp_path`: a copy of a saved tiny pipeline, and
  beside it a folder of someone else's holding a valid copy of a stage and a file of theirs."""
  pipeline = tmp_path / "pipeline"
  shutil.copytree(saved_pipeline, pipeline)
  victim = tmp_path / "victim"
  shutil.copytree(saved_pipeline / "slice_decoder", victim)
  (victim / "thesis.txt").write_text("years of work")
  return pipeline, victim


def snapshot(root):
  """`{relative path: sha256 of the file, or the target of a link, or "dir"}` under `root`."""
  state = {}
  for folder, folders, files in os.walk(root):
    for name in folders + files:
      path = os.path.join(folder, name)
      relative = os.path.relpath(path, root)
      if os.path.islink(path):
        state[relative] = "link -> " + os.readlink(path)
      elif os.path.isdir(path):
        state[relative] = "dir"
      else:
        with open(path, "rb") as f:
          state[relative] = hashlib.sha256(f.read()).hexdigest()
  return state


def edit_manifest(pipeline, edit):
  """Rewrites `pipeline/pipeline.json` with `edit(spec)` (which changes it in place)."""
  path = pipeline / PIPELINE_FILE
  spec = json.loads(path.read_text())
  edit(spec)
  path.write_text(json.dumps(spec))


def set_folder(stage, folder):
  return lambda spec: spec["stages"][stage].update(folder=folder)


def readers(pipeline):
  """Every public way of reading a pipeline folder."""
  return {
      "Pipeline.load": lambda: Pipeline.load(str(pipeline)),
      "zoo.load": lambda: zoo.load(str(pipeline)),
      "zoo.load random": lambda: zoo.load(str(pipeline), weights=None),
      "Pipeline.from_preset": lambda: Pipeline.from_preset(str(pipeline)),
      "SliceDecoder.from_preset": lambda: SliceDecoder.from_preset(str(pipeline)),
  }


def writers(pipeline, tiny_pipeline):
  """Every public way of writing into an existing pipeline folder."""
  return {
      "Pipeline.save": lambda: tiny_pipeline.save(str(pipeline), overwrite=True),
      "save_pipeline_stage": lambda: serialization.save_pipeline_stage(
          str(pipeline), "slice_decoder", tiny_pipeline.slice_decoder),
      "update_pipeline_metadata": lambda: serialization.update_pipeline_metadata(
          str(pipeline), {"note": "x"}),
  }


HOSTILE_MANIFESTS = {
    "traversal": (set_folder("slice_decoder", "../victim"), "one plain name"),
    "absolute path": (lambda spec: spec["stages"]["slice_decoder"].update(
        folder=os.path.abspath("/tmp")), "one plain name"),
    "dot": (set_folder("size_upscaler", "."), "one plain name"),
    "dot dot": (set_folder("size_upscaler", ".."), "one plain name"),
    "non-string folder": (set_folder("slice_decoder", 7), "one plain name"),
    "null sha256": (lambda spec: spec["stages"]["slice_decoder"].update(sha256=None),
                    "\"sha256\" must be the 64 lowercase hex digits"),
    "missing sha256": (lambda spec: spec["stages"]["slice_decoder"].pop("sha256"),
                       "\"sha256\" must be the 64 lowercase hex digits"),
    "short sha256": (lambda spec: spec["stages"]["slice_decoder"].update(sha256="ab12"),
                     "\"sha256\" must be the 64 lowercase hex digits"),
    "extra stage": (lambda spec: spec["stages"].update(
        upscaler_of_doom={"folder": "x", "sha256": "0" * 64}), "unknown stage 'upscaler_of_doom'"),
    "entry not an object": (lambda spec: spec["stages"].update(slice_decoder="../victim"),
                            "must be an object with \"folder\""),
    "shared folder": (set_folder("size_upscaler", "slice_decoder"), "two stages share"),
    "metadata not an object": (lambda spec: spec.update(metadata=[1]),
                               "\"metadata\" must be an object"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MANIFESTS))
def test_a_hostile_manifest_is_refused_by_every_reader_and_writer(case, world, tiny_pipeline,
                                                                   tmp_path):
  pipeline, _ = world
  edit, message = HOSTILE_MANIFESTS[case]
  edit_manifest(pipeline, edit)
  before = snapshot(tmp_path)
  for name, call in {**readers(pipeline), **writers(pipeline, tiny_pipeline)}.items():
    with pytest.raises(ValueError, match=message):
      call()
    assert snapshot(tmp_path) == before, name


@pytest.mark.parametrize("manifest, message", [
    ([1, 2], "is not a spn_keras.pipeline/1 file"),
    ({"format": "spn_keras.pipeline/1", "stages": []}, "\"stages\" must be an object"),
    ("not json {", "is not valid JSON"),
])
def test_a_manifest_of_the_wrong_shape_is_refused(manifest, message, world, tiny_pipeline,
                                                  tmp_path):
  pipeline, _ = world
  text = manifest if isinstance(manifest, str) else json.dumps(manifest)
  (pipeline / PIPELINE_FILE).write_text(text)
  before = snapshot(tmp_path)
  for call in {**readers(pipeline), **writers(pipeline, tiny_pipeline)}.values():
    with pytest.raises(ValueError, match=message):
      call()
  assert snapshot(tmp_path) == before


def test_a_stage_folder_that_is_a_link_is_neither_read_nor_emptied(world, tiny_pipeline,
                                                                   tmp_path):
  pipeline, victim = world
  shutil.rmtree(pipeline / "slice_decoder")
  os.symlink(victim, pipeline / "slice_decoder")
  before = snapshot(tmp_path)
  for call in readers(pipeline).values():
    with pytest.raises(ValueError, match="is a symbolic link"):
      call()
  assert snapshot(tmp_path) == before
  # Replacing the stages writes new folders and leaves the link (and what it points to) alone.
  tiny_pipeline.save(str(pipeline), overwrite=True)
  after = snapshot(tmp_path)
  assert {path: value for path, value in after.items() if path.startswith("victim")} == {
      path: value for path, value in before.items() if path.startswith("victim")}
  assert after["pipeline/slice_decoder"] == before["pipeline/slice_decoder"]
  assert Pipeline.load(str(pipeline)).slice_decoder is not None


@pytest.mark.parametrize("target", ["/dev/zero", "victim/model.weights.h5"])
def test_a_weights_file_that_is_a_link_is_refused_before_hashing(target, world, tmp_path):
  pipeline, _ = world
  weights = pipeline / "slice_decoder" / "model.weights.h5"
  weights.unlink()
  os.symlink(target if target.startswith("/") else tmp_path / target, weights)
  before = snapshot(tmp_path)
  for name, call in readers(pipeline).items():
    if name != "zoo.load random":  # reads no weights
      with pytest.raises(ValueError, match="is a symbolic link"):
        call()
  assert snapshot(tmp_path) == before


def test_a_weights_path_that_is_a_folder_is_refused(world):
  pipeline, _ = world
  weights = pipeline / "slice_decoder" / "model.weights.h5"
  weights.unlink()
  weights.mkdir()
  with pytest.raises(ValueError, match="is not a regular file"):
    Pipeline.load(str(pipeline))


def test_a_weights_file_with_one_changed_float_is_refused(world):
  pipeline, _ = world
  weights = pipeline / "slice_decoder" / "model.weights.h5"
  data = bytearray(weights.read_bytes())
  data[-100] ^= 1
  weights.write_bytes(bytes(data))
  with pytest.raises(ValueError, match="is corrupt or not the one recorded"):
    Pipeline.load(str(pipeline))


@pytest.mark.parametrize("edit, message", [
    (lambda spec: spec["config"].update(pixelcnn_layers=1_000_000),
     r"`pixelcnn_layers` must be an int in \[1, 128\]"),
    (lambda spec: spec["config"].update(image_size=1_000_000),
     r"`image_size` sides must be in \[1, 1024\]"),
    (lambda spec: spec["config"].update(image_size=[512, 512]), "at most 16384 positions"),
    (lambda spec: spec["config"].update(attention_channels=10**9),
     r"`attention_channels` must be an int in \[1, 8192\]"),
    (lambda spec: spec["config"].update(attention_heads="ten"), "`attention_heads` must be"),
    (lambda spec: spec["config"].update(favourite_colour="blue"), "Unknown SliceDecoderConfig"),
    (lambda spec: spec.pop("config"), "must be a JSON object with \"class\" and \"config\""),
    (lambda spec: spec.update(config=[1]), "must be a JSON object with \"class\" and \"config\""),
    (lambda spec: spec.update({"class": "os.system"}), "is a 'os.system' stage"),
])
def test_a_config_json_that_is_invalid_or_huge_is_refused_before_building(edit, message,
                                                                          world):
  pipeline, _ = world
  path = pipeline / "slice_decoder" / "config.json"
  spec = json.loads(path.read_text())
  edit(spec)
  path.write_text(json.dumps(spec))
  for call in (lambda: Pipeline.load(str(pipeline)),
               lambda: zoo.load(str(pipeline), weights=None)):
    with pytest.raises(ValueError, match=message):
      call()


def test_an_spn_config_that_is_huge_is_refused(world):
  pipeline, _ = world
  path = pipeline / "size_upscaler" / "config.json"
  spec = json.loads(path.read_text())
  spec["config"]["embedder"]["conv_layers"] = 10**6
  path.write_text(json.dumps(spec))
  with pytest.raises(ValueError, match=r"`conv_layers` must be an int in \[1, 128\]"):
    Pipeline.load(str(pipeline))


def test_a_huge_json_file_is_refused_before_reading(world):
  pipeline, _ = world
  (pipeline / PIPELINE_FILE).write_text(" " * (folder_rules.MAX_JSON_BYTES + 1))
  with pytest.raises(ValueError, match="at most 1,048,576 are accepted"):
    Pipeline.load(str(pipeline))


def test_saving_into_a_folder_that_is_not_a_pipeline_is_refused(tiny_pipeline, tmp_path):
  folder = tmp_path / "my_project"
  (folder / "slice_decoder").mkdir(parents=True)
  (folder / "slice_decoder" / "notes.txt").write_text("mine")
  before = snapshot(tmp_path)
  for call in (lambda: tiny_pipeline.save(str(folder), overwrite=True),
               lambda: serialization.save_pipeline_stage(str(folder), "slice_decoder",
                                                         tiny_pipeline.slice_decoder)):
    with pytest.raises(ValueError, match="exists and is not a pipeline folder"):
      call()
  assert snapshot(tmp_path) == before


def test_saving_into_an_empty_folder_or_over_leftovers_of_an_interrupted_write_works(
    tiny_pipeline, saved_pipeline, tmp_path):
  empty = tmp_path / "empty"
  empty.mkdir()
  tiny_pipeline.save(str(empty), overwrite=True)
  assert Pipeline.load(str(empty)).depth_upscaler is not None
  interrupted = tmp_path / "interrupted"
  shutil.copytree(saved_pipeline, interrupted)
  (interrupted / PIPELINE_FILE).unlink()  # stopped before the commit
  serialization.save_pipeline_stage(str(interrupted), "depth_upscaler",
                                    tiny_pipeline.depth_upscaler)
  assert list(serialization.read_pipeline_json(str(interrupted))["stages"]) == [
      "depth_upscaler"]


def test_replacing_a_stage_deletes_only_the_files_this_package_wrote(world, tiny_pipeline):
  pipeline, _ = world
  (pipeline / "size_upscaler" / "notes.txt").write_text("mine")
  tiny_pipeline.save(str(pipeline), overwrite=True)
  assert sorted(path.name for path in (pipeline / "size_upscaler").iterdir()) == ["notes.txt"]
  folders = {entry["folder"] for entry in serialization.read_pipeline_json(str(pipeline))[
      "stages"].values()}
  assert "size_upscaler" not in folders and not (pipeline / "slice_decoder").exists()


def test_saving_into_the_installed_pipelines_is_refused(saved_pipeline, tiny_pipeline, tmp_path,
                                                        monkeypatch, repo_zoo):
  zoo_folder, _ = repo_zoo
  assert str(zoo_folder) in folder_rules.installed_roots()
  installed = tmp_path / "site-packages" / "zoo"
  shutil.copytree(saved_pipeline, installed / "tiny")
  monkeypatch.setattr(folder_rules, "installed_roots", lambda: [str(installed)])
  before = snapshot(tmp_path)
  for call in (lambda: tiny_pipeline.save(str(installed / "tiny"), overwrite=True),
               lambda: tiny_pipeline.save(str(installed / "new")),
               lambda: serialization.save_pipeline_stage(
                   str(installed / "tiny"), "slice_decoder", tiny_pipeline.slice_decoder),
               lambda: serialization.update_pipeline_metadata(str(installed / "tiny"), {})):
    with pytest.raises(ValueError, match="is inside the pipelines installed with spn-keras"):
      call()
  assert snapshot(tmp_path) == before


def test_zoo_load_of_a_folder_with_weights_none_gives_random_weights(world, tiny_pipeline):
  pipeline, _ = world
  trained = zoo.load(str(pipeline))
  random = zoo.load(str(pipeline), weights=None)
  assert random.metadata["weights"] == "random"
  for stage in trained.stages:
    assert not all(np.array_equal(a, b) for a, b in zip(
        trained.stages[stage].get_weights(), random.stages[stage].get_weights()))
  with pytest.raises(ValueError, match="`weights` must be \"pretrained\" .* or None"):
    zoo.load(str(pipeline), weights=str(pipeline))
  with pytest.raises(TypeError, match="`weights` must be \"pretrained\", None"):
    zoo.load(str(pipeline), weights=True)


@pytest.mark.parametrize("name", ["a", "slice_decoder.1f2e3d4c", "x-y_z.0"])
def test_plain_folder_names_are_accepted(name):
  assert folder_rules.check_folder_name(name, "here") == name


@pytest.mark.parametrize("name", [".", "..", "", "a/b", "a\\b", "/abs", "ä", "a b", None, 3])
def test_other_folder_names_are_refused(name):
  with pytest.raises(ValueError, match="one plain name inside the pipeline folder"):
    folder_rules.check_folder_name(name, "here")
