import functools
import itertools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import data
from spn_keras import testing
from spn_keras.argument_checks import ArgumentError
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.training import Trainer
from spn_keras.training import TrainerConfig
from spn_keras.training import get_strategy
from spn_keras.training import trainer as trainer_module
from spn_keras.training.progress_log import ProgressLog

HERE = os.path.dirname(os.path.abspath(__file__))


def _run_distributed(args, env=None):
  out = subprocess.run([sys.executable, os.path.join(HERE, "distributed_run.py")] + args,
                       capture_output=True, text=True, timeout=600, env=env, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a subprocess with two logical CPUs, about 45 s; the default suite runs
# `fit` under MirroredStrategy (tests/models/test_autoregressive_image_model.py)
def test_mirrored_on_two_devices_matches_one_device(tmp_path):
  single = _run_distributed(["--strategy=one_device", f"--model_dir={tmp_path}/one"])
  mirrored = _run_distributed(["--strategy=mirrored", "--cpus=2", f"--model_dir={tmp_path}/m"])
  assert single["replicas"] == 1 and mirrored["replicas"] == 2
  np.testing.assert_allclose([b for _, b in mirrored["history"]],
                             [b for _, b in single["history"]], rtol=1e-4)
  # Under XLA too: each replica's forward and backward pass is one compiled program.
  compiled = _run_distributed(["--strategy=mirrored", "--cpus=2", "--jit_compile",
                               f"--model_dir={tmp_path}/mx"])
  assert compiled["replicas"] == 2
  np.testing.assert_allclose([b for _, b in compiled["history"]],
                             [b for _, b in single["history"]], rtol=1e-4)


@pytest.mark.slow  # 34 s: two worker processes; the default suite runs Mirrored on 2 CPUs
def test_multi_worker_mirrored_two_processes(tmp_path):
  import socket
  ports = []
  for _ in range(2):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      ports.append(s.getsockname()[1])
  workers = [f"127.0.0.1:{p}" for p in ports]
  procs = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
    procs.append(subprocess.Popen(
        [sys.executable, os.path.join(HERE, "distributed_run.py"),
         "--strategy=multi_worker_mirrored", f"--model_dir={tmp_path}/mw", "--steps=3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
  results = []
  for proc in procs:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    results.append(json.loads(out.strip().splitlines()[-1]))
  assert [r["replicas"] for r in results] == [2, 2]
  assert len(results[0]["history"]) == 3 and results[0]["history"] == results[1]["history"]
  # Only the chief wrote to the shared model_dir; the other worker to a folder of its own.
  assert tf.train.latest_checkpoint(f"{tmp_path}/mw/checkpoints").endswith("ckpt-3")
  assert os.path.isdir(f"{tmp_path}/mw/workers/worker_1")


def _tiny_trainer(model_dir, steps, **config):
  """A trainer of a 28x28 SPN on mnist5k; `config`: other `TrainerConfig` fields.

  The SPN is `testing.MINIMAL_SPN` (no attention, one gated layer): these tests are about
  the training loop, and the train step traces in a third of the time.
  """
  model_config = SPNConfig.tiny(image_size=28, scale=2, bits=3, **testing.MINIMAL_SPN)

  def dataset_fn(context):
    return data.make_dataset(
        "mnist5k", "train", batch_size=context.get_per_replica_batch_size(8), repeat=True,
        input_context=context, transform=lambda x: {"images": data.reduce_depth(3)(x)},
        autotune=False)

  return Trainer(lambda: SubscalePixelNetwork(model_config), dataset_fn,
                 TrainerConfig(model_dir=str(model_dir), train_steps=steps, global_batch_size=8,
                               learning_rate=1e-3, **config),
                 get_strategy("one_device"),
                 eval_fn=lambda model: {"bits_per_dim": 1.5},
                 sample_fn=lambda model: model.sample(4, seed=0) * 32)


def _tags(folder):
  tags = {}
  for name in os.listdir(folder):
    for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
      for value in event.summary.value:
        tags[value.tag] = value
  return tags


def test_tensorboard_has_scalars_and_samples(tmp_path):
  trainer = _tiny_trainer(tmp_path, 4, log_every=2, eval_every=4, sample_every=4,
                          ema_momentum=0.9)
  trainer.train()
  train_tags = _tags(tmp_path / "train")
  assert {"bits_per_dim", "learning_rate", "examples_per_s", "samples"} <= set(train_tags)
  image = tf.image.decode_png(
      tf.make_ndarray(train_tags["samples"].tensor)[2])  # [width, height, png]
  assert image.shape == (56, 56, 1)  # 4 samples of 28x28 in a 2x2 grid
  assert "bits_per_dim" in _tags(tmp_path / "eval")


def test_resume_continues_at_the_saved_step(tmp_path):
  first = _tiny_trainer(tmp_path, 4, checkpoint_every=2)
  first.train()
  second = _tiny_trainer(tmp_path, 6, checkpoint_every=2)
  second.train()
  assert second.start_step == 4 and [s for s, _ in second.history] == [5, 6]
  # Resuming replays the same data and targets as an uninterrupted run.
  straight = _tiny_trainer(tmp_path / "straight", 6, checkpoint_every=2)
  straight.train()
  np.testing.assert_allclose([b for _, b in straight.history[4:]],
                             [b for _, b in second.history], rtol=1e-4)


def test_resume_with_a_new_learning_rate_schedule(tmp_path):
  _tiny_trainer(tmp_path, 4, checkpoint_every=2).train()  # constant 1e-3
  decayed = _tiny_trainer(tmp_path, 7, checkpoint_every=2, learning_rate_boundaries=(5, 6),
                          learning_rate_values=(3e-4, 1e-4), log_every=1)
  decayed.train()  # the checkpoint of the constant-rate run restores into the scheduled one
  assert decayed.start_step == 4
  rates = [float(tf.make_ndarray(event.summary.value[0].tensor))
           for name in os.listdir(tmp_path / "train")
           for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "train" / name))
           if event.step >= 5 and event.summary.value
           and event.summary.value[0].tag == "learning_rate"]
  np.testing.assert_allclose(sorted(rates), [1e-4, 3e-4, 1e-3], rtol=1e-6)  # steps 7, 6, 5


@pytest.mark.slow  # 7 s; the default suite resumes into a new schedule (the test above)
def test_resume_with_a_new_constant_learning_rate(tmp_path):
  _stage_trainer(tmp_path, "slice_decoder", 1, False, steps=2).train()  # 1e-3
  resumed = _stage_trainer(tmp_path, "slice_decoder", 1, False, steps=3, learning_rate=5e-4)
  resumed.train()  # the checkpoint's rate (restored with the optimizer) gives way to the new
  assert resumed.start_step == 2
  assert float(resumed.optimizer.learning_rate.numpy()) == pytest.approx(5e-4)


def test_time_budget_ends_the_call_like_a_last_step(tmp_path):
  budgeted = _tiny_trainer(tmp_path, 50, checkpoint_every=20, max_train_seconds=1e-9)
  budgeted.train()  # the first step exhausts the budget: it is checkpointed like a last step
  assert [s for s, _ in budgeted.history] == [1]
  assert budgeted.train_seconds > 0  # the measured time of that one step
  assert tf.train.latest_checkpoint(tmp_path / "checkpoints").endswith("ckpt-1")
  resumed = _tiny_trainer(tmp_path, 3, checkpoint_every=20)
  resumed.train()
  assert resumed.start_step == 1 and [s for s, _ in resumed.history] == [2, 3]
  assert resumed.train_seconds > 0
  resumed.train()  # nothing left to train
  assert resumed.train_seconds == 0.0


def test_nan_loss_stops_with_the_last_checkpoint_intact(tmp_path):
  _tiny_trainer(tmp_path, 6, checkpoint_every=2).train()  # 6 good steps
  resumed = _tiny_trainer(tmp_path, 10, checkpoint_every=2)
  original = resumed.model.training_loss
  calls = []

  def poisoned(*args, **kwargs):
    calls.append(1)
    return original(*args, **kwargs) * float("nan")

  resumed.model.training_loss = poisoned
  with pytest.raises(FloatingPointError, match="ckpt-6.*intact"):
    resumed.train()
  assert calls and tf.train.latest_checkpoint(tmp_path / "checkpoints").endswith("ckpt-6")


def test_averaged_weights_are_swapped_in_and_out(tmp_path):
  trainer = _tiny_trainer(tmp_path, 3, ema_momentum=0.5)
  trainer.train()
  variable = trainer.model.trainable_variables[0]
  before = variable.numpy().copy()
  with trainer.averaged_weights():
    averaged = variable.numpy().copy()
  assert not np.allclose(averaged, before)
  np.testing.assert_array_equal(variable.numpy(), before)


def test_averaging_momentum_warms_up(tmp_path):
  # With a constant momentum of 0.999 the average would stay at the first iterate (99.8% of
  # its weight after 3 steps); warmed up, step t moves it with (1 + t) / (10 + t).
  raw, averaged = [], []
  for steps in (1, 2, 3):  # one step per call, resuming from the checkpoint of the last
    trainer = _tiny_trainer(tmp_path, steps, checkpoint_every=1, ema_momentum=0.999)
    trainer.train()
    variable = trainer.model.trainable_variables[0]
    raw.append(variable.numpy().copy())
    with trainer.averaged_weights():
      averaged.append(variable.numpy().copy())
  np.testing.assert_allclose(averaged[0], raw[0], rtol=1e-6)  # the average starts at w_1
  for t in (2, 3):
    momentum = (1.0 + t) / (10.0 + t)
    np.testing.assert_allclose(averaged[t - 1],
                               momentum * averaged[t - 2] + (1 - momentum) * raw[t - 1],
                               rtol=1e-5, atol=1e-7)
  assert not np.allclose(averaged[2], raw[0], rtol=1e-3)
  assert trainer.optimizer.ema_momentum == 0.999


@pytest.mark.parametrize("fields, message", [
    (dict(model_dir=""), "`model_dir` must be a folder path, got ''."),
    (dict(model_dir=None), "`model_dir` must be a folder path, got None."),
    (dict(train_steps=0), "`train_steps` must be a positive int, got 0."),
    (dict(global_batch_size=0), "`global_batch_size` must be a positive int, got 0."),
    (dict(global_batch_size=8.0), "`global_batch_size` must be a positive int, got 8.0."),
    (dict(learning_rate=float("nan")), "`learning_rate` must be a finite number > 0, got nan."),
    (dict(learning_rate=0.0), "`learning_rate` must be a finite number > 0, got 0.0."),
    (dict(learning_rate=-1e-3), "`learning_rate` must be a finite number > 0, got -0.001."),
    (dict(learning_rate="1e-3"), "`learning_rate` must be a finite number > 0, got '1e-3'."),
    (dict(learning_rate_boundaries=(10, 5), learning_rate_values=(1e-4, 1e-5)),
     r"`learning_rate_boundaries` must be a tuple of strictly increasing ints >= 1, got "
     r"\(10, 5\)."),
    (dict(learning_rate_boundaries=(5, 5), learning_rate_values=(1e-4, 1e-5)),
     "`learning_rate_boundaries` must be a tuple of strictly increasing ints"),
    (dict(learning_rate_boundaries=(0,), learning_rate_values=(1e-4,)),
     r"`learning_rate_boundaries` must be a tuple of strictly increasing ints >= 1, got \(0,\)"),
    (dict(learning_rate_boundaries=(10,), learning_rate_values=(float("inf"),)),
     "`learning_rate_values` must be a finite number > 0, got inf."),
    (dict(learning_rate_boundaries=(10,), learning_rate_values=1e-4),
     "`learning_rate_values` must be a tuple of finite numbers > 0, got 0.0001."),
    (dict(learning_rate_boundaries=(10, 20), learning_rate_values=(1e-4,)),
     r"`learning_rate_values` must be 2 rates \(one per boundary of "
     r"`learning_rate_boundaries`\), got \(0.0001,\)."),
    (dict(ema_momentum=1.0),
     r"`ema_momentum` must be a finite number in \[0, 1\) or None, got 1.0."),
    (dict(ema_momentum=-0.1), r"`ema_momentum` must be a finite number in \[0, 1\) or None"),
    (dict(precision="float64"), r"`precision` must be one of \('float32', 'mixed_bfloat16', "
                                r"'mixed_float16'\), got 'float64'."),
    (dict(clip_norm=-1.0), "`clip_norm` must be a finite number > 0 or None, got -1.0."),
    (dict(clip_norm=0.0), "`clip_norm` must be a finite number > 0 or None, got 0.0."),
    (dict(clip_norm=float("inf")), "`clip_norm` must be a finite number > 0 or None, got inf."),
    (dict(checkpoint_every=0), "`checkpoint_every` must be a positive int, got 0."),
    (dict(keep_checkpoints=0), "`keep_checkpoints` must be a positive int, got 0."),
    (dict(log_every=0), "`log_every` must be a positive int, got 0."),
    (dict(eval_every=-1), "`eval_every` must be an int >= 0, got -1."),
    (dict(sample_every=-1), "`sample_every` must be an int >= 0, got -1."),
    (dict(seed=-1), r"`seed` must be an int in \[0, 4294967295\], got -1."),
    (dict(seed=2**32), r"`seed` must be an int in \[0, 4294967295\], got 4294967296."),
    (dict(first_slice_given="yes"), "`first_slice_given` must be True or False, got 'yes'."),
    (dict(jit_compile=1), "`jit_compile` must be True or False, got 1."),
    (dict(max_train_seconds=0), "`max_train_seconds` must be a finite number > 0 or None, "
                                "got 0."),
    (dict(max_train_seconds=float("nan")), "`max_train_seconds` must be a finite number > 0"),
])
def test_bad_config_names_the_field_and_the_accepted_range(fields, message):
  with pytest.raises(ArgumentError, match=message):
    TrainerConfig(**{"model_dir": "x", "train_steps": 1, **fields})


def test_config_holds_the_checked_values_as_python_types(tmp_path):
  config = TrainerConfig(model_dir=tmp_path, train_steps=np.int64(3), global_batch_size=4,
                         learning_rate=np.float32(0.5), learning_rate_boundaries=[2],
                         learning_rate_values=[np.float64(1e-5)], ema_momentum=0,
                         clip_norm=1, seed=2**32 - 1, max_train_seconds=10)
  assert config.model_dir == tmp_path
  assert (config.train_steps, config.learning_rate, config.learning_rate_boundaries,
          config.learning_rate_values, config.ema_momentum, config.clip_norm,
          config.max_train_seconds) == (3, 0.5, (2,), (1e-5,), 0.0, 1.0, 10.0)
  assert type(config.train_steps) is int and type(config.learning_rate) is float
  assert TrainerConfig(model_dir="x", train_steps=1, ema_momentum=None).ema_momentum is None


def test_unknown_strategy():
  with pytest.raises(ValueError, match="`strategy` must be one of"):
    get_strategy("parameter_server")


# mixed_float16 is a slow test; the default suite keeps mixed_bfloat16, the zoo's precision.
@pytest.mark.parametrize("precision", ["mixed_bfloat16",
                                       pytest.param("mixed_float16", marks=pytest.mark.slow)])
def test_mixed_precision_training_leaves_the_dtype_policy_as_it_was(tmp_path, precision):
  assert keras.config.dtype_policy().name == "float32"
  trainer = _tiny_trainer(tmp_path, 2, precision=precision)
  assert keras.config.dtype_policy().name == "float32"  # the process-wide policy
  assert trainer.model.dtype_policy.name == precision  # the model's own
  assert np.isfinite(trainer.train())
  assert all(v.dtype == "float32" for v in trainer.model.weights)
  assert keras.config.dtype_policy().name == "float32"


def test_the_same_seed_gives_the_same_run(tmp_path):
  runs = [_tiny_trainer(tmp_path / name, 3, seed=seed) for name, seed in
          (("a", 7), ("b", 7), ("c", 8))]
  for trainer in runs:
    trainer.train()
  first, again, other = ([bits for _, bits in trainer.history] for trainer in runs)
  assert first == again  # initial weights, data order and target slices all seeded
  assert not np.allclose(runs[0].model.trainable_variables[0].numpy(),
                         runs[2].model.trainable_variables[0].numpy())
  assert first != other


# The False case (slice 0 is drawn, and the check sees it) is a slow test; the default suite
# keeps the True case, the behaviour size upscalers train with.
@pytest.mark.parametrize("first_slice_given", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_first_slice_given_trains_on_slices_after_the_first(tmp_path, first_slice_given):
  trainer = _tiny_trainer(tmp_path, 5, first_slice_given=first_slice_given)
  original = trainer.model.training_loss

  def checked(*args, **kwargs):
    assert kwargs["first_slice_given"] == first_slice_given
    with tf.control_dependencies([tf.debugging.assert_greater_equal(
        kwargs["target_slice"], 1, message="slice 0 drawn")]):
      return original(*args, **kwargs)

  trainer.model.training_loss = checked
  if first_slice_given:
    trainer.train()  # 40 draws, none of slice 0
  else:  # all four slices: slice 0 among 40 draws (all but certain), and the check sees it
    with pytest.raises(tf.errors.InvalidArgumentError, match="slice 0 drawn"):
      trainer.train()


def _stage_trainer(model_dir, stage, channels, jit_compile, steps=3, batch=None, minimal=True,
                   **config):
  """A tiny stage of a 4x4 MDU pipeline, plain or XLA-compiled, on random images (or on
  `batch`, a dict of the stage's view, repeated); `config`: other `TrainerConfig` fields.

  `minimal` stages (no attention) where the checks of the loop are what a test is about; the
  full tiny stages where the layers' arithmetic is (XLA against plain steps).
  """
  pipeline = testing.tiny_mdu_pipeline(4, channels=channels, minimal=minimal)
  images = np.random.default_rng(0).integers(0, 256, (16, 4, 4, channels), np.uint8)
  view = pipeline.stage_view(stage)

  def dataset_fn(context):
    if batch is not None:
      return tf.data.Dataset.from_tensors(batch).repeat()
    return tf.data.Dataset.from_tensor_slices(images).map(view).repeat().batch(
        context.get_per_replica_batch_size(4))

  stage_model = pipeline.stages[stage]
  config = dict(dict(learning_rate=1e-3, ema_momentum=0.9), **config)
  return Trainer(lambda: type(stage_model)(stage_model.config), dataset_fn,
                 TrainerConfig(model_dir=str(model_dir), train_steps=steps, global_batch_size=4,
                               jit_compile=jit_compile,
                               first_slice_given=stage == "size_upscaler", **config),
                 get_strategy("one_device"), dims_per_example=pipeline.num_dims)


def _files(folder):
  """`{path relative to folder: bytes}` of every file under `folder`."""
  return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*")
          if path.is_file()}


# The tests below run plain and XLA-compiled steps; the compiled step also runs the weights'
# check and the range check of its inputs (outside the XLA program, where an assert would
# compile to nothing). The default suite runs each check once under XLA and once without;
# the other combinations are slow tests.
@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_weights_that_become_non_finite_stop_the_run_and_nothing_is_saved(tmp_path,
                                                                          jit_compile):
  # RMSprop moves weights by a few times the learning rate: past the float32 maximum (3.4e38),
  # while the step's own loss (before the update) is finite.
  exploding = _stage_trainer(tmp_path, "slice_decoder", 1, jit_compile, steps=1,
                             learning_rate=3e38)
  with pytest.raises(FloatingPointError, match="The weights .* are not finite after step 1; "
                                               "stopped. Nothing was saved"):
    exploding.train()
  assert not tf.train.latest_checkpoint(tmp_path / "checkpoints")


def test_a_resumed_run_that_diverges_leaves_the_checkpoints_as_they_were(tmp_path):
  _stage_trainer(tmp_path, "slice_decoder", 1, False, steps=2).train()
  saved = _files(tmp_path / "checkpoints")
  resumed = _stage_trainer(tmp_path, "slice_decoder", 1, False, steps=4, checkpoint_every=1,
                           learning_rate=3e38)
  with pytest.raises(FloatingPointError, match=r"not finite after step 3; stopped. The latest "
                                               r"checkpoint \(.*ckpt-2\) is intact"):
    resumed.train()
  assert _files(tmp_path / "checkpoints") == saved


_OUT_OF_RANGE = {
    "slice_decoder": ({"images": np.full((4, 2, 2, 1), 8, np.uint8)},  # 3 bits
                      r"`images` values must be in \[0, 8\) \(3 bits\)\."),
    "depth_upscaler": ({"images": np.zeros((4, 4, 4, 1), np.uint8),  # 5 bits given 3
                        "conditioning": np.full((4, 4, 4, 1), 9, np.uint8)},
                       r"`conditioning` values must be in \[0, 8\) \(3 bits\)\."),
}


@pytest.mark.parametrize("stage, batch, message, jit_compile", [
    pytest.param(stage, *_OUT_OF_RANGE[stage], jit_compile, id=f"{stage}-{jit_compile}",
                 marks=() if (stage, jit_compile) in (("slice_decoder", True),
                                                      ("depth_upscaler", False))
                 else pytest.mark.slow)
    for stage in _OUT_OF_RANGE for jit_compile in (False, True)])
def test_values_out_of_range_stop_a_training_step_with_a_readable_message(
    tmp_path, stage, batch, message, jit_compile):
  trainer = _stage_trainer(tmp_path, stage, 1, jit_compile, steps=1, batch=batch)
  weights = trainer.model.get_weights()
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    trainer.train()
  for before, after in zip(weights, trainer.model.get_weights()):
    np.testing.assert_array_equal(after, before)
  assert not tf.train.latest_checkpoint(tmp_path / "checkpoints")


# All six are slow tests (about 130 s together; the gray depth upscaler alone took 25-40 s of
# the default suite): the default suite runs XLA-compiled training steps in
# test_jit_compile_really_compiles_the_step and in the range and weight checks above.
@pytest.mark.slow
@pytest.mark.parametrize("stage, channels", [
    (stage, channels)
    for channels in (1, 3) for stage in ("slice_decoder", "size_upscaler", "depth_upscaler")])
def test_xla_compiled_steps_train_like_plain_steps(tmp_path, stage, channels):
  runs = {}
  for jit_compile in (False, True):
    trainer = _stage_trainer(tmp_path / str(jit_compile), stage, channels, jit_compile,
                             minimal=False)
    trainer.train()
    runs[jit_compile] = trainer
  np.testing.assert_allclose([b for _, b in runs[True].history],
                             [b for _, b in runs[False].history], rtol=1e-5)
  # XLA sums in other orders than the plain step's oneDNN kernels; RMSprop divides by small
  # second moments, so after 3 steps a weight may differ by up to 2.3e-5 (measured: the RGB
  # depth upscaler on an Intel CPU with AMX; 1e-5 held on AMD EPYC). A missing, doubled or
  # different update moves weights by about the learning rate (1e-3) per step: 50x more.
  for plain, compiled in zip(runs[False].model.trainable_variables,
                             runs[True].model.trainable_variables):
    np.testing.assert_allclose(compiled.numpy(), plain.numpy(), atol=5e-5)


def test_jit_compile_really_compiles_the_step(tmp_path):
  """An op that XLA cannot compile fails the compiled step, and only the compiled step."""
  for jit_compile in (False, True):
    trainer = _stage_trainer(tmp_path / str(jit_compile), "slice_decoder", 1, jit_compile,
                             steps=1)
    original = trainer.model.training_loss

    def with_a_string_op(*args, **kwargs):
      nats = original(*args, **kwargs)
      length = tf.strings.length(tf.strings.as_string(nats))  # no XLA kernel
      return nats + 0.0 * tf.cast(length, nats.dtype)

    trainer.model.training_loss = with_a_string_op
    if jit_compile:
      with pytest.raises(tf.errors.InvalidArgumentError, match="XLA|compile"):
        trainer.train()
    else:
      assert np.isfinite(trainer.train())


@pytest.mark.slow  # 15 s; the default suite trains, resumes and commits a stage on `ram://`
# through spn_train (tests/cli/test_train.py::test_bucket_model_dir_and_pipeline_dir)
def test_model_dir_on_a_bucket_path_trains_and_resumes():
  """Checkpoints and TensorBoard events under `ram://` (the `tf.io.gfile` path of `gs://`)."""
  model_dir = "ram://trainer_test/run"
  if tf.io.gfile.exists(model_dir):
    tf.io.gfile.rmtree(model_dir)
  _tiny_trainer(model_dir, 4, checkpoint_every=2, log_every=2).train()
  assert tf.io.gfile.glob(f"{model_dir}/checkpoints/ckpt-4*")
  events = tf.io.gfile.glob(f"{model_dir}/train/events.out.tfevents.*")
  tags = {value.tag for name in events for event in tf.compat.v1.train.summary_iterator(name)
          for value in event.summary.value}
  assert "bits_per_dim" in tags
  resumed = _tiny_trainer(model_dir, 6, checkpoint_every=2)
  resumed.train()
  assert resumed.start_step == 4 and [s for s, _ in resumed.history] == [5, 6]


class _FakeClock:
  """A clock that stays at `now` until a test moves it."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_progress_lines_every_log_every_steps_with_rate_and_eta():
  clock, lines = _FakeClock(), []
  log = ProgressLog(lines.append, total_steps=10000, batch_size=32, log_every=20, clock=clock)
  for step in range(1, 41):  # the first step (tracing) ends at 5 s, then 2 steps per second
    clock.now = 5 + (step - 1) * 0.5
    log.step_done(step, 1.0 + step / 1000)
  # 64 examples/s measured after the first step; the ETA of the steps left at that rate.
  assert lines == ["step 20/10000  train 1.020 bits/dim  64.0 examples/s  ETA 1:23:10",
                   "step 40/10000  train 1.040 bits/dim  64.0 examples/s  ETA 1:23:00"]


def test_progress_line_when_30_seconds_passed_since_the_last_one():
  clock, lines = _FakeClock(), []
  log = ProgressLog(lines.append, total_steps=5000, batch_size=8, log_every=1000, clock=clock)
  for step, seconds in [(1, 40), (2, 50), (3, 69.9), (4, 70), (5, 71)]:
    clock.now = seconds
    log.step_done(step, 3.0)
  clock.now = 80
  log.step_done(6, 2.5, final=True)  # the last step of a run: always a line
  assert lines == ["step 1/5000  train 3.000 bits/dim  first step 40.0 s",
                   "step 4/5000  train 3.000 bits/dim  0.8 examples/s  ETA 13:52:40",
                   "step 6/5000  train 2.500 bits/dim  1.0 examples/s  ETA 11:05:52"]


def test_progress_lines_of_evaluations_and_resumed_runs():
  clock, lines = _FakeClock(), []
  log = ProgressLog(lines.append, total_steps=2000, batch_size=8, log_every=1000, clock=clock)
  log.resumed(1500)
  clock.now = 31
  log.evaluated(1500, {"bits_per_dim": 1.1111, "nats": 2.0})
  clock.now = 60  # 29 s after the evaluation's line: no line yet
  log.step_done(1501, 1.2)
  ProgressLog(lines.append, total_steps=2000, batch_size=8, log_every=1).resumed(2000)
  assert lines == ["resumed from step 1500", "step 1500 eval 1.111 bits/dim  nats 2",
                   "resumed from step 2000: step 2000 reached, nothing to train"]
  quiet = ProgressLog(None, total_steps=2, batch_size=8, log_every=1)
  quiet.resumed(1)
  quiet.step_done(2, 1.0, final=True)  # writes nothing, and does not fail


def test_trainer_writes_progress_lines_to_its_progress_callable(tmp_path, monkeypatch):
  seconds = itertools.count(0, 12)  # each reading of the clock is 12 s after the previous one
  monkeypatch.setattr(trainer_module, "ProgressLog",
                      functools.partial(ProgressLog, clock=lambda: next(seconds)))
  lines = []
  trainer = _tiny_trainer(tmp_path, 4, log_every=100, eval_every=4)
  trainer.progress = lines.append
  trainer.train()
  bits = dict(trainer.history)
  # 0 s at the start, 12 s after step 1, ...: step 3 ends 36 s after the start, a line.
  assert lines == [f"step 3/4  train {bits[3]:.3f} bits/dim  0.7 examples/s  ETA 0:12",
                   f"step 4/4  train {bits[4]:.3f} bits/dim  0.7 examples/s  ETA 0:00",
                   "step 4 eval 1.500 bits/dim"]
  lines.clear()
  finished = _tiny_trainer(tmp_path, 4)
  finished.progress = lines.append
  assert finished.train() is None
  assert lines == ["resumed from step 4: step 4 reached, nothing to train"]
