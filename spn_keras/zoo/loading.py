"""`load`: a zoo pipeline by name (with pretrained weights when they exist) or from a folder."""

import os

import tensorflow as tf

from spn_keras.home import HOME_VARIABLE
from spn_keras.pipelines import load_pipeline
from spn_keras.presets import pretrained_folder
from spn_keras.presets import spn_keras_home
from spn_keras.zoo import registry

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
    weights: "pretrained": the trained weights (of a registered name, looked for in
      `$SPN_KERAS_HOME/<name>` and then among the pipelines shipped with the package; of a
      folder, its own); None: the architecture with fresh random weights (say so explicitly:
      nothing random is ever returned under "pretrained"); or, for a registered name, a path
      to a pipeline folder holding weights for its architecture.

  Returns:
    A `Pipeline`, with `pipeline.metadata` (dataset, recorded test bits/dim, ...).

  Raises:
    ValueError: unknown name; weights for another architecture; corrupt weights file.
    FileNotFoundError: no pretrained weights where they were looked for (the message says
      where, and how to train or place them).
  """
  if not isinstance(name_or_folder, (str, os.PathLike)):
    raise TypeError(f"`name_or_folder` must be a registered name or a pipeline folder (a "
                    f"string), got {type(name_or_folder).__name__}.")
  if weights is not None and not isinstance(weights, (str, os.PathLike)):
    raise TypeError(f"`weights` must be \"pretrained\", None (random weights) or a pipeline "
                    f"folder, got {type(weights).__name__}.")
  name_or_folder = os.fspath(name_or_folder)
  if name_or_folder not in registry.list_models() and tf.io.gfile.isdir(name_or_folder):
    if weights not in ("pretrained", None):
      raise ValueError(f"`weights` must be \"pretrained\" (the folder's own) or None (random) "
                       f"when loading the folder `{name_or_folder}`, got {weights!r}.")
    pipeline, metadata = load_pipeline(name_or_folder, weights=weights is not None)
    if weights is None:  # the folder's figures are its weights', not these
      metadata = {**{key: metadata[key] for key in ("name", "dataset") if key in metadata},
                  "weights": "random"}
    pipeline.metadata = metadata
    return pipeline
  entry = registry.get(name_or_folder)
  if weights is None:
    pipeline = entry.build_pipeline()
    pipeline.metadata = {"name": entry.name, "dataset": entry.dataset, "weights": "random"}
    return pipeline
  if weights == "pretrained":
    folder = pretrained_folder(entry.name)
    home = os.path.join(spn_keras_home(), entry.name)
    if folder is None:
      raise FileNotFoundError(
          f"No pretrained weights for {entry.name!r}: looked in {home} "
          f"(${HOME_VARIABLE}/{entry.name}) and among the pipelines shipped with spn-keras. "
          f"Train them with `spn_train --zoo={entry.name} --stage=<stage> "
          f"--model_dir=<dir> --pipeline_dir={home}` for each stage "
          f"({', '.join(entry.stages)}) on {entry.dataset}, or place a pipeline folder there, "
          f"or pass weights=None for random weights.")
  else:
    folder = weights
  pipeline, metadata = load_pipeline(str(folder))
  _check_architecture(entry, pipeline, folder)
  pipeline.metadata = {"name": entry.name, "dataset": entry.dataset, **metadata,
                       "weights": str(folder)}
  return pipeline
