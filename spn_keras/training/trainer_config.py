"""`TrainerConfig`: how `Trainer` trains one stage, every field checked when it is made."""

import dataclasses
import os

import keras

from spn_keras.argument_checks import ArgumentError
from spn_keras.argument_checks import check_bool
from spn_keras.argument_checks import check_float
from spn_keras.argument_checks import check_increasing_ints
from spn_keras.argument_checks import check_int

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# `keras.utils.set_random_seed` seeds numpy's global generator, which takes seeds < 2**32.
MAX_SEED = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
  """How to train one stage.

  Every field is checked when the config is made (an `ArgumentError`, a `ValueError`, names
  the field and its accepted range), and held as a Python value (a tuple for a sequence).

  Attributes:
    model_dir: folder for checkpoints (`model_dir/checkpoints`) and TensorBoard events
      (`model_dir/train`, `model_dir/eval`).
    train_steps: total optimizer steps (>= 1); a rerun resumes and stops at this step.
    global_batch_size: examples per step over all replicas (>= 1).
    learning_rate: initial learning rate (finite, > 0).
    learning_rate_boundaries: steps at which the rate drops (piecewise constant): strictly
      increasing ints >= 1.
    learning_rate_values: the rates after each boundary (finite, > 0), one per boundary.
    ema_momentum: Polyak averaging momentum in [0, 1) (paper: 0.9999); None disables it. At
      step `t` the average moves with `min(ema_momentum, (1 + t) / (10 + t))` (the warm-up of
      `tf.train.ExponentialMovingAverage(num_updates=t)`): with a constant momentum `m` the
      first iterate would keep a weight of `m**t` (38% after 955 steps at 0.999). Evaluation,
      samples and exported weights use the averaged weights.
    precision: "float32", "mixed_bfloat16" or "mixed_float16" (with loss scaling).
    clip_norm: global gradient-norm clipping (finite, > 0); None disables it.
    checkpoint_every: steps between checkpoints (and always at the last step), >= 1.
    keep_checkpoints: checkpoints kept by the `CheckpointManager`, >= 1.
    log_every: steps between training summaries and progress lines (`Trainer`'s `progress`;
      a line also whenever 30 s passed since the previous one), >= 1.
    eval_every: steps between evaluations (0: none).
    sample_every: steps between sample grids in TensorBoard (0: none).
    seed: an int in `[0, MAX_SEED]`, seed of the initial weights (`keras.utils.set_random_seed`
      before the model is built) and of the choice of target slices: the same seed gives the
      same run (float32, one device).
    first_slice_given: train a pipeline's size upscaler on what the pipeline scores: target
      slices `1 ..` only (slice 0 is the slice decoder's), the loss an unbiased estimate of
      `-log p(slices >= 1 | slice 0)` (`training_loss(..., first_slice_given=True)`), so
      that training bits/dim and the pipeline's evaluation measure the same term. False trains
      on all `S*S` slices (a stage modelling whole images).
    jit_compile: compile each replica's training step (forward, backward and optimizer
      update) with XLA, as a TPU does; the losses are those of the plain step.
    max_train_seconds: wall-clock budget (finite, > 0) of one `Trainer.train` call (None: no
      limit). The step that exhausts it ends the call as if it were the last step (checkpoint,
      evaluation, samples); a rerun resumes towards `train_steps` with a fresh budget.
  """

  model_dir: str
  train_steps: int
  global_batch_size: int = 32
  learning_rate: float = 1e-4
  learning_rate_boundaries: tuple = ()
  learning_rate_values: tuple = ()
  ema_momentum: float = 0.9999
  precision: str = "float32"
  clip_norm: float = None
  checkpoint_every: int = 100
  keep_checkpoints: int = 3
  log_every: int = 10
  eval_every: int = 0
  sample_every: int = 0
  seed: int = 0
  first_slice_given: bool = False
  jit_compile: bool = False
  max_train_seconds: float = None

  def __post_init__(self):
    if not isinstance(self.model_dir, (str, os.PathLike)) or not os.fspath(self.model_dir):
      raise ArgumentError("model_dir", "a folder path", self.model_dir)
    if self.precision not in PRECISIONS:
      raise ArgumentError("precision", f"one of {PRECISIONS}", self.precision)
    positive = dict(minimum=0, exclusive_minimum=True)
    checked = {
        "train_steps": check_int("train_steps", self.train_steps),
        "global_batch_size": check_int("global_batch_size", self.global_batch_size),
        "learning_rate": check_float("learning_rate", self.learning_rate, **positive),
        "learning_rate_boundaries": check_increasing_ints("learning_rate_boundaries",
                                                          self.learning_rate_boundaries),
        "learning_rate_values": _checked_rates(self.learning_rate_values),
        "ema_momentum": check_float("ema_momentum", self.ema_momentum, 0, 1,
                                    exclusive_maximum=True, allow_none=True),
        "clip_norm": check_float("clip_norm", self.clip_norm, allow_none=True, **positive),
        "checkpoint_every": check_int("checkpoint_every", self.checkpoint_every),
        "keep_checkpoints": check_int("keep_checkpoints", self.keep_checkpoints),
        "log_every": check_int("log_every", self.log_every),
        "eval_every": check_int("eval_every", self.eval_every, minimum=0),
        "sample_every": check_int("sample_every", self.sample_every, minimum=0),
        "seed": check_int("seed", self.seed, 0, MAX_SEED),
        "first_slice_given": check_bool("first_slice_given", self.first_slice_given),
        "jit_compile": check_bool("jit_compile", self.jit_compile),
        "max_train_seconds": check_float("max_train_seconds", self.max_train_seconds,
                                         allow_none=True, **positive),
    }
    boundaries = checked["learning_rate_boundaries"]
    if len(checked["learning_rate_values"]) != len(boundaries):
      raise ArgumentError("learning_rate_values", f"{len(boundaries)} rates (one per boundary "
                          f"of `learning_rate_boundaries`)", self.learning_rate_values)
    for name, value in checked.items():
      object.__setattr__(self, name, value)  # frozen: set once, here

  def learning_rate_schedule(self):
    """The learning rate of each step: `learning_rate`, or a Keras schedule that drops it to
    `learning_rate_values[i]` after step `learning_rate_boundaries[i]`.

    Returns:
      A float, or a `PiecewiseConstantDecay` called with the step.
    """
    if not self.learning_rate_boundaries:
      return self.learning_rate
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        list(self.learning_rate_boundaries),
        [self.learning_rate] + list(self.learning_rate_values))


def _checked_rates(values):
  """`learning_rate_values` as a tuple of floats, each finite and > 0."""
  if not isinstance(values, (tuple, list)):
    raise ArgumentError("learning_rate_values", "a tuple of finite numbers > 0", values)
  return tuple(check_float("learning_rate_values", value, 0, exclusive_minimum=True)
               for value in values)
