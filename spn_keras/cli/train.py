"""spn_train: trains one stage of a pipeline (a zoo entry or a pipeline folder).

The architecture comes from one of `--zoo`, `--pipeline` (a zoo name: its entry; a pipeline
folder: its stages' configs) and `--config` (a pipeline folder, as `--pipeline`); the stage
starts from random weights, or from the weights of the same stage of `--init_from` (a zoo name:
its pretrained weights; a pipeline folder: its trained stage, sha256-checked), whose config
must equal the one trained: fine-tuning, or continuing a run on a machine that lacks its
checkpoints.

Each stage trains on its own view of the data (SPN_SPEC section 6): the slice decoder on slice
0 of the low-depth image, the size upscaler on the low-depth image, the depth upscaler on the
low bits given the high ones. Checkpoints go to `--model_dir/<stage>`; rerunning the same
command resumes from the last one. When the stage finishes, its averaged weights are written
into the pipeline folder `--pipeline_dir` (with `pipeline.json` updated), which collects the
trained stages. A run that diverges (a loss, weights or test bits/dim that are not finite)
stops with an error and writes nothing more: no checkpoint after the last good one, nothing
into the pipeline folder.

Progress goes to stderr (the summary JSON alone to stdout): a line every --log_every steps and
at least every 30 s (`step 40/2000  train 1.234 bits/dim  12.3 examples/s  ETA 1:02:03`), one
per evaluation and one when the run resumes from a checkpoint; --verbosity=-1 silences them.

  spn_train --zoo=mnist28_mdu --stage=slice_decoder --model_dir=/tmp/mnist \\
      --pipeline_dir=/tmp/mnist/pipeline --train_steps=2000 --precision=mixed_bfloat16
"""

import json
import math
import os
import sys

from absl import app
from absl import flags

from spn_keras import data
from spn_keras import zoo
from spn_keras.cli import common
from spn_keras.cli import evaluation
from spn_keras.cli import stage_flags
from spn_keras.pipelines import serialization
from spn_keras.presets import file_io
from spn_keras.presets import folder_rules
from spn_keras.presets.preset_folders import pipeline_stage_folders
from spn_keras.training import STRATEGIES
from spn_keras.training import Trainer
from spn_keras.training import get_strategy

FLAGS = flags.FLAGS
for _name in ("zoo", "pipeline", "config", "stage", "dataset", "data_dir", "model_dir",
              "train_steps", "batch_size", "clip_norm", "precision", "checkpoint_every",
              "log_every", "seed", "jit_compile"):  # the shared flags it uses, in --help
  flags.declare_key_flag(_name)
flags.DEFINE_string("pipeline_dir", None, "Pipeline folder that receives the trained stage.")
flags.DEFINE_float("learning_rate", None, "Initial learning rate; default: the entry's.")
flags.DEFINE_list("learning_rate_boundaries", None,
                  "Steps at which the learning rate drops (comma-separated ints); with "
                  "--learning_rate_values they replace the entry's schedule.")
flags.DEFINE_list("learning_rate_values", None,
                  "Learning rates after each boundary (comma-separated floats).")
flags.DEFINE_float("ema_momentum", None, "Polyak averaging momentum; default: the entry's. "
                   "0 disables it.")
flags.DEFINE_enum("strategy", "one_device", list(STRATEGIES), "tf.distribute strategy.")
flags.DEFINE_string("tpu", None, "TPU address for --strategy=tpu.")
flags.DEFINE_integer("eval_every", 0, "Steps between exact test-split evaluations (0: end).")
flags.DEFINE_integer("sample_every", 0, "Steps between TensorBoard sample grids (0: none).")
flags.DEFINE_string("init_from", None,
                    "A zoo name or pipeline folder whose --stage weights start the training "
                    "instead of random ones (its config must equal the one trained); a "
                    "checkpoint in --model_dir wins: the run resumes from it.")
flags.DEFINE_float("max_train_seconds", None,
                   "Wall-clock budget of this run: the step that exhausts it is the last "
                   "(checkpoint, evaluation, pipeline folder); rerunning continues towards "
                   "--train_steps.")


def learning_rate_schedule(entry, f):
  """The `TrainerConfig` schedule fields: the entry's, with the flags that were given replacing
  its initial rate and/or its boundaries and values."""
  boundaries, values = f.learning_rate_boundaries, f.learning_rate_values
  if (boundaries is None) != (values is None):
    raise app.UsageError("--learning_rate_boundaries and --learning_rate_values go together.")
  if boundaries is None:
    boundaries, values = entry.learning_rate_boundaries, entry.learning_rate_values
  try:
    boundaries = tuple(int(step) for step in boundaries)
    values = tuple(float(rate) for rate in values)
  except ValueError as error:
    raise app.UsageError(f"--learning_rate_boundaries must be ints and --learning_rate_values "
                         f"floats: {error}") from None
  if len(boundaries) != len(values):
    raise app.UsageError(f"--learning_rate_boundaries ({len(boundaries)}) and "
                         f"--learning_rate_values ({len(values)}) must have the same length.")
  initial = entry.learning_rate if f.learning_rate is None else f.learning_rate
  return dict(learning_rate=initial, learning_rate_boundaries=boundaries,
              learning_rate_values=values)


def initial_weights(name_or_folder, stage, config):
  """The weights of `stage` in the pipeline `name_or_folder` (`--init_from`), checked against
  the config of the stage to train.

  Args:
    name_or_folder: a registered zoo name (its pretrained weights) or a pipeline folder (its
      trained stage; the folder may hold only some of the stages).
    stage: the stage's name, e.g. "depth_upscaler".
    config: the `SliceDecoderConfig` / `SPNConfig` of the stage to train.

  Returns:
    The list of numpy arrays (`keras.Model.get_weights` order) of the stage.

  Raises:
    app.UsageError: no such zoo name or folder, no pretrained weights, no trained `stage` in
      the folder, or a stage whose config differs from `config` (naming the fields).
  """
  try:
    common.check_model_name(name_or_folder)
    if name_or_folder in zoo.list_models():
      source = zoo.load(name_or_folder).stages.get(stage)
    else:
      folders = pipeline_stage_folders(name_or_folder)
      source = serialization.load_stage(*folders[stage]) if stage in folders else None
  except common.USER_ERRORS as error:
    raise app.UsageError(f"--init_from: {common.user_error_message(error)}") from None
  if source is None:
    raise app.UsageError(f"--init_from: {name_or_folder} holds no trained {stage}.")
  if source.config != config:
    mine, theirs = config.to_dict(), source.config.to_dict()
    fields = sorted(key for key in mine.keys() | theirs.keys()
                    if mine.get(key) != theirs.get(key))
    raise app.UsageError(f"--init_from: the {stage} of {name_or_folder} has another config "
                         f"than the one trained (differing fields: {', '.join(fields)}).")
  return source.get_weights()


def train(argv_flags):
  """Runs the training described by the parsed flags; returns a summary dict.

  Raises:
    app.UsageError: a flag is refused (before any work).
    FloatingPointError: the run diverged; nothing was written into `--pipeline_dir`.
  """
  f = argv_flags
  if not f.stage or not f.model_dir:
    raise app.UsageError("--stage and --model_dir are required.")
  if f.pipeline_dir:  # refused now rather than after the training
    try:
      folder_rules.check_destination(file_io.absolute(f.pipeline_dir).rstrip("/"))
    except ValueError as error:
      raise app.UsageError(f"--pipeline_dir: {error}") from None
  model = common.model_name_from_flags(f.zoo, f.pipeline, config=f.config)
  entry, dataset = common.resolve_stage(model, f.stage, f.dataset)
  batch_size = entry.batch_size if f.batch_size is None else f.batch_size
  schedule = learning_rate_schedule(entry, f)
  ema = entry.ema_momentum if f.ema_momentum is None else (f.ema_momentum or None)
  stage_dir = os.path.join(f.model_dir, f.stage)
  config = stage_flags.trainer_config(
      model_dir=stage_dir, train_steps=f.train_steps, global_batch_size=batch_size,
      ema_momentum=ema, precision=f.precision, clip_norm=f.clip_norm,
      checkpoint_every=f.checkpoint_every, log_every=f.log_every,
      eval_every=f.eval_every or f.train_steps, sample_every=f.sample_every, seed=f.seed,
      first_slice_given=evaluation.scores_after_first_slice(entry, f.stage),
      jit_compile=f.jit_compile, max_train_seconds=f.max_train_seconds, **schedule)
  initial = (initial_weights(f.init_from, f.stage, entry.stages[f.stage])
             if f.init_from else None)
  pipeline = entry.build_pipeline()  # after the training flags are checked
  strategy = get_strategy(f.strategy, f.tpu)
  dataset_fn = evaluation.train_dataset_fn(pipeline, f.stage, dataset, batch_size,
                                           f.data_dir, f.seed)
  test = evaluation.stage_dataset(pipeline, f.stage, dataset, "test", 64, f.data_dir)
  eval_fn = evaluation.stage_evaluator(pipeline, f.stage, test)

  def sample_fn(model):
    if model.conditioning_bits:  # depth upscaler: complete real low-depth test images
      batch = next(iter(test))
      return model.sample(min(8, batch["images"].shape[0]), seed=0,
                          conditioning=batch["conditioning"][:8])
    return model.sample(8, seed=0)

  def build_stage():  # inside the strategy's scope; a restored checkpoint replaces `initial`
    stage = entry.build_stage(f.stage)
    if initial is not None:
      stage.build()
      stage.set_weights(initial)
    return stage

  trainer = Trainer(build_stage, dataset_fn, config, strategy,
                    eval_fn=eval_fn, sample_fn=sample_fn,
                    dims_per_example=pipeline.num_dims,
                    progress=None if common.progress_silenced(f) else _print_to_stderr)
  with data.image_shape_errors_as_value_errors():  # one line naming a wrong-size file
    last = trainer.train()
  with trainer.averaged_weights():
    final = trainer.eval_results if last is not None else eval_fn(trainer.model)
    test_bits = final["bits_per_dim"]
    if not math.isfinite(test_bits):  # finite weights too large for the likelihood
      raise FloatingPointError(
          f"The trained {f.stage} scores {test_bits} test bits/dim at step "
          f"{int(trainer.step.numpy())}; nothing was written into the pipeline folder: lower "
          f"the learning rate or clip gradients (--clip_norm) and train again in a new "
          f"--model_dir (the checkpoints in this one hold these weights).")
    if f.pipeline_dir:
      metadata = {"name": entry.name, "dataset": dataset,
                  f"{f.stage}_test_bits_per_dim": test_bits,
                  f"{f.stage}_train_steps": int(trainer.step.numpy())}
      if f.init_from:
        metadata[f"{f.stage}_init_from"] = f.init_from
      serialization.save_pipeline_stage(f.pipeline_dir, f.stage, trainer.model,
                                        metadata=metadata)
  return {"stage": f.stage, "init_from": f.init_from, "step": int(trainer.step.numpy()),
          "resumed_from_step": trainer.start_step, "train_seconds": trainer.train_seconds,
          "last_train_bits_per_dim": last, "test_bits_per_dim": test_bits}


def _print_to_stderr(line):
  """Writes a progress line to stderr at once (stdout is the summary JSON's)."""
  print(line, file=sys.stderr, flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    summary = train(FLAGS)
  except FloatingPointError as error:  # diverged: one line, not a traceback
    common.exit_with_error(str(error))
  print(json.dumps(summary))


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
