"""Saving and loading stages and pipelines as folders (diffusers-style layout).

A pipeline folder holds `pipeline.json`, naming its stages, and one sub-folder per stage with
`config.json` (the stage class and its config) and `model.weights.h5`. `pipeline.json` records
each stage's sub-folder and the sha256 of its weights file; loading checks it and refuses a
corrupt or mismatched file. Paths may be local or bucket paths (`gs://...`): all I/O goes
through `tf.io.gfile`.

Writes commit with `pipeline.json`. A stage is written into a sub-folder that the current
`pipeline.json` does not name (the stage's name, or `<stage>.<random hex>` while that name is
in use), and `pipeline.json` is rewritten (atomically: one file) only when every new stage
folder is complete; then the folders it no longer names are deleted. So a failure or a kill
midway never leaves a pipeline that loads half-written: a new folder without `pipeline.json`
is not a pipeline, and an existing one keeps its previous stages. The layout and the reading
of a stage folder are `spn_keras.presets.preset_folders`'s; what a folder may hold, where a
pipeline may be written and what may be deleted are `spn_keras.presets.folder_rules`'s (a
folder someone else made cannot make a save delete anything outside it, or a file of theirs).
"""

import json
import os

import tensorflow as tf

from spn_keras.models import SliceDecoder
from spn_keras.models import SubscalePixelNetwork
from spn_keras.presets import file_io
from spn_keras.presets import folder_rules
from spn_keras.presets import preset_folders
from spn_keras.presets.folder_rules import CONFIG_FILE
from spn_keras.presets.folder_rules import FORMAT
from spn_keras.presets.folder_rules import PIPELINE_FILE
from spn_keras.presets.folder_rules import WEIGHTS_FILE
from spn_keras.presets.preset_folders import is_pipeline_folder
from spn_keras.presets.preset_folders import read_pipeline_json
from spn_keras.presets.preset_folders import stage_spec

STAGE_CLASSES = {"SliceDecoder": SliceDecoder, "SubscalePixelNetwork": SubscalePixelNetwork}


def _write_stage(model, folder):
  """Writes a stage folder: weights first, `config.json` last; returns the weights' sha256."""
  tf.io.gfile.makedirs(folder)
  if not model.built:
    model.build()
  weights = os.path.join(folder, WEIGHTS_FILE)
  model.save_weights(weights)
  file_io.write_json_atomically(os.path.join(folder, CONFIG_FILE), stage_spec(model))
  return file_io.sha256_of(weights)


def save_stage(model, path, overwrite=False):
  """Saves one stage as `path/config.json` + `path/model.weights.h5`.

  The folder is written under a temporary name and moved into place
  (`file_io.commit_folder`: atomic on a local disk; on a bucket `config.json` moves last).

  Returns:
    The sha256 of the weights file.
  """
  digests = []
  file_io.commit_folder(lambda folder: digests.append(_write_stage(model, folder)), path,
                        overwrite, last=(CONFIG_FILE,))
  return digests[0]


def build_stage(folder):
  """Builds the stage described by `folder/config.json`, with fresh random weights."""
  return preset_folders.build_stage(folder, STAGE_CLASSES)


def read_stage_config(folder):
  """The config of the stage described by `folder/config.json`; nothing is built."""
  return preset_folders.read_stage_config(folder, STAGE_CLASSES)[1]


def load_stage(folder, expected_sha256=None):
  """Loads a stage saved by `save_stage`, checking the weights' sha256 when given.

  Raises:
    FileNotFoundError: no config or weights file.
    ValueError: the weights file's sha256 differs from `expected_sha256`, or the file cannot
      be read as the stage's weights.
  """
  return preset_folders.load_stage(folder, STAGE_CLASSES, expected_sha256)


def _empty_spec():
  return {"format": FORMAT, "stages": {}, "metadata": {}}


def _open_destination(path):
  """Checks that a pipeline may be written into `path` (`folder_rules.check_destination`),
  creates the folder, and returns its committed manifest (an empty one for a new folder)."""
  folder_rules.check_destination(path)
  old_spec = read_pipeline_json(path) if is_pipeline_folder(path) else _empty_spec()
  tf.io.gfile.makedirs(path)
  return old_spec


def _write_new_stage(path, stage, model, old_spec):
  """Writes `model` into a free sub-folder of `path` (one that neither exists nor is named by
  the committed manifest `old_spec`); returns its manifest entry."""
  taken = {entry["folder"] for entry in old_spec["stages"].values()}
  folder = folder_rules.free_folder_name(path, stage, taken)
  digest = _write_stage(model, os.path.join(path, folder))
  return {"folder": folder, "sha256": digest}


def _commit(path, old_spec, new_spec):
  """Writes `new_spec` as `pipeline.json` (the commit), then deletes the stage folders that
  `old_spec` named and `new_spec` does not (`folder_rules.remove_stage_folder`: only the files
  this package wrote there)."""
  file_io.write_json_atomically(os.path.join(path, PIPELINE_FILE), new_spec)
  kept = {entry["folder"] for entry in new_spec["stages"].values()}
  for entry in old_spec["stages"].values():
    if entry["folder"] not in kept:
      folder_rules.remove_stage_folder(path, entry["folder"])


def save_pipeline(pipeline, path, metadata=None, overwrite=False):
  """Saves a `Pipeline` as a folder: `pipeline.json` plus one sub-folder per stage.

  Args:
    pipeline: the `Pipeline` (anything with its `stages` dict).
    path: destination folder (local or a bucket path); must not exist unless `overwrite`.
    metadata: JSON-serializable dict stored in `pipeline.json` (name, dataset, figures).
    overwrite: replace an existing folder's pipeline (committed by its new `pipeline.json`).

  Raises:
    FileExistsError: `path` exists and `overwrite` is False.
    ValueError: `path` may not receive a pipeline (`folder_rules.check_destination`: inside
      the installed package, a folder holding other files, a damaged `pipeline.json`).
  """
  path = file_io.absolute(path).rstrip("/")
  if tf.io.gfile.exists(path) and not overwrite:
    raise FileExistsError(f"`{path}` exists; pass overwrite=True to replace it.")
  old_spec = _open_destination(path)
  new_spec = {"format": FORMAT, "stages": {}, "metadata": dict(metadata or {})}
  for name, model in pipeline.stages.items():
    new_spec["stages"][name] = _write_new_stage(path, name, model, old_spec)
  _commit(path, old_spec, new_spec)


def save_pipeline_stage(path, stage, model, metadata=None):
  """Adds or replaces one stage of a pipeline folder (creating the folder if needed).

  This is how training fills a pipeline folder stage by stage: the stage is written into a
  free sub-folder, then `pipeline.json` (with the new folder and sha256, and `metadata`
  merged into its metadata) is rewritten atomically, then the stage's previous folder is
  deleted.

  Raises:
    ValueError: `stage` is not a stage name, or `path` may not receive a pipeline (as in
      `save_pipeline`).
  """
  if stage not in folder_rules.STAGES:
    raise ValueError(f"`stage` must be one of {list(folder_rules.STAGES)}, got {stage!r}.")
  path = file_io.absolute(path).rstrip("/")
  old_spec = _open_destination(path)
  new_spec = json.loads(json.dumps(old_spec))
  new_spec["stages"][stage] = _write_new_stage(path, stage, model, old_spec)
  new_spec.setdefault("metadata", {}).update(metadata or {})
  _commit(path, old_spec, new_spec)


def update_pipeline_metadata(path, metadata):
  """Merges `metadata` into the metadata of the pipeline folder `path` (atomic rewrite).

  Raises:
    ValueError: `path` may not be written (`folder_rules.check_destination`).
  """
  folder_rules.check_destination(path)
  spec = read_pipeline_json(path)
  spec.setdefault("metadata", {}).update(metadata)
  file_io.write_json_atomically(os.path.join(path, PIPELINE_FILE), spec)


def load_stages(path, weights=True):
  """Loads the stages of a pipeline folder saved by `save_pipeline`.

  Args:
    path: the folder (local or a bucket path).
    weights: load (and sha256-check) the weights; False builds the stages with random ones.

  Returns:
    `({stage name: stage}, metadata)`: the arguments of `Pipeline` and the folder's metadata.
  """
  spec = read_pipeline_json(path)
  stages = {}
  for name, entry in spec["stages"].items():
    folder = folder_rules.stage_folder(path, entry["folder"])
    stages[name] = load_stage(folder, entry["sha256"]) if weights else build_stage(folder)
  return stages, spec.get("metadata", {})
