"""spn_tune: a keras-tuner random search over the learning rate and widths of one stage.

Each trial trains the stage with this package's `Trainer` (the custom loop of `spn_train`, on
one device; keras-tuner's `HyperModel.fit` path is not used) for `--train_steps` steps at a
constant learning rate, then scores the exact test bits/dim of the stage (per dimension of the
full image, as `spn_train` reports it) on the first `--eval_examples` test examples: the
objective `test_bits_per_dim`, minimized. Trials train without Polyak averaging: on a small
budget the average would still be mostly the initial weights. A trial whose loss diverges is
marked FAILED and the search goes on; keras-tuner ends it with an error after 3 failed trials
in a row.

Search space (`search_space`): the learning rate, log-uniform in `--learning_rate_range`, and
the widths `pixelcnn_channels`, `attention_channels` and, for SPNs, `embedder_conv_channels`,
each one of the entry's value times `--width_scales`, raised where needed to stay valid (the
PixelCNN needs at least one channel per colour, attention at least one per head).

`--model_dir` is the tuner's project: keras-tuner's state (`oracle.json`, `tuner0.json`) and
one folder `trial_<id>/` per trial holding keras-tuner's `trial.json`, the trial's checkpoints
and its TensorBoard events (`train/`, `eval/`, and its hyperparameters for the HParams
dashboard), so that `tensorboard --logdir=<model_dir>` compares the trials. Rerunning the same
command reloads the search (with the search space saved by the first run) and runs only the
trials still missing; an interrupted trial resumes from its last checkpoint. keras-tuner's
progress goes to stderr; stdout gets one JSON object: the best hyperparameters, the best
bits/dim and every trial's result.

  spn_tune --zoo=mnist28_mdu --stage=slice_decoder --model_dir=/tmp/mnist_tune \\
      --max_trials=8 --train_steps=300 --eval_examples=512
"""

import contextlib
import dataclasses
import json
import os
import sys

from absl import app
from absl import flags
import keras_tuner
from keras_tuner.engine import base_tuner
from keras_tuner.engine.trial import TrialStatus
from tensorboard.plugins.hparams import api as hparams_api
import tensorflow as tf

from spn_keras.argument_checks import ArgumentError
from spn_keras.argument_checks import check_float
from spn_keras.argument_checks import check_int
from spn_keras.cli import common
from spn_keras.cli import evaluation
from spn_keras.cli import stage_flags
from spn_keras.models import SPNConfig
from spn_keras.presets import file_io
from spn_keras.training import Trainer
from spn_keras.training import get_strategy

OBJECTIVE = "test_bits_per_dim"
WIDTH_SCALES = (0.5, 1.0, 2.0)
LEARNING_RATE_RANGE = (1e-4, 3e-3)
_EVAL_BATCH = 64

FLAGS = flags.FLAGS
for _name in ("zoo", "pipeline", "config", "stage", "dataset", "data_dir", "model_dir",
              "train_steps", "batch_size", "clip_norm", "precision", "checkpoint_every",
              "log_every", "seed", "jit_compile"):  # the shared flags it uses, in --help
  flags.declare_key_flag(_name)
flags.DEFINE_integer("max_trials", 10, "Trials of the random search.")
flags.DEFINE_integer("eval_examples", 512, "Test examples (the first ones) that score a trial.")
flags.DEFINE_list("width_scales", [str(s) for s in WIDTH_SCALES],
                  "Factors of the entry's widths that the search chooses from.")
flags.DEFINE_list("learning_rate_range", [str(r) for r in LEARNING_RATE_RANGE],
                  "Lowest and highest learning rate (searched on a log scale).")


def _searched_widths(stage_config):
  """`{hyperparameter name: (part, field, smallest valid value)}` of the widths searched.

  The part is "decoder" (the stage's own config for a slice decoder, `decoder` of an SPN) or
  "embedder" (an SPN's conditioning network).
  """
  decoder = stage_config.decoder if isinstance(stage_config, SPNConfig) else stage_config
  widths = {"pixelcnn_channels": ("decoder", "pixelcnn_channels", decoder.channels),
            # key_dim = channels // heads: at least one channel per head.
            "attention_channels": ("decoder", "attention_channels", decoder.attention_heads)}
  if isinstance(stage_config, SPNConfig):
    widths["embedder_conv_channels"] = ("embedder", "conv_channels", 1)
  return widths


def _part(stage_config, part):
  if isinstance(stage_config, SPNConfig):
    return getattr(stage_config, part)
  return stage_config


def with_widths(stage_config, widths):
  """`stage_config` with the searched `widths` (`{hyperparameter name: value}`) set."""
  searched = _searched_widths(stage_config)
  changes = {}
  for name, value in widths.items():
    part, field, _ = searched[name]
    changes.setdefault(part, {})[field] = value
  if not isinstance(stage_config, SPNConfig):
    return dataclasses.replace(stage_config, **changes.get("decoder", {}))
  return dataclasses.replace(stage_config, **{
      part: dataclasses.replace(getattr(stage_config, part), **values)
      for part, values in changes.items()})


def search_space(stage_config, width_scales=WIDTH_SCALES,
                 learning_rate_range=LEARNING_RATE_RANGE):
  """The hyperparameters searched for a stage.

  Args:
    stage_config: the stage's `SliceDecoderConfig` or `SPNConfig` (the entry's widths).
    width_scales: positive finite factors; each width chooses among `round(width * factor)`,
      raised to the smallest valid value.
    learning_rate_range: `(low, high)`, finite, `0 < low < high`.

  Returns:
    A `keras_tuner.HyperParameters` with the float "learning_rate" (log sampling) and an int
    choice per searched width (see `_searched_widths`).

  Raises:
    ArgumentError: `width_scales` or `learning_rate_range` is invalid (a `ValueError`).
  """
  width_scales = tuple(width_scales)
  if not width_scales:
    raise ArgumentError("width_scales", "finite numbers > 0 (at least one)", width_scales)
  for scale in width_scales:
    check_float("width_scales", scale, minimum=0, exclusive_minimum=True)
  learning_rate_range = tuple(learning_rate_range)
  expected = "(low, high) with 0 < low < high"
  if len(learning_rate_range) != 2:
    raise ArgumentError("learning_rate_range", expected, learning_rate_range)
  low, high = (check_float("learning_rate_range", rate) for rate in learning_rate_range)
  if not 0 < low < high:
    raise ArgumentError("learning_rate_range", expected, learning_rate_range)
  hyperparameters = keras_tuner.HyperParameters()
  hyperparameters.Float("learning_rate", low, high, sampling="log")
  for name, (part, field, minimum) in _searched_widths(stage_config).items():
    width = getattr(_part(stage_config, part), field)
    values = sorted({max(minimum, round(width * scale)) for scale in width_scales})
    hyperparameters.Choice(name, values, default=width if width in values else None)
  return hyperparameters


class _TrialTuner(base_tuner.BaseTuner):
  """keras-tuner's search loop whose trials are `trial_fn(values, trial_dir)` -> metrics.

  `run_trial` is the whole trial: no hypermodel is built and no Keras `fit` runs. The project
  folder is `model_dir`; trial `<id>` works in `model_dir/trial_<id>`.
  """

  def __init__(self, trial_fn, oracle, model_dir):
    # normpath would turn a bucket's "gs://b/x" into "gs:/b/x".
    model_dir = os.path.normpath(model_dir) if file_io.is_local(model_dir) else (
        model_dir.rstrip("/"))
    super().__init__(oracle, directory=os.path.dirname(model_dir) or ".",
                     project_name=os.path.basename(model_dir))
    self._trial_fn = trial_fn

  def run_trial(self, trial):
    return self._trial_fn(trial.hyperparameters.values, self.get_trial_dir(trial.trial_id))


def tune(stage, model_dir, *, zoo=None, pipeline=None, config=None, dataset=None,
         data_dir=None, max_trials=10, train_steps=1000, eval_examples=512, batch_size=None,
         precision="float32", clip_norm=None, checkpoint_every=100, log_every=10, seed=0,
         jit_compile=False, width_scales=WIDTH_SCALES, learning_rate_range=LEARNING_RATE_RANGE):
  """Runs (or resumes) the random search of one stage; the work behind `spn_tune`.

  Args:
    stage: the stage to tune, e.g. "slice_decoder".
    model_dir: the tuner's project folder (see the module docstring).
    zoo, pipeline, config: the architecture (`--zoo`, `--pipeline`, `--config`; give exactly
      one): a registered zoo name, or a pipeline folder whose stage configs define it.
    dataset: `make_dataset` spec; None: the entry's.
    data_dir: TFDS data folder.
    max_trials: trials of the search, counting those of earlier runs in `model_dir` (>= 1).
    train_steps: optimizer steps per trial (>= 1).
    eval_examples: the first this many test examples score each trial (>= 1).
    batch_size: global batch size (>= 1); None: the entry's.
    precision, clip_norm, checkpoint_every, log_every, seed, jit_compile: as in
      `TrainerConfig`; `seed` also seeds the random search. Every trial sees the same data in
      the same order and starts from weights drawn with the same seed.
    width_scales, learning_rate_range: the search space (see `search_space`).

  Returns:
    A JSON-ready dict: `stage`, `objective`, `best_trial_id`, `best_hyperparameters`,
    `best_test_bits_per_dim` (None when no trial completed) and `trials`, a list (in the order
    the trials were created) of dicts with `trial_id`, `status`, `hyperparameters`,
    `test_bits_per_dim` and `last_train_bits_per_dim` (when measured) and `error` (the last
    line of the error of a failed trial).

  Raises:
    app.UsageError: `stage` or `model_dir` is missing, not exactly one of `zoo`, `pipeline`
      and `config` is given, or an argument of the trials' `TrainerConfig` is refused (naming
      its flag).
    ValueError: the model named is neither a registered zoo name nor a pipeline folder.
    ArgumentError: `max_trials`, `eval_examples`, `width_scales` or `learning_rate_range` is
      refused.
  """
  if not stage or not model_dir:
    raise app.UsageError("--stage and --model_dir are required.")
  check_int("max_trials", max_trials)
  check_int("eval_examples", eval_examples)
  model = common.model_name_from_flags(zoo, pipeline, config=config)
  entry, dataset = common.resolve_stage(model, stage, dataset)
  stage_config = entry.stages[stage]
  hyperparameters = search_space(stage_config, width_scales, learning_rate_range)
  batch_size = entry.batch_size if batch_size is None else batch_size
  # Checked before the search: each trial's config differs in its folder and learning rate only.
  trial_config = stage_flags.trainer_config(
      model_dir=model_dir, train_steps=train_steps, global_batch_size=batch_size,
      learning_rate=learning_rate_range[0], ema_momentum=None, precision=precision,
      clip_norm=clip_norm, checkpoint_every=checkpoint_every, keep_checkpoints=1,
      log_every=log_every, eval_every=train_steps, seed=seed,
      first_slice_given=evaluation.scores_after_first_slice(entry, stage),
      jit_compile=jit_compile)
  built = entry.build_pipeline()  # after the training arguments are checked
  dataset_fn = evaluation.train_dataset_fn(built, stage, dataset, batch_size, data_dir, seed)
  test = evaluation.stage_dataset(built, stage, dataset, "test", None, data_dir)
  evaluate = evaluation.stage_evaluator(
      built, stage, test.take(eval_examples).batch(min(eval_examples, _EVAL_BATCH)))
  strategy = get_strategy("one_device")

  def run_trial(values, trial_dir):
    widths = {name: value for name, value in values.items() if name != "learning_rate"}
    trial_entry = dataclasses.replace(
        entry, stages={**entry.stages, stage: with_widths(stage_config, widths)})
    trainer_config = dataclasses.replace(trial_config, model_dir=trial_dir,
                                         learning_rate=values["learning_rate"])
    scores = {}

    def eval_fn(model):
      scores.update(evaluate(model))
      return scores

    writer = tf.summary.create_file_writer(trial_dir)
    with writer.as_default():
      hparams_api.hparams(values, trial_id=os.path.basename(trial_dir))
    writer.close()
    try:
      trainer = Trainer(lambda: trial_entry.build_stage(stage), dataset_fn, trainer_config,
                        strategy, eval_fn=eval_fn, dims_per_example=built.num_dims)
      last = trainer.train()
    except FloatingPointError as error:  # diverged: a result of the search, not a crash
      raise keras_tuner.errors.FailedTrialError(str(error)) from error
    if not scores:  # resumed after its last step: the trainer had nothing left to evaluate
      eval_fn(trainer.model)
    metrics = {OBJECTIVE: scores["bits_per_dim"]}
    if last is not None:
      metrics["last_train_bits_per_dim"] = last
    return metrics

  oracle = keras_tuner.oracles.RandomSearchOracle(
      objective=keras_tuner.Objective(OBJECTIVE, direction="min"), max_trials=max_trials,
      seed=seed, hyperparameters=hyperparameters, allow_new_entries=False,
      tune_new_entries=False)
  with contextlib.redirect_stdout(sys.stderr):  # keras-tuner's progress; stdout: the summary
    tuner = _TrialTuner(run_trial, oracle, model_dir)
    tuner.search()
  return _summary(stage, tuner.oracle)


def _summary(stage, oracle):
  trials = []
  for trial in oracle.trials.values():
    result = {"trial_id": trial.trial_id, "status": trial.status,
              "hyperparameters": dict(trial.hyperparameters.values)}
    for name in (OBJECTIVE, "last_train_bits_per_dim"):
      if trial.metrics.exists(name):
        result[name] = float(trial.metrics.get_last_value(name))
    if trial.message:
      result["error"] = trial.message.strip().splitlines()[-1]
    trials.append(result)
  # get_best_trials pads with unfinished trials when fewer than asked completed.
  best = [t for t in oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
  return {"stage": stage, "objective": OBJECTIVE,
          "best_trial_id": best[0].trial_id if best else None,
          "best_hyperparameters": dict(best[0].hyperparameters.values) if best else None,
          "best_test_bits_per_dim": float(best[0].score) if best else None,
          "trials": trials}


def _floats(name, values):
  try:
    return tuple(float(v) for v in values)
  except ValueError:
    raise app.UsageError(f"--{name} must be a comma-separated list of numbers, "
                         f"got {','.join(values)!r}.") from None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  f = FLAGS
  summary = tune(f.stage, f.model_dir, zoo=f.zoo, pipeline=f.pipeline, config=f.config,
                 dataset=f.dataset, data_dir=f.data_dir, max_trials=f.max_trials,
                 train_steps=f.train_steps,
                 eval_examples=f.eval_examples, batch_size=f.batch_size,
                 precision=f.precision, clip_norm=f.clip_norm,
                 checkpoint_every=f.checkpoint_every, log_every=f.log_every, seed=f.seed,
                 jit_compile=f.jit_compile, width_scales=_floats("width_scales", f.width_scales),
                 learning_rate_range=_floats("learning_rate_range", f.learning_rate_range))
  print(json.dumps(summary))
  return 0 if summary["best_trial_id"] is not None else 1  # 1: no trial completed


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
