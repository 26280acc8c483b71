"""`load`: a zoo pipeline by name (with pretrained weights when they exist) or from a folder."""

import importlib.resources
import os
import pathlib

from spn_keras.pipelines import serialization
from spn_keras.zoo import registry

HOME_VARIABLE = "SPN_KERAS_HOME"


def spn_keras_home():
  """`$SPN_KERAS_HOME`, default `~/.spn_keras`: where user-trained pipelines are looked for."""
  return pathlib.Path(os.environ.get(HOME_VARIABLE, "~/.spn_keras")).expanduser()


def shipped_folder(name):
  """The pipeline folder shipped with the package for `name`, or None.

  Shipped pipelines live in the repository's top-level `zoo/`, installed as the package data
  `spn_keras._shipped_zoo` (so they load from a wheel as well as from a source checkout).
  """
  candidates = []
  try:
    candidates.append(pathlib.Path(str(importlib.resources.files("spn_keras._shipped_zoo"))))
  except ModuleNotFoundError:
    pass
  candidates.append(pathlib.Path(__file__).resolve().parents[2] / "zoo")
  for base in candidates:
    if (base / name / "pipeline.json").is_file():
      return base / name
  return None


def _check_architecture(entry, pipeline, folder):
  for stage, config in entry.stages.items():
    model = pipeline.stages.get(stage)
    if model is None or model.config != config:
      raise ValueError(f"The pipeline in `{folder}` does not have {entry.name}'s architecture "
                       f"(stage {stage!r} differs or is missing).")
  extra = set(pipeline.stages) - set(entry.stages)
  if extra:
    raise ValueError(f"The pipeline in `{folder}` has stages {sorted(extra)} that "
                     f"{entry.name} does not.")


def load(name_or_folder, weights="pretrained"):
  """Loads a pipeline from the zoo.

  Args:
    name_or_folder: a registered name (`list_models()`) or a pipeline folder.
    weights: "pretrained": the trained weights of a registered name, looked for in
      `$SPN_KERAS_HOME/<name>` and then among the pipelines shipped with the package; None:
      the architecture with fresh random weights (say so explicitly: nothing random is ever
      returned under "pretrained"); or a path to a pipeline folder holding weights for the
      named architecture.

  Returns:
    A `Pipeline`, with `pipeline.metadata` (dataset, recorded test bits/dim, ...).

  Raises:
    ValueError: unknown name; weights for another architecture; corrupt weights file.
    FileNotFoundError: no pretrained weights where they were looked for (the message says
      where, and how to train or place them).
  """
  if name_or_folder not in registry.list_models() and os.path.isdir(name_or_folder):
    pipeline, metadata = serialization.load_pipeline(name_or_folder)
    pipeline.metadata = metadata
    return pipeline
  entry = registry.get(name_or_folder)
  if weights is None:
    pipeline = entry.build_pipeline()
    pipeline.metadata = {"name": entry.name, "dataset": entry.dataset, "weights": "random"}
    return pipeline
  if weights == "pretrained":
    looked = [spn_keras_home() / entry.name]
    folder = looked[0] if (looked[0] / "pipeline.json").is_file() else shipped_folder(entry.name)
    if folder is None:
      raise FileNotFoundError(
          f"No pretrained weights for {entry.name!r}: looked in {looked[0]} "
          f"(${HOME_VARIABLE}/{entry.name}) and among the pipelines shipped with spn-keras. "
          f"Train them with `spn_train --zoo={entry.name} --stage=<stage> "
          f"--model_dir=<dir> --pipeline_dir={looked[0]}` for each stage "
          f"({', '.join(entry.stages)}) on {entry.dataset}, or place a pipeline folder there, "
          f"or pass weights=None for random weights.")
  else:
    folder = pathlib.Path(weights)
  pipeline, metadata = serialization.load_pipeline(str(folder))
  _check_architecture(entry, pipeline, folder)
  pipeline.metadata = {"name": entry.name, "dataset": entry.dataset, **metadata,
                       "weights": str(folder)}
  return pipeline
