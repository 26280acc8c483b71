"""Saving and loading stages and pipelines as folders (diffusers-style layout).

A pipeline folder holds `pipeline.json`, naming its stages, and one sub-folder per stage with
`config.json` (the stage class and its config) and `model.weights.h5`. `pipeline.json` records
the sha256 of every weights file; loading checks it and refuses a corrupt or mismatched file.
Folders are written to a temporary sibling and renamed into place, so a failure (or a kill)
never leaves a half-written folder, and an existing folder is only replaced when asked.
"""

import hashlib
import json
import os
import shutil
import tempfile

from spn_keras.models import SliceDecoder
from spn_keras.models import SubscalePixelNetwork

FORMAT = "spn_keras.pipeline/1"
STAGE_CLASSES = {"SliceDecoder": SliceDecoder, "SubscalePixelNetwork": SubscalePixelNetwork}
WEIGHTS_FILE = "model.weights.h5"


def sha256_of(path):
  """Hex sha256 of a file."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def stage_spec(model):
  """What a stage's `config.json` holds: `{"class": class name, "config": config dict}`."""
  return {"class": type(model).__name__, "config": model.config.to_dict()}


def _write_stage(model, folder):
  os.makedirs(folder)
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(stage_spec(model), f, indent=2, sort_keys=True)
  if not model.built:
    model.build()
  model.save_weights(os.path.join(folder, WEIGHTS_FILE))
  return sha256_of(os.path.join(folder, WEIGHTS_FILE))


def replace_atomically(write, path, overwrite):
  """Calls `write(tmp_folder)`, then moves the folder to `path` (replacing it if allowed)."""
  path = os.path.abspath(path)
  if os.path.exists(path) and not overwrite:
    raise FileExistsError(f"`{path}` exists; pass overwrite=True to replace it.")
  parent = os.path.dirname(path)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
  try:
    write(os.path.join(tmp, "new"))
    if os.path.exists(path):
      old = os.path.join(tmp, "old")
      os.rename(path, old)
    os.rename(os.path.join(tmp, "new"), path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def save_stage(model, path, overwrite=False):
  """Saves one stage as `path/config.json` + `path/model.weights.h5`.

  Returns:
    The sha256 of the weights file.
  """
  digests = []
  replace_atomically(lambda folder: digests.append(_write_stage(model, folder)), path,
                      overwrite)
  return digests[0]


def _read_json(path, what):
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError:
    raise FileNotFoundError(f"No {what} at `{path}`.") from None
  except json.JSONDecodeError as e:
    raise ValueError(f"`{path}` is not valid JSON: {e}") from None


def build_stage(folder):
  """Builds the stage described by `folder/config.json`, with fresh random weights."""
  spec = _read_json(os.path.join(folder, "config.json"), "stage config")
  cls = STAGE_CLASSES.get(spec.get("class"))
  if cls is None:
    raise ValueError(f"`{folder}/config.json` names an unknown stage class "
                     f"{spec.get('class')!r}; expected one of {sorted(STAGE_CLASSES)}.")
  model = cls(cls.config_class.from_dict(spec["config"]))
  model.build()
  return model


def load_stage(folder, expected_sha256=None):
  """Loads a stage saved by `save_stage`, checking the weights' sha256 when given.

  Raises:
    FileNotFoundError: no config or weights file.
    ValueError: the weights file's sha256 differs from `expected_sha256`, or the file cannot
      be read as the stage's weights.
  """
  model = build_stage(folder)
  weights = os.path.join(folder, WEIGHTS_FILE)
  if not os.path.exists(weights):
    raise FileNotFoundError(f"No weights file at `{weights}`.")
  if expected_sha256 is not None:
    actual = sha256_of(weights)
    if actual != expected_sha256:
      raise ValueError(f"Weights file `{weights}` is corrupt or not the one recorded: sha256 "
                       f"{actual}, expected {expected_sha256}.")
  try:
    model.load_weights(weights)
  except Exception as e:  # h5py and Keras raise many types for a bad file
    raise ValueError(f"Cannot load weights from `{weights}`: {e}") from e
  return model


def save_pipeline(pipeline, path, metadata=None, overwrite=False):
  """Saves a `Pipeline` as a folder: `pipeline.json` plus one sub-folder per stage.

  Args:
    pipeline: the `Pipeline`.
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
    write_json_atomically(os.path.join(folder, "pipeline.json"),
                          {"format": FORMAT, "stages": stages, "metadata": metadata or {}})

  replace_atomically(write, path, overwrite)


def write_json_atomically(path, value):
  """Writes `value` as JSON to `path` through a temporary file, so `path` is never partial."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def save_pipeline_stage(path, stage, model, metadata=None):
  """Adds or replaces one stage of a pipeline folder (creating the folder if needed).

  This is how training fills a pipeline folder stage by stage: the stage folder is replaced
  atomically, then `pipeline.json` (with the new sha256, and `metadata` merged into its
  metadata) is rewritten atomically.
  """
  os.makedirs(path, exist_ok=True)
  json_path = os.path.join(path, "pipeline.json")
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
  write_json_atomically(os.path.join(path, "pipeline.json"), spec)


def read_pipeline_json(path):
  """The parsed `pipeline.json` of a pipeline folder, validated."""
  spec = _read_json(os.path.join(path, "pipeline.json"), "pipeline.json")
  if spec.get("format") != FORMAT or not isinstance(spec.get("stages"), dict):
    raise ValueError(f"`{path}/pipeline.json` is not a {FORMAT} file.")
  return spec


def load_pipeline(path, weights=True):
  """Loads a pipeline folder saved by `save_pipeline`.

  Args:
    path: the folder.
    weights: load (and sha256-check) the weights; False builds the stages with random ones.

  Returns:
    `(pipeline, metadata)`.
  """
  from spn_keras.pipelines.pipeline import Pipeline  # here: pipeline.py imports this module

  spec = read_pipeline_json(path)
  stages = {}
  for name, entry in spec["stages"].items():
    folder = os.path.join(path, entry["folder"])
    stages[name] = load_stage(folder, entry["sha256"]) if weights else build_stage(folder)
  return Pipeline(**stages), spec.get("metadata", {})
