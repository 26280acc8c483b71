"""Pieces shared by the command-line tools: resolving a pipeline and a stage's data."""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from spn_keras import data
from spn_keras import zoo
from spn_keras.cli import launch
from spn_keras.ops.likelihood import nats_to_bits_per_dim
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import serialization
from spn_keras.presets import file_io


def run_tool(main, module):
  """`app.run(main)`, with `--help` describing `module` however the tool was started.

  absl's `--help` shows the docstring and key flags of `__main__`, which is a launcher (a
  `bin/` wrapper, installed as the command) unless the tool runs with `python -m`; this gives
  the launcher `module`'s docstring and key flags first, and `--verbosity`, which decides
  there whether TensorFlow's log lines show (`launch.HELP`).

  Python-side INFO lines (TensorFlow's, through absl logging: e.g. "Function `_log_prob`
  contains input name(s) ... with unsupported characters" while exporting) are hidden too
  unless `--verbosity` is 1 or more: absl would show them from 0, its default.

  Args:
    main: the tool's `main(argv)`.
    module: the tool's module object (`sys.modules[__name__]`).
  """
  launcher = sys.modules["__main__"]
  if launcher is not module:
    launcher.__doc__ = module.__doc__ + launch.HELP
    for flag in flags.FLAGS.get_key_flags_for_module(module) + [flags.FLAGS["verbosity"]]:
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

  def quiet_main(argv):
    if flags.FLAGS.verbosity < 1:
      logging.set_verbosity(logging.WARNING)
    return main(argv)

  app.run(quiet_main)


def convert_files_main(convert, argv):
  """The `main` of a tool that turns input files into `--output_dir` files with a pipeline.

  Checks the flags (exactly one of `--zoo` and `--pipeline`, an `--output_dir`), runs
  `convert(inputs, output_dir, zoo_name, pipeline_dir, overwrite, progress)` on the
  positional arguments, and prints the summary it returns as JSON; its `ValueError`s and
  `FileExistsError`s become usage errors.

  Args:
    convert: the tool's function (`spn_compress`'s `compress_files`, ...).
    argv: the arguments absl passes to `main`.
  """
  flag_values = flags.FLAGS
  if (flag_values.zoo is None) == (flag_values.pipeline is None):
    raise app.UsageError("Give exactly one of --zoo (a registered name) and --pipeline (a "
                         "pipeline folder).")
  if not flag_values.output_dir:
    raise app.UsageError("--output_dir is required.")
  try:
    summary = convert(argv[1:], flag_values.output_dir, flag_values.zoo, flag_values.pipeline,
                      flag_values.overwrite, flag_values.progress)
  except (ValueError, FileExistsError) as e:
    raise app.UsageError(str(e)) from None
  print(json.dumps(summary))


def output_paths(inputs, output_dir, suffix):
  """`{input: <output_dir>/<input's file name without extension><suffix>}`.

  Raises:
    ValueError: two inputs would give the same output.
  """
  outputs = {path: os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + suffix)
             for path in inputs}
  if len(set(outputs.values())) != len(outputs):
    raise ValueError("Two inputs have the same file name: their outputs would collide.")
  return outputs


def write_outputs(contents, overwrite=False):
  """Writes several files all or none: no file is left half-written, none replaced in vain.

  Every target is checked first; then all files are written to temporary names beside their
  targets, and only when all are written are they renamed into place. A failed write removes
  the temporary files and leaves every target as it was. Paths go through `tf.io.gfile`, so
  bucket paths (`gs://...`) work too.

  Args:
    contents: `{path: bytes}`.
    overwrite: replace existing files; otherwise an existing target is an error.

  Raises:
    FileExistsError: a target exists and `overwrite` is False (nothing is written).
  """
  existing = [path for path in contents if tf.io.gfile.exists(path)]
  if existing and not overwrite:
    raise FileExistsError(f"{existing[0]} exists ({len(existing)} of the outputs do); pass "
                          f"--overwrite to replace them.")
  temporary = {}
  try:
    for path, content in contents.items():
      tf.io.gfile.makedirs(os.path.dirname(path) or ".")
      temporary[path] = file_io.temporary_sibling(path)
      with tf.io.gfile.GFile(temporary[path], "wb") as f:
        f.write(content)
  except BaseException:
    for tmp in temporary.values():
      if tf.io.gfile.exists(tmp):
        tf.io.gfile.remove(tmp)
    raise
  for path, tmp in temporary.items():
    tf.io.gfile.rename(tmp, path, overwrite=True)


def load_pipeline(zoo_name=None, pipeline_dir=None):
  """The pipeline of a zoo name (pretrained weights) or of a pipeline folder.

  Args:
    zoo_name: a registered zoo name or a pipeline folder (`--zoo`).
    pipeline_dir: a pipeline folder (`--pipeline`); give exactly one of the two.

  Returns:
    The `Pipeline`.
  """
  if (zoo_name is None) == (pipeline_dir is None):
    raise ValueError("Give exactly one of `zoo_name` (--zoo) and `pipeline_dir` (--pipeline).")
  return zoo.load(zoo_name) if zoo_name is not None else Pipeline.load(pipeline_dir)


def resolve_architecture(zoo_name=None, config=None):
  """The `ZooEntry` named `zoo_name`, or an entry built from a pipeline folder `config`."""
  if (zoo_name is None) == (config is None):
    raise ValueError("Give exactly one of --zoo (a registered name) and --config (a pipeline "
                     "folder with pipeline.json and per-stage config.json).")
  if zoo_name is not None:
    return zoo.get(zoo_name)
  spec = serialization.read_pipeline_json(config)
  stages = {}
  for name, entry in spec["stages"].items():
    stages[name] = serialization.build_stage(os.path.join(config, entry["folder"])).config
  metadata = spec.get("metadata", {})
  return zoo.ZooEntry(name=metadata.get("name", os.path.basename(os.path.normpath(config))),
                      description=metadata.get("description", ""),
                      dataset=metadata.get("dataset", ""), stages=stages,
                      batch_size=metadata.get("batch_size", 32),
                      learning_rate=metadata.get("learning_rate", 1e-4))


def resolve_stage(zoo_name, config, stage, dataset=None):
  """Resolves the model and data flags of a tool that trains one stage.

  Args:
    zoo_name, config: as in `resolve_architecture`.
    stage: the stage's name, e.g. "slice_decoder".
    dataset: a `make_dataset` spec, or None for the entry's own.

  Returns:
    `(entry, pipeline, dataset)`: the `ZooEntry`, its pipeline (random weights: it supplies
    the stage's view of the data and the full image's dimensions) and the dataset spec.

  Raises:
    app.UsageError: `stage` is not a stage of the pipeline, or no dataset is known.
  """
  entry = resolve_architecture(zoo_name, config)
  pipeline = entry.build_pipeline()
  if stage not in pipeline.stages:
    raise app.UsageError(f"--stage must be one of {list(pipeline.stages)} for {entry.name}.")
  dataset = dataset or entry.dataset
  if not dataset:
    raise app.UsageError("--dataset is required (the pipeline names none).")
  return entry, pipeline, dataset


def train_dataset_fn(pipeline, stage, spec, global_batch_size, data_dir=None, seed=0):
  """The `Trainer` `dataset_fn` of `stage`: each input pipeline's share of the train split.

  Returns:
    `dataset_fn(input_context)` -> repeated per-replica batches of `stage`'s view of `spec`.
  """

  def dataset_fn(context):
    per_replica = context.get_per_replica_batch_size(global_batch_size)
    return stage_dataset(pipeline, stage, spec, "train", per_replica, data_dir, seed, context,
                         repeat=True)

  return dataset_fn


def scores_after_first_slice(pipeline, stage):
  """Whether `stage` of `pipeline` is scored on slices `1 ..` only: a size upscaler that
  follows a slice decoder (SPN_SPEC section 6). Its training then draws those slices only."""
  return stage == "size_upscaler" and pipeline.slice_decoder is not None


def stage_evaluator(pipeline, stage, dataset):
  """The `Trainer` `eval_fn` of `stage`: exact bits/dim over `dataset` (of the stage's view).

  Bits are per dimension of the full image, so that the stages of a pipeline add up; a size
  upscaler that follows a slice decoder scores slices `1 ..` only (SPN_SPEC section 6).

  Returns:
    `eval_fn(model)` -> `{"bits_per_dim": float}`.
  """
  first_slice_given = scores_after_first_slice(pipeline, stage)

  def eval_fn(model):
    bits, _ = evaluate_stage(model, dataset, pipeline.num_dims, first_slice_given)
    return {"bits_per_dim": bits}

  return eval_fn


def stage_dataset(pipeline, stage, spec, split, batch_size, data_dir=None, seed=0,
                  input_context=None, repeat=False):
  """The dataset of `stage`'s view of `spec` (a `make_dataset` spec)."""
  shape = pipeline.image_shape
  return data.make_dataset(spec, split, data_dir=data_dir, batch_size=batch_size, seed=seed,
                           repeat=repeat, input_context=input_context,
                           transform=_checked_view(pipeline, stage, shape),
                           autotune=False)


def _checked_view(pipeline, stage, shape):
  view = pipeline.stage_view(stage)

  def transform(image):
    tf.debugging.assert_equal(tf.shape(image), tf.constant(shape, tf.int32),
                              message=f"dataset images must have shape {shape}")
    return view(image)

  return transform


def evaluate_stage(model, dataset, full_dims, first_slice_given=False):
  """Exact bits/dim of a stage over a whole dataset of its view, per full-image dimension.

  Returns:
    `(bits_per_dim, num_examples)`.
  """
  total, count = 0.0, 0
  for batch in dataset:
    nats = model.log_prob(batch["images"], batch.get("conditioning"),
                          first_slice_given=first_slice_given)
    total += float(tf.reduce_sum(nats))
    count += int(nats.shape[0])
  return nats_to_bits_per_dim(total / count, full_dims), count


def evaluate_pipeline(pipeline, dataset):
  """Exact per-stage and total bits/dim of a pipeline over a dataset of full images."""
  sums, count = {}, 0
  for images in dataset:
    for name, value in pipeline.bits_per_dim(images).items():
      sums[name] = sums.get(name, 0.0) + float(np.sum(value))
    count += int(images.shape[0])
  return {name: value / count for name, value in sums.items()}, count
