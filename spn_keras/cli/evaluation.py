"""A stage's data and exact bits/dim, for the tools that train, tune and evaluate stages.

The dataset of a stage's view of a `make_dataset` spec (`stage_dataset`), the `Trainer`'s
`dataset_fn` and `eval_fn` built on it, and exact bits/dim over a whole dataset of a stage
(`evaluate_stage`) or of a pipeline (`evaluate_pipeline`).
"""

from absl import app
import numpy as np
import tensorflow as tf

from spn_keras import data
from spn_keras.ops.likelihood import nats_to_bits_per_dim


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
  """Whether `stage` of `pipeline` is scored on slices `1 ..` only.

  That is a size upscaler that follows a slice decoder (SPN_SPEC section 6); its training then
  draws those slices only. `pipeline`: a `Pipeline` or the `ZooEntry` of one.
  """
  return stage == "size_upscaler" and "slice_decoder" in pipeline.stages


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
  """The dataset of `stage`'s view of `spec` (a `make_dataset` spec).

  Images are decoded to the pipeline's channels and checked against its `image_shape`
  (`make_dataset`'s `image_shape`: a wrong size found while reading names the file or spec).
  A repeated dataset (training) is shuffled; one read once (evaluation) holds every example of
  the split exactly once, whatever the split.

  Raises:
    app.UsageError: `spec` cannot give the pipeline's images (missing folder, other channels
      or size known in advance, ...).
  """
  view = pipeline.stage_view(stage)
  try:
    return data.make_dataset(spec, split, data_dir=data_dir, batch_size=batch_size, seed=seed,
                             shuffle=repeat, repeat=repeat, input_context=input_context,
                             transform=view,
                             image_shape=pipeline.image_shape, autotune=False)
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(f"--dataset={spec}: {error}") from None


def evaluate_stage(model, dataset, full_dims, first_slice_given=False):
  """Exact bits/dim of a stage over a whole dataset of its view, per full-image dimension.

  Returns:
    `(bits_per_dim, num_examples)`.

  Raises:
    ValueError: an image of the dataset has the wrong size (one line naming its file).
  """
  total, count = 0.0, 0
  with data.image_shape_errors_as_value_errors():
    for batch in dataset:
      nats = model.log_prob(batch["images"], batch.get("conditioning"),
                            first_slice_given=first_slice_given)
      total += float(tf.reduce_sum(nats))
      count += int(nats.shape[0])
  return nats_to_bits_per_dim(total / count, full_dims), count


def evaluate_pipeline(pipeline, dataset):
  """Exact per-stage and total bits/dim of a pipeline over a dataset of full images.

  Raises:
    ValueError: an image of the dataset has the wrong size (one line naming its file).
  """
  sums, count = {}, 0
  with data.image_shape_errors_as_value_errors():
    for images in dataset:
      for name, value in pipeline.bits_per_dim(images).items():
        sums[name] = sums.get(name, 0.0) + float(np.sum(value))
      count += int(images.shape[0])
  return {name: value / count for name, value in sums.items()}, count
