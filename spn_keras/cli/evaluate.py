"""spn_eval: exact bits/dim of a trained pipeline (or one of its stages) on a dataset split.

Prints JSON: the number of examples and the bits/dim of every stage and of the total, each
divided by the full image's dimensions so that the stages add up (SPN_SPEC section 1).

  spn_eval --pipeline=zoo/mnist28_mdu --split=test
"""

import json
import sys

from absl import app
from absl import flags

from spn_keras import data
from spn_keras.argument_checks import check_int
from spn_keras.cli import common
from spn_keras.cli import stage_flags  # noqa: F401  (defines --pipeline, --dataset, ...)
from spn_keras.pipelines import load_pipeline
from spn_keras.pipelines import serialization
from spn_keras.presets import folder_rules

FLAGS = flags.FLAGS
flags.DEFINE_enum("split", "test", ["train", "test"], "Dataset split to evaluate.")
flags.DEFINE_integer("max_examples", None, "Evaluate only the first N examples of the split.")
flags.DEFINE_bool("record", False, "Record the figures in the pipeline's metadata "
                  "(`<stage>_<split>_bits_per_dim`, `<split>_bits_per_dim` for the total, and the "
                  "`dataset` they were measured on).")


def evaluate(pipeline_dir, dataset=None, split="test", data_dir=None, batch_size=64,
             max_examples=None, stage=None):
  """Exact bits/dim of the pipeline in `pipeline_dir` on a split, per stage and in total.

  Args:
    pipeline_dir: a folder saved by `Pipeline.save` or `spn_train --pipeline_dir`.
    dataset: `make_dataset` spec; default: the one recorded in the pipeline's metadata.
    split: "train" or "test"; examples are read in order, each once.
    data_dir: TFDS data folder.
    batch_size: evaluation batch size.
    max_examples: only the first N examples.
    stage: evaluate only this stage (on its own view of the data); None: the pipeline.

  Returns:
    dict with `dataset`, `split`, `num_examples` and `bits_per_dim` (`{stage: value}`, plus
    `"total"` when the whole pipeline is evaluated).

  Raises:
    ValueError: the dataset's images are not the pipeline's (channels that cannot be
      converted, another size), or another argument is out of range.
    app.UsageError: `stage` is given and the dataset cannot give its images.
  """
  check_int("batch_size", batch_size)
  check_int("max_examples", max_examples, allow_none=True)
  pipeline, metadata = load_pipeline(pipeline_dir)
  dataset = dataset or metadata.get("dataset")
  if not dataset:
    raise ValueError("`dataset` is required: the pipeline's metadata names none.")
  take = (lambda ds: ds.unbatch().take(max_examples).batch(batch_size)) if max_examples else (
      lambda ds: ds)
  if stage is None:
    images = data.make_dataset(dataset, split, data_dir=data_dir, batch_size=batch_size,
                               shuffle=False, autotune=False, image_shape=pipeline.image_shape,
                               transform=pipeline.stage_view_full_images())
    bits, count = common.evaluate_pipeline(pipeline, take(images))
  else:
    views = common.stage_dataset(pipeline, stage, dataset, split, batch_size, data_dir)
    value, count = common.evaluate_stage(pipeline.stages[stage], take(views), pipeline.num_dims,
                                         common.scores_after_first_slice(pipeline, stage))
    bits = {stage: value}
  return {"dataset": dataset, "split": split, "num_examples": count, "bits_per_dim": bits}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not FLAGS.pipeline:
    raise app.UsageError("--pipeline is required.")
  try:
    if FLAGS.record:  # before the work: a folder that may not be written is refused now
      folder_rules.check_destination(FLAGS.pipeline)
    batch_size = 64 if FLAGS.batch_size is None else FLAGS.batch_size
    result = evaluate(FLAGS.pipeline, FLAGS.dataset, FLAGS.split, FLAGS.data_dir, batch_size,
                      FLAGS.max_examples, FLAGS.stage)
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(common.user_error_message(error)) from None
  if FLAGS.record:
    serialization.update_pipeline_metadata(FLAGS.pipeline, recorded_figures(result))
  print(json.dumps(result))


def recorded_figures(result):
  """The metadata entries that `--record` writes for an `evaluate` result: the figures and
  the dataset they were measured on (which `spn_eval` then evaluates by default)."""
  split = result["split"]
  figures = {"dataset": result["dataset"], f"{split}_num_examples": result["num_examples"]}
  for name, value in result["bits_per_dim"].items():
    key = f"{split}_bits_per_dim" if name == "total" else f"{name}_{split}_bits_per_dim"
    figures[key] = value
  return figures


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
