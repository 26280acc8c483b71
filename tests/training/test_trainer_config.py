"""`TrainerConfig` on its own: defaults, schedule, round trips and what its errors carry (the
message of each bad field is checked in tests/training/test_trainer.py)."""

import dataclasses
import pathlib

import keras
import numpy as np
import pytest

from spn_keras.argument_checks import ArgumentError
from spn_keras.training.trainer_config import MAX_SEED
from spn_keras.training.trainer_config import PRECISIONS
from spn_keras.training.trainer_config import TrainerConfig


def test_defaults():
  config = TrainerConfig(model_dir="run", train_steps=10)
  assert {field.name: getattr(config, field.name) for field in dataclasses.fields(config)} == {
      "model_dir": "run", "train_steps": 10, "global_batch_size": 32, "learning_rate": 1e-4,
      "learning_rate_boundaries": (), "learning_rate_values": (), "ema_momentum": 0.9999,
      "precision": "float32", "clip_norm": None, "checkpoint_every": 100,
      "keep_checkpoints": 3, "log_every": 10, "eval_every": 0, "sample_every": 0, "seed": 0,
      "first_slice_given": False, "jit_compile": False, "max_train_seconds": None}
  assert PRECISIONS == ("float32", "mixed_bfloat16", "mixed_float16")
  assert MAX_SEED == 2**32 - 1


def test_model_dir_and_train_steps_have_no_default():
  with pytest.raises(TypeError, match="missing 2 required positional arguments: 'model_dir' "
                                      "and 'train_steps'"):
    TrainerConfig()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_and_the_edges_of_each_range_are_accepted(precision):
  config = TrainerConfig(model_dir=pathlib.Path("run"), train_steps=1, global_batch_size=1,
                         ema_momentum=0.0, precision=precision, clip_norm=1e-9, seed=MAX_SEED,
                         eval_every=0, sample_every=0, max_train_seconds=1e-9,
                         first_slice_given=np.bool_(True), jit_compile=np.bool_(False))
  assert config.model_dir == pathlib.Path("run") and config.precision == precision
  assert (config.ema_momentum, config.clip_norm, config.seed) == (0.0, 1e-9, MAX_SEED)
  assert type(config.first_slice_given) is bool and config.first_slice_given
  assert type(config.jit_compile) is bool and not config.jit_compile


def test_a_config_is_frozen_and_equal_to_its_round_trip():
  config = TrainerConfig(model_dir="run", train_steps=5, learning_rate_boundaries=[2, 4],
                         learning_rate_values=[5e-5, 1e-5], seed=np.int64(9))
  with pytest.raises(dataclasses.FrozenInstanceError):
    config.train_steps = 6
  assert TrainerConfig(**dataclasses.asdict(config)) == config
  assert config.learning_rate_boundaries == (2, 4)  # lists held as tuples
  assert config.learning_rate_values == (5e-5, 1e-5)
  assert hash(config) == hash(TrainerConfig(**dataclasses.asdict(config)))


def test_replace_checks_the_new_fields():
  config = TrainerConfig(model_dir="run", train_steps=5)
  assert dataclasses.replace(config, train_steps=np.int32(7)).train_steps == 7
  with pytest.raises(ArgumentError, match="`log_every` must be a positive int, got 0."):
    dataclasses.replace(config, log_every=0)


@pytest.mark.parametrize("fields, name, expected, value", [
    (dict(train_steps=True), "train_steps", "a positive int", True),
    (dict(seed=1.0), "seed", "an int in [0, 4294967295]", 1.0),
    (dict(learning_rate_boundaries=[1, 2.5], learning_rate_values=[1e-5, 1e-6]),
     "learning_rate_boundaries", "a tuple of strictly increasing ints >= 1", [1, 2.5]),
    (dict(learning_rate_boundaries=(), learning_rate_values=(1e-5,)), "learning_rate_values",
     "0 rates (one per boundary of `learning_rate_boundaries`)", (1e-5,)),
    (dict(learning_rate_boundaries=(3,), learning_rate_values=(0,)), "learning_rate_values",
     "a finite number > 0", 0),
    (dict(model_dir=3), "model_dir", "a folder path", 3),
    (dict(precision="bfloat16"), "precision", f"one of {PRECISIONS}", "bfloat16"),
])
def test_an_error_carries_the_field_what_it_must_be_and_the_value(fields, name, expected, value):
  """What a tool needs to name the flag that set the field (`spn_tune`, `spn_train`)."""
  with pytest.raises(ArgumentError) as raised:
    TrainerConfig(**{"model_dir": "run", "train_steps": 1, **fields})
  assert (raised.value.name, raised.value.expected, raised.value.value) == (name, expected,
                                                                           value)


def test_a_constant_learning_rate_is_the_float():
  assert TrainerConfig(model_dir="run", train_steps=1,
                       learning_rate=np.float32(0.5)).learning_rate_schedule() == 0.5


def test_the_learning_rate_drops_after_each_boundary():
  schedule = TrainerConfig(model_dir="run", train_steps=9, learning_rate=1e-3,
                           learning_rate_boundaries=(3, 6),
                           learning_rate_values=(3e-4, 1e-4)).learning_rate_schedule()
  assert isinstance(schedule, keras.optimizers.schedules.PiecewiseConstantDecay)
  rates = [float(schedule(step)) for step in range(1, 9)]
  np.testing.assert_allclose(rates, [1e-3] * 3 + [3e-4] * 3 + [1e-4] * 2, rtol=1e-6)
