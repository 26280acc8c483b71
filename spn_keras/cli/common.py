"""Pieces shared by the command-line tools: resolving a pipeline and a stage's data."""

import math
import os

import numpy as np
import tensorflow as tf

from spn_keras import data
from spn_keras import zoo
from spn_keras.pipelines import serialization


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
  return -total / (count * full_dims * math.log(2.0)), count


def evaluate_pipeline(pipeline, dataset):
  """Exact per-stage and total bits/dim of a pipeline over a dataset of full images."""
  sums, count = {}, 0
  for images in dataset:
    for name, value in pipeline.bits_per_dim(images).items():
      sums[name] = sums.get(name, 0.0) + float(np.sum(value))
    count += int(images.shape[0])
  return {name: value / count for name, value in sums.items()}, count
