"""spn_eval: exact bits/dim of a trained pipeline (or one of its stages) on a dataset split.

Prints JSON: the number of examples and the bits/dim of every stage and of the total, each
divided by the full image's dimensions so that the stages add up (SPN_SPEC section 1).

A folder that training is still filling (some stages missing) is evaluated too: each stage it
holds is scored alone on its own view of the data, the JSON names the `missing_stages`, and
there is no total. The missing stages' shapes come from the zoo model the folder's metadata
names (what `spn_train --zoo=NAME --pipeline_dir=...` records).

  spn_eval --zoo=mnist28_mdu --split=test
  spn_eval --pipeline=my_mnist --stage=depth_upscaler

A progress bar over the batches goes to stderr (the JSON alone to stdout); --verbosity=-1
silences it.
"""

import json
import sys
import time

from absl import app
from absl import flags

from spn_keras import data
from spn_keras import zoo
from spn_keras.argument_checks import check_int
from spn_keras.cli import common
from spn_keras.cli import evaluation
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --pipeline, --dataset, ...)
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import serialization
from spn_keras.pipelines.pipeline import STAGES
from spn_keras.presets import folder_rules
from spn_keras.presets import pretrained_folder
from spn_keras.sampling.progress_bar import ProgressBar
from spn_keras.sampling.progress_bar import clock_text

FLAGS = flags.FLAGS
for _name in ("zoo", "pipeline", "stage", "dataset", "data_dir", "batch_size"):  # in --help
  flags.declare_key_flag(_name)
flags.DEFINE_enum("split", "test", ["train", "test"], "Dataset split to evaluate.")
flags.DEFINE_integer("max_examples", None, "Evaluate only the first N examples of the split.")
flags.DEFINE_bool("record", False, "Record the figures in the pipeline's metadata "
                  "(`<stage>_<split>_bits_per_dim`, `<split>_bits_per_dim` for the total, and the "
                  "`dataset` they were measured on).")


def load_for_evaluation(name_or_folder):
  """The stages that a zoo name or a pipeline folder holds, and the pipeline giving their views.

  A registered zoo name loads its pretrained pipeline (`zoo.load`). A folder's stages are
  loaded without building a `Pipeline` from them, so that a folder training is still filling
  can be evaluated: when its metadata names a zoo model of which it holds some of the stages
  (same configs), that model's architecture (random weights) gives the stages' views and the
  full image's dimensions; otherwise its stages must make a whole pipeline.

  Args:
    name_or_folder: a registered zoo name or a pipeline folder (resolved like `zoo.load`).

  Returns:
    `(stages, metadata, view_pipeline, missing)`: `{name: stage}` of the stages held, the
    metadata, a `Pipeline` whose `stage_view` and `num_dims` are those of the stages (the
    stages themselves when none is missing), and the names of the missing stages.

  Raises:
    ValueError: `name_or_folder` is neither a zoo name nor a folder, or its stages do not make
      a pipeline and its metadata names no zoo model to take the missing ones from.
    FileNotFoundError: a zoo name without pretrained weights, a folder without pipeline.json.
  """
  registered = zoo.list_models()
  if name_or_folder in registered:
    pipeline = zoo.load(name_or_folder)
    return pipeline.stages, pipeline.metadata, pipeline, []
  common.check_model_name(name_or_folder)
  stages, metadata = serialization.load_stages(name_or_folder)
  if not stages:
    raise ValueError(f"{name_or_folder} holds no stages yet.")
  name = metadata.get("name")
  entry = zoo.get(name) if name in registered else None
  if entry is not None and all(entry.stages.get(stage) == model.config
                               for stage, model in stages.items()):
    missing = [stage for stage in STAGES if stage in entry.stages and stage not in stages]
    return stages, metadata, entry.build_pipeline() if missing else Pipeline(**stages), missing
  try:
    return stages, metadata, Pipeline(**stages), []
  except ValueError as error:
    model = (f"its metadata names no zoo model with these stages (name: {name!r})"
             if name else "its metadata names no zoo model")
    raise ValueError(f"{name_or_folder} holds {', '.join(stages)} only, which do not make a "
                     f"pipeline ({error}), and {model} to take the missing stages' shapes "
                     f"from.") from None


# Off a terminal, the bar over batches writes a line at least this often (seconds), besides
# one every tenth of the batches.
LINE_SECONDS = 10.0


def batches_with_progress(batches, label, total_batches=None, stream=None,
                          clock=time.monotonic):
  """Yields the batches of `batches`, drawing a progress bar over them as they are used.

  A batch counts as done when the next one is asked for. The bar shows the batches done (of
  `total_batches` when known), and once the second batch is done the examples per second and
  the ETA, measured from the end of the first batch (which includes reading the data's start
  and tracing the model). A line says that the first batch is being prepared as soon as the
  iteration starts; the last line sums up. On a terminal the bar redraws in place; elsewhere
  a line is written every tenth of the batches and at least every `LINE_SECONDS` seconds.

  Args:
    batches: an iterable of batches: image tensors, or dicts holding them under "images".
    label: what is evaluated (a stage name), at the start of each line.
    total_batches: the number of batches, or None when unknown.
    stream: where the bar goes (default `sys.stderr`).
    clock: a function returning seconds (for tests).

  Yields:
    The batches of `batches`.
  """
  display = ProgressBar(stream, clock, min_line_seconds=LINE_SECONDS)
  every = max(1, total_batches // 10) if total_batches else None
  display.show(f"{label}: reading and tracing the first batch...", force=True)
  done = examples = measured_batches = measured_examples = 0
  measured_seconds = 0.0
  try:
    for batch in batches:
      yield batch
      seconds = display.lap()
      size = int((batch["images"] if isinstance(batch, dict) else batch).shape[0])
      done, examples = done + 1, examples + size
      if done > 1:  # the first batch includes reading the data's start and tracing
        measured_batches, measured_examples = measured_batches + 1, measured_examples + size
        measured_seconds += seconds
      total = None if total_batches is None else max(total_batches, done)
      line = f"{label} batch {done}"
      if total:
        line += f"/{total} {ProgressBar.bar(done / total)} {100 * done / total:3.0f}%"
      line += f" {clock_text(display.elapsed())} elapsed"
      if measured_seconds > 0:
        line += f", {measured_examples / measured_seconds:.1f} examples/s"
        if total:
          line += f", ETA {clock_text((total - done) * measured_seconds / measured_batches)}"
      display.show(line, force=done == 1 or bool(every and done % every == 0))
  except Exception:
    display.show(f"{label}: stopped after {done} batches", final=True)
    raise
  rate = (f", {measured_examples / measured_seconds:.1f} examples/s" if measured_seconds > 0
          else "")
  display.show(f"{label}: {examples} examples in {done} batches, "
               f"{clock_text(display.elapsed())} in all{rate}", final=True)


def _batch_count(batches, batch_size, max_examples):
  """The number of batches an evaluation reads from `batches` (a batched dataset read once)
  when at most `max_examples` are read, or None when its cardinality is unknown."""
  count = int(batches.cardinality())
  if count < 0:
    return None
  return count if max_examples is None else min(count, -(-max_examples // batch_size))


def evaluate(pipeline_dir, dataset=None, split="test", data_dir=None, batch_size=64,
             max_examples=None, stage=None, progress=False):
  """Exact bits/dim of the pipeline in `pipeline_dir` on a split, per stage and in total.

  Args:
    pipeline_dir: a folder saved by `Pipeline.save` or `spn_train --pipeline_dir` (some of
      its stages may be missing: see `load_for_evaluation`), or a registered zoo name
      (pretrained weights).
    dataset: `make_dataset` spec; default: the one recorded in the pipeline's metadata.
    split: "train" or "test"; examples are read in order, each once.
    data_dir: TFDS data folder.
    batch_size: evaluation batch size.
    max_examples: only the first N examples.
    stage: evaluate only this stage (on its own view of the data); None: the pipeline, or
      each stage held alone when some are missing.
    progress: show a progress bar over the batches on stderr (`batches_with_progress`), one
      per pass over the data.

  Returns:
    dict with `dataset`, `split`, `num_examples` and `bits_per_dim` (`{stage: value}`, plus
    `"total"` when the whole pipeline is evaluated), and `missing_stages` (the names of the
    stages the folder lacks) when there are some.

  Raises:
    ValueError: the dataset's images are not the pipeline's (channels that cannot be
      converted, another size), `stage` is not held, or another argument is out of range.
    app.UsageError: the dataset cannot give the images of a stage's view.
  """
  check_int("batch_size", batch_size)
  check_int("max_examples", max_examples, allow_none=True)
  stages, metadata, pipeline, missing = load_for_evaluation(pipeline_dir)
  if stage is not None and stage not in stages:
    what = (f"it lacks {', '.join(missing)}" if stage in missing
            else f"{stage} is not a stage of its pipeline")
    raise ValueError(f"--stage={stage}: {pipeline_dir} holds {', '.join(stages)} only ({what}).")
  dataset = dataset or metadata.get("dataset")
  if not dataset:
    raise ValueError("`dataset` is required: the pipeline's metadata names none.")

  def take(batches, label):
    """The batches of `batches` to evaluate, shown on the bar of `label` if `progress`."""
    total = _batch_count(batches, batch_size, max_examples)
    if max_examples:
      batches = batches.unbatch().take(max_examples).batch(batch_size)
    return batches_with_progress(batches, label, total) if progress else batches

  if stage is None and not missing:
    images = data.make_dataset(dataset, split, data_dir=data_dir, batch_size=batch_size,
                               shuffle=False, autotune=False, image_shape=pipeline.image_shape,
                               transform=pipeline.stage_view_full_images())
    bits, count = evaluation.evaluate_pipeline(pipeline, take(images, "pipeline"))
  else:
    bits = {}
    for name in [stage] if stage else stages:
      views = evaluation.stage_dataset(pipeline, name, dataset, split, batch_size, data_dir)
      bits[name], count = evaluation.evaluate_stage(
          stages[name], take(views, name), pipeline.num_dims,
          evaluation.scores_after_first_slice(pipeline, name))
  result = {"dataset": dataset, "split": split, "num_examples": count, "bits_per_dim": bits}
  if missing:
    result["missing_stages"] = missing
  return result


def recorded_folder(name_or_folder):
  """The folder that `--record` writes into: a zoo name's pretrained folder (None when it has
  none), or the folder itself."""
  if name_or_folder in zoo.list_models():
    return pretrained_folder(name_or_folder)
  return name_or_folder


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  source = common.model_name_from_flags(FLAGS.zoo, FLAGS.pipeline)
  try:
    folder = recorded_folder(source) if FLAGS.record else None
    if folder:  # before the work: a folder that may not be written is refused now
      folder_rules.check_destination(folder)
    batch_size = 64 if FLAGS.batch_size is None else FLAGS.batch_size
    result = evaluate(source, FLAGS.dataset, FLAGS.split, FLAGS.data_dir, batch_size,
                      FLAGS.max_examples, FLAGS.stage,
                      progress=not common.progress_silenced(FLAGS))
  except (ValueError, FileNotFoundError) as error:
    raise app.UsageError(common.user_error_message(error)) from None
  if folder:
    serialization.update_pipeline_metadata(folder, recorded_figures(result))
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
