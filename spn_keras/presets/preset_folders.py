"""Where pipelines and stages are stored, and how a stage is read back from its folder.

A pipeline folder holds `pipeline.json` (`FORMAT`: its stages, each with its sub-folder and
the sha256 of its weights file, and metadata) and one sub-folder per stage with `config.json`
(the stage class and its config) and `model.weights.h5`. Pretrained pipelines are looked for
in `$SPN_KERAS_HOME/<name>` and then among the pipelines shipped with the package. Paths may
be local or any filesystem TensorFlow knows (`gs://...`): all I/O is `tf.io.gfile`'s
(`spn_keras.presets.file_io`).

`pipeline.json` is a folder's commit: it is written last, and a folder without it is not a
pipeline (`spn_keras.pipelines.serialization` writes them).

What a folder may hold (plain stage-folder names, no links, bounded files, required digests)
is `spn_keras.presets.folder_rules`'s: every read here goes through it.

This module knows folders, not model classes: a caller passes the stage classes it accepts.
It sits below the models (their `from_preset` reads presets through it), the pipelines
(`spn_keras.pipelines.serialization` writes their folders) and the exporters.
"""

import os

import tensorflow as tf

from spn_keras.home import HOME_VARIABLE
from spn_keras.home import spn_keras_home
from spn_keras.presets import folder_rules
from spn_keras.presets.file_io import sha256_of
from spn_keras.presets.folder_rules import CONFIG_FILE
from spn_keras.presets.folder_rules import FORMAT  # noqa: F401  (part of this module's API)
from spn_keras.presets.folder_rules import PIPELINE_FILE
from spn_keras.presets.folder_rules import WEIGHTS_FILE


def is_pipeline_folder(path):
  """Whether `path` holds a committed pipeline (its `pipeline.json`)."""
  return tf.io.gfile.exists(os.path.join(str(path), PIPELINE_FILE))


def shipped_folder(name):
  """The pipeline folder shipped with the package for `name` (a local path), or None
  (`folder_rules.installed_roots` says where they are)."""
  for base in folder_rules.installed_roots():
    if is_pipeline_folder(os.path.join(base, name)):
      return os.path.join(base, name)
  return None


def pretrained_folder(name):
  """The pipeline folder with `name`'s trained weights: `$SPN_KERAS_HOME/<name>` first, then
  the shipped one; None when neither exists."""
  home = os.path.join(spn_keras_home(), name)
  return home if is_pipeline_folder(home) else shipped_folder(name)


def read_pipeline_json(path):
  """The parsed `pipeline.json` of a pipeline folder, checked (`folder_rules.read_manifest`)."""
  return folder_rules.read_manifest(path)


def pipeline_stage_folders(path):
  """`{stage: (stage folder, sha256)}` of the pipeline folder `path`, in its manifest's order.

  Every folder is checked by `folder_rules.stage_folder`: a plain name inside `path`, not a
  symbolic link.
  """
  return {stage: (folder_rules.stage_folder(path, entry["folder"]), entry["sha256"])
          for stage, entry in read_pipeline_json(path)["stages"].items()}


def stage_spec(model):
  """What a stage's `config.json` holds: `{"class": class name, "config": config dict}`."""
  return {"class": type(model).__name__, "config": model.config.to_dict()}


def read_stage_config(folder, stage_classes):
  """The class and config of the stage described by `folder/config.json`; nothing is built.

  Args:
    folder: a stage folder.
    stage_classes: `{class name: class}` of the stages the caller accepts.

  Returns:
    `(class, config)`.

  Raises:
    ValueError: the file is not a stage config, names a class not in `stage_classes`, or holds
      an invalid config.
  """
  path = os.path.join(folder, CONFIG_FILE)
  spec = folder_rules.read_json_file(path, "stage config")
  if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
    raise ValueError(f"`{path}` must be a JSON object with \"class\" and \"config\" (an "
                     f"object of config fields).")
  cls = stage_classes.get(spec.get("class"))
  if cls is None:
    raise ValueError(f"`{path}` is a {spec.get('class')!r} stage; expected one of "
                     f"{sorted(stage_classes)}.")
  try:
    return cls, cls.config_class.from_dict(spec["config"])
  except (TypeError, ValueError) as error:
    raise ValueError(f"`{path}` holds an invalid {cls.config_class.__name__}: {error}") from None


def build_stage(folder, stage_classes):
  """Builds the stage described by `folder/config.json`, with fresh random weights.

  Args:
    folder: a stage folder.
    stage_classes: `{class name: class}` of the stages the caller accepts.

  Raises:
    ValueError: as `read_stage_config` raises it.
  """
  cls, config = read_stage_config(folder, stage_classes)
  model = cls(config)
  model.build()
  return model


def load_stage(folder, stage_classes, expected_sha256=None):
  """Loads a stage folder, checking the weights' sha256 when given.

  Args:
    folder: a stage folder (`config.json`, `model.weights.h5`).
    stage_classes: as in `build_stage`.
    expected_sha256: the digest recorded in the pipeline's `pipeline.json`, or None.

  Raises:
    FileNotFoundError: no config or weights file.
    ValueError: a stage class not accepted; the weights file's sha256 differs from
      `expected_sha256`, or the file cannot be read as the stage's weights.
  """
  model = build_stage(folder, stage_classes)
  weights = os.path.join(folder, WEIGHTS_FILE)
  folder_rules.check_regular_file(weights, "weights file", folder_rules.MAX_WEIGHTS_BYTES)
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


def stage_class_name(folder):
  """The class named by a stage folder's `config.json` (None when it names none)."""
  spec = folder_rules.read_json_file(os.path.join(folder, CONFIG_FILE), "stage config")
  return spec.get("class") if isinstance(spec, dict) else None


def resolve_stage_preset(preset, stage_classes):
  """The stage folder a preset names, and the sha256 recorded for its weights.

  Args:
    preset: `"<name>/<stage>"`, a stage of the pretrained pipeline `<name>` (a zoo name, or
      any pipeline folder name under `$SPN_KERAS_HOME`); `"<name>"` alone, when that pipeline
      has exactly one stage of the classes in `stage_classes`; a stage folder; or a pipeline
      folder (with one stage of those classes).
    stage_classes: `{class name: class}` of the stages the caller accepts.

  Returns:
    `(stage folder, expected sha256 or None)`.

  Raises:
    ValueError: nothing is known by that name; the name leaves the stage ambiguous.
    FileNotFoundError: a folder lacks its files.
  """
  path = os.path.expanduser(str(preset)).rstrip("/")
  if tf.io.gfile.exists(os.path.join(path, CONFIG_FILE)):  # a stage folder, maybe in a pipeline
    parent, folder_name = os.path.split(path)
    if is_pipeline_folder(parent):
      for folder, digest in pipeline_stage_folders(parent).values():
        if os.path.basename(folder) == folder_name:
          return folder, digest
    return path, None
  if is_pipeline_folder(path):
    return _only_stage(path, preset, stage_classes)
  name, _, stage = str(preset).partition("/")
  folder = pretrained_folder(name)
  if folder is None:
    raise ValueError(
        f"Unknown preset {preset!r}: neither a stage or pipeline folder nor "
        f"'<pipeline>/<stage>' of a pretrained pipeline (looked for {name!r} in "
        f"{spn_keras_home()} (${HOME_VARIABLE}) and among the pipelines shipped with "
        f"spn-keras).")
  if not stage:
    return _only_stage(folder, preset, stage_classes)
  stages = pipeline_stage_folders(folder)
  if stage not in stages:
    raise ValueError(f"Preset {preset!r}: the pipeline {name!r} has no stage {stage!r}; its "
                     f"stages are {sorted(stages)}.")
  return stages[stage]


def load_stage_preset(preset, stage_class):
  """The stage a preset names, of `stage_class` or one of its subclasses, with its weights.

  Args:
    preset: as in `resolve_stage_preset`.
    stage_class: the stage class asked for (one that a stage's own classmethod passes:
      `SliceDecoder`, or their base class for a stage of any class).

  Returns:
    The stage, built, its weights checked against the sha256 that its pipeline recorded.

  Raises:
    ValueError: as `resolve_stage_preset` and `load_stage` raise it; a stage of another class
      (the message names the class to load it with).
    FileNotFoundError: a folder lacks its files.
  """
  classes = {}
  pending = [stage_class]
  while pending:
    found_class = pending.pop()
    classes[found_class.__name__] = found_class
    pending.extend(found_class.__subclasses__())
  folder, expected_sha256 = resolve_stage_preset(preset, classes)
  found = stage_class_name(str(folder))
  if found not in classes:
    raise ValueError(f"Preset {preset!r} is a {found} stage, not a {stage_class.__name__}: "
                     f"load it with `{found}.from_preset({str(preset)!r})`.")
  return load_stage(str(folder), classes, expected_sha256)

def _only_stage(folder, preset, stage_classes):
  """The one stage of a pipeline folder whose class is in `stage_classes`."""
  stages = pipeline_stage_folders(folder)
  matching = [stage for stage, (stage_folder, _) in stages.items()
              if stage_class_name(stage_folder) in stage_classes]
  if len(matching) != 1:
    raise ValueError(f"Preset {preset!r} names a pipeline with stages {sorted(stages)}, "
                     f"{len(matching)} of them of the classes {sorted(stage_classes)}: "
                     f"name the stage, e.g. '{preset}/{(matching or sorted(stages))[0]}'.")
  return stages[matching[0]]
