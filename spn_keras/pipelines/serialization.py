"""Saving and loading stages and pipelines as folders (diffusers-style layout).

A pipeline folder holds `pipeline.json`, naming its stages, and one sub-folder per stage with
`config.json` (the stage class and its config) and `model.weights.h5`. `pipeline.json` records
the sha256 of every weights file; loading checks it and refuses a corrupt or mismatched file.
Folders are written to a temporary sibling and renamed into place, so a failure (or a kill)
never leaves a half-written folder, and an existing folder is only replaced when asked. The
layout and the reading of a stage folder are `spn_keras.presets.preset_folders`'s.
"""

import json
import os

from spn_keras.models import SliceDecoder
from spn_keras.models import SubscalePixelNetwork
from spn_keras.presets import preset_folders
from spn_keras.presets.preset_folders import CONFIG_FILE
from spn_keras.presets.preset_folders import FORMAT
from spn_keras.presets.preset_folders import PIPELINE_FILE
from spn_keras.presets.preset_folders import WEIGHTS_FILE
from spn_keras.presets.preset_folders import read_pipeline_json
from spn_keras.presets.preset_folders import replace_atomically
from spn_keras.presets.preset_folders import sha256_of
from spn_keras.presets.preset_folders import stage_spec
from spn_keras.presets.preset_folders import write_json_atomically

STAGE_CLASSES = {"SliceDecoder": SliceDecoder, "SubscalePixelNetwork": SubscalePixelNetwork}


def _write_stage(model, folder):
  os.makedirs(folder)
  with open(os.path.join(folder, CONFIG_FILE), "w") as f:
    json.dump(stage_spec(model), f, indent=2, sort_keys=True)
  if not model.built:
    model.build()
  model.save_weights(os.path.join(folder, WEIGHTS_FILE))
  return sha256_of(os.path.join(folder, WEIGHTS_FILE))


def save_stage(model, path, overwrite=False):
  """Saves one stage as `path/config.json` + `path/model.weights.h5`.

  Returns:
    The sha256 of the weights file.
  """
  digests = []
  replace_atomically(lambda folder: digests.append(_write_stage(model, folder)), path,
                      overwrite)
  return digests[0]


def build_stage(folder):
  """Builds the stage described by `folder/config.json`, with fresh random weights."""
  return preset_folders.build_stage(folder, STAGE_CLASSES)


def load_stage(folder, expected_sha256=None):
  """Loads a stage saved by `save_stage`, checking the weights' sha256 when given.

  Raises:
    FileNotFoundError: no config or weights file.
    ValueError: the weights file's sha256 differs from `expected_sha256`, or the file cannot
      be read as the stage's weights.
  """
  return preset_folders.load_stage(folder, STAGE_CLASSES, expected_sha256)


def save_pipeline(pipeline, path, metadata=None, overwrite=False):
  """Saves a `Pipeline` as a folder: `pipeline.json` plus one sub-folder per stage.

  Args:
    pipeline: the `Pipeline` (anything with its `stages` dict).
    path: destination folder; must not exist unless `overwrite`.
    metadata: JSON-serializable dict stored in `pipeline.json` (name, dataset, figures).
    overwrite: replace an existing folder (atomically).
  """

  def write(folder):
    os.makedirs(folder)
    stages = {}
    for name, model in pipeline.stages.items():
      digest = _write_stage(model, os.path.join(folder, name))
      stages[name] = {"folder": name, "sha256": digest}
    write_json_atomically(os.path.join(folder, PIPELINE_FILE),
                          {"format": FORMAT, "stages": stages, "metadata": metadata or {}})

  replace_atomically(write, path, overwrite)


def save_pipeline_stage(path, stage, model, metadata=None):
  """Adds or replaces one stage of a pipeline folder (creating the folder if needed).

  This is how training fills a pipeline folder stage by stage: the stage folder is replaced
  atomically, then `pipeline.json` (with the new sha256, and `metadata` merged into its
  metadata) is rewritten atomically.
  """
  os.makedirs(path, exist_ok=True)
  json_path = os.path.join(path, PIPELINE_FILE)
  spec = read_pipeline_json(path) if os.path.exists(json_path) else {
      "format": FORMAT, "stages": {}, "metadata": {}}
  digest = save_stage(model, os.path.join(path, stage), overwrite=True)
  spec["stages"][stage] = {"folder": stage, "sha256": digest}
  spec["metadata"].update(metadata or {})
  write_json_atomically(json_path, spec)


def update_pipeline_metadata(path, metadata):
  """Merges `metadata` into the metadata of the pipeline folder `path` (atomic rewrite)."""
  spec = read_pipeline_json(path)
  spec["metadata"].update(metadata)
  write_json_atomically(os.path.join(path, PIPELINE_FILE), spec)


def load_stages(path, weights=True):
  """Loads the stages of a pipeline folder saved by `save_pipeline`.

  Args:
    path: the folder.
    weights: load (and sha256-check) the weights; False builds the stages with random ones.

  Returns:
    `({stage name: stage}, metadata)`: the arguments of `Pipeline` and the folder's metadata.
  """
  spec = read_pipeline_json(path)
  stages = {}
  for name, entry in spec["stages"].items():
    folder = os.path.join(path, entry["folder"])
    stages[name] = load_stage(folder, entry["sha256"]) if weights else build_stage(folder)
  return stages, spec.get("metadata", {})
