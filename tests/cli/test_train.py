import json
import os
import re
import signal
import subprocess
import sys
import time
import types

from absl import app
from absl import flags
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras import zoo
from spn_keras.cli import train
from spn_keras.pipelines import load_pipeline
from spn_keras.pipelines import serialization


@pytest.fixture(scope="module")
def tiny_config_folder(tmp_path_factory):
  """A pipeline folder whose stage configs (tiny, 28x28 gray, 3 + 5 bits) define the model.

  Its stages are `minimal` (the tools' flags and journeys are what these tests are about):
  their train steps trace in a third of the time.
  """
  pipeline = testing.tiny_mdu_pipeline(28, minimal=True)
  path = tmp_path_factory.mktemp("configs") / "tiny"
  pipeline.save(path, metadata={"name": "tiny", "dataset": "mnist5k", "batch_size": 8,
                                "learning_rate": 1e-3})
  return str(path)


def _train_command(config, model_dir, steps, stage="slice_decoder", pipeline_dir=None):
  command = [sys.executable, "-m", "spn_keras.cli.train", f"--config={config}",
             f"--stage={stage}", f"--model_dir={model_dir}", f"--train_steps={steps}",
             "--checkpoint_every=5", "--log_every=5", "--ema_momentum=0.9"]
  if pipeline_dir:
    command.append(f"--pipeline_dir={pipeline_dir}")
  return command


def _last_json(stdout):
  return json.loads(stdout.strip().splitlines()[-1])


def test_sigkill_mid_training_then_rerun_resumes_and_finishes(tiny_config_folder, tmp_path):
  model_dir = tmp_path / "run"
  checkpoints = model_dir / "slice_decoder" / "checkpoints"
  proc = subprocess.Popen(_train_command(tiny_config_folder, model_dir, 400),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while time.time() < deadline:
    latest = tf.train.latest_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    if latest and int(latest.rsplit("-", 1)[1]) >= 10:
      break
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  killed_at = int(tf.train.latest_checkpoint(str(checkpoints)).rsplit("-", 1)[1])
  assert 10 <= killed_at < 400
  out = subprocess.run(_train_command(tiny_config_folder, model_dir, killed_at + 10,
                                      pipeline_dir=tmp_path / "pipeline"),
                       capture_output=True, text=True, timeout=600, check=True)
  result = _last_json(out.stdout)
  assert result["resumed_from_step"] >= killed_at and result["step"] == killed_at + 10
  assert result["train_seconds"] > 0  # the steps of this run, timed
  # The trained stage landed in the pipeline folder, and loads (its digest checks out).
  pipeline, metadata = load_pipeline(tmp_path / "pipeline")
  assert list(pipeline.stages) == ["slice_decoder"]
  assert metadata["slice_decoder_train_steps"] == killed_at + 10


@pytest.mark.slow  # a subprocess that compiles with XLA, about 20 s (XLA steps: test_trainer)
def test_jit_compile_flag_trains_the_size_upscaler_on_slices_after_the_first(
    tiny_config_folder, tmp_path):
  command = _train_command(tiny_config_folder, tmp_path / "run", 2, stage="size_upscaler")
  out = subprocess.run(command + ["--jit_compile", "--eval_every=2"], capture_output=True,
                       text=True, timeout=600, check=True)
  result = _last_json(out.stdout)
  assert result["step"] == 2 and result["test_bits_per_dim"] > 0
  assert train.evaluation.scores_after_first_slice(load_pipeline(tiny_config_folder)[0],
                                                   "size_upscaler")


def _schedule_flags(**values):
  fields = dict(learning_rate=None, learning_rate_boundaries=None, learning_rate_values=None)
  fields.update(values)
  return types.SimpleNamespace(**fields)


def test_schedule_flags_replace_the_entry_schedule():
  entry = zoo.get("imagenet64")  # 1e-4, then 3e-5 at 50k and 1e-5 at 100k
  assert train.learning_rate_schedule(entry, _schedule_flags()) == dict(
      learning_rate=1e-4, learning_rate_boundaries=(50_000, 100_000),
      learning_rate_values=(3e-5, 1e-5))
  given = _schedule_flags(learning_rate=1e-3, learning_rate_boundaries=["4500", "6500"],
                          learning_rate_values=["3e-4", "1e-4"])
  assert train.learning_rate_schedule(entry, given) == dict(
      learning_rate=1e-3, learning_rate_boundaries=(4500, 6500),
      learning_rate_values=(3e-4, 1e-4))


@pytest.mark.parametrize("values, message", [
    (dict(learning_rate_boundaries=["10"]), "go together"),
    (dict(learning_rate_boundaries=["10", "20"], learning_rate_values=["1e-4"]),
     "same length"),
    (dict(learning_rate_boundaries=["ten"], learning_rate_values=["1e-4"]), "must be ints"),
])
def test_bad_schedule_flags_are_refused(values, message):
  with pytest.raises(app.UsageError, match=message):
    train.learning_rate_schedule(zoo.get("mnist28_mdu"), _schedule_flags(**values))


def test_bucket_model_dir_and_pipeline_dir(tiny_config_folder):
  """`--model_dir` and `--pipeline_dir` on `ram://` (TensorFlow's in-memory filesystem, the
  `tf.io.gfile` path of `gs://`), in this process: train, commit the stage, resume."""
  root = "ram://spn_train_test"
  if tf.io.gfile.exists(root):
    tf.io.gfile.rmtree(root)
  arguments = ["spn_train", f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={root}/runs", f"--pipeline_dir={root}/pipeline",
               "--checkpoint_every=2", "--log_every=2", "--ema_momentum=0.9", "--batch_size=4"]
  results = []
  for steps in (2, 3):
    flags.FLAGS(arguments + [f"--train_steps={steps}"])
    try:
      results.append(train.train(flags.FLAGS))
    finally:
      flags.FLAGS.unparse_flags()
  assert [r["step"] for r in results] == [2, 3] and results[1]["resumed_from_step"] == 2
  assert tf.io.gfile.glob(f"{root}/runs/slice_decoder/checkpoints/ckpt-*")
  pipeline = zoo.load(f"{root}/pipeline")
  assert list(pipeline.stages) == ["slice_decoder"]
  assert pipeline.metadata["slice_decoder_train_steps"] == 3


def _run_train(arguments, run=train.train):
  """`run` (`train.train` or `train.main`) on the parsed spn_train `arguments`."""
  flags.FLAGS(["spn_train"] + arguments)
  try:
    return run(flags.FLAGS) if run is train.train else run(["spn_train"])
  finally:
    flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("bad_flags, message", [
    (["--batch_size=0"], "--batch_size must be a positive int, got 0."),
    (["--learning_rate=nan"], "--learning_rate must be a finite number > 0, got nan."),
    (["--learning_rate=-0.001"], "--learning_rate must be a finite number > 0, got -0.001."),
    (["--learning_rate=0"], "--learning_rate must be a finite number > 0, got 0.0."),
    (["--learning_rate_boundaries=10,5", "--learning_rate_values=1e-4,1e-5"],
     r"--learning_rate_boundaries must be a tuple of strictly increasing ints >= 1, got "
     r"\(10, 5\)."),
    (["--learning_rate_boundaries=10", "--learning_rate_values=inf"],
     "--learning_rate_values must be a finite number > 0, got inf."),
    (["--clip_norm=-1"], "--clip_norm must be a finite number > 0, got -1.0."),
    (["--ema_momentum=1"], r"--ema_momentum must be a finite number in \[0, 1\), got 1.0."),
    (["--ema_momentum=-0.5"], r"--ema_momentum must be a finite number in \[0, 1\), got -0.5."),
    (["--train_steps=0"], "--train_steps must be a positive int, got 0."),
    (["--checkpoint_every=0"], "--checkpoint_every must be a positive int, got 0."),
    (["--log_every=-1"], "--log_every must be a positive int, got -1."),
    (["--eval_every=-1"], "--eval_every must be an int >= 0, got -1."),
    (["--sample_every=-1"], "--sample_every must be an int >= 0, got -1."),
    (["--seed=-1"], r"--seed must be an int in \[0, 4294967295\], got -1."),
    (["--max_train_seconds=0"], "--max_train_seconds must be a finite number > 0, got 0.0."),
])
def test_bad_training_flags_are_refused_before_any_work(tiny_config_folder, tmp_path, bad_flags,
                                                       message, monkeypatch):
  """Refused before a model is built (a paper-sized pipeline takes minutes to build) or a file
  is written."""
  def no_building(entry):
    raise AssertionError("the pipeline was built before the flags were checked")

  monkeypatch.setattr(zoo.ZooEntry, "build_pipeline", no_building)
  arguments = [f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={tmp_path}/runs", f"--pipeline_dir={tmp_path}/pipeline"]
  with pytest.raises(app.UsageError, match=f"^{message}$"):
    _run_train(arguments + bad_flags)
  assert not os.listdir(tmp_path)


def test_a_diverged_run_is_one_line_and_writes_nothing(tiny_config_folder, tmp_path, capsys):
  """Weights past the float32 range after the first step: no checkpoint, no pipeline stage."""
  arguments = [f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={tmp_path}/runs", f"--pipeline_dir={tmp_path}/pipeline",
               "--train_steps=1", "--batch_size=4", "--learning_rate=3e38"]
  with pytest.raises(SystemExit) as exit_info:
    _run_train(arguments, run=train.main)
  assert exit_info.value.code == 2
  out, err = capsys.readouterr()
  assert not out and err.count("\n") == 1
  assert re.search(r"error: The weights \(or the optimizer's state\) are not finite after step "
                   r"1; stopped. Nothing was saved", err), err
  assert not (tmp_path / "pipeline").exists()
  assert not tf.train.latest_checkpoint(str(tmp_path / "runs" / "slice_decoder" / "checkpoints"))


def test_a_stage_scoring_non_finite_test_bits_is_not_written(tiny_config_folder, tmp_path,
                                                             monkeypatch, capsys):
  monkeypatch.setattr(train.evaluation, "stage_evaluator",
                      lambda *args: lambda model: {"bits_per_dim": float("nan")})
  arguments = [f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={tmp_path}/runs", f"--pipeline_dir={tmp_path}/pipeline",
               "--train_steps=1", "--batch_size=4"]
  with pytest.raises(SystemExit) as exit_info:
    _run_train(arguments, run=train.main)
  assert exit_info.value.code == 2
  assert re.search("error: The trained slice_decoder scores nan test bits/dim at step 1; nothing "
                   "was written into the pipeline folder", capsys.readouterr().err)
  assert not (tmp_path / "pipeline").exists()


def test_a_pipeline_dir_that_may_not_be_written_is_refused_before_training(tmp_path):
  folder = tmp_path / "my_project"
  folder.mkdir()
  (folder / "notes.txt").write_text("mine")
  with pytest.raises(app.UsageError, match="--pipeline_dir: .* is not a pipeline folder"):
    _run_train(["--zoo=mnist28_mdu", "--stage=slice_decoder",
                f"--model_dir={tmp_path / 'model'}", f"--pipeline_dir={folder}"])
  assert sorted(path.name for path in tmp_path.iterdir()) == ["my_project"]


def test_progress_lines_go_to_stderr_and_verbosity_minus_one_silences_them(
    tiny_config_folder, tmp_path, monkeypatch, capsys):
  monkeypatch.setattr(train.evaluation, "stage_evaluator",  # the test split's score: not timed here
                      lambda *args: lambda model: {"bits_per_dim": 1.25})
  arguments = [f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={tmp_path}/runs", "--batch_size=4", "--log_every=2",
               "--train_steps=6"]
  _run_train(arguments, run=train.main)
  out, err = capsys.readouterr()
  assert json.loads(out)["step"] == 6  # stdout: the summary JSON alone
  rate = r"  train \d+\.\d{3} bits/dim  \d+\.\d examples/s  ETA 0:\d\d"
  for step in (2, 4, 6):
    assert re.search(rf"^step {step}/6{rate}$", err, re.MULTILINE), err
  assert re.search(r"^step 6 eval 1\.250 bits/dim$", err, re.MULTILINE), err
  # A rerun resumes, with nothing left to train: its line ("resumed from step 6: ...", see
  # tests/training/test_trainer.py) is silenced.
  _run_train(arguments + ["--verbosity=-1"], run=train.main)
  out, err = capsys.readouterr()
  assert json.loads(out)["resumed_from_step"] == 6 and "resumed from step" not in err, err


@pytest.mark.parametrize("named", ["zoo_name", "folder"])
def test_pipeline_flag_names_the_architecture_by_zoo_name_or_folder(named, tiny_config_folder,
                                                                     tmp_path, monkeypatch,
                                                                     capsys):
  """`--pipeline=mnist28_mdu` trains the zoo entry's stage; `--pipeline=FOLDER` the folder's
  stage config, as `--config=FOLDER` does."""
  monkeypatch.setattr(train.evaluation, "stage_evaluator",  # the test split's score: not run here
                      lambda *args: lambda model: {"bits_per_dim": 1.25})
  model = "mnist28_mdu" if named == "zoo_name" else tiny_config_folder
  _run_train([f"--pipeline={model}", "--stage=slice_decoder", f"--model_dir={tmp_path}/runs",
              f"--pipeline_dir={tmp_path}/pipeline", "--train_steps=1", "--batch_size=2",
              "--verbosity=-1"], run=train.main)
  assert json.loads(capsys.readouterr().out)["step"] == 1
  pipeline, metadata = load_pipeline(tmp_path / "pipeline")
  expected = (zoo.get("mnist28_mdu").stages["slice_decoder"] if named == "zoo_name"
              else load_pipeline(tiny_config_folder)[0].slice_decoder.config)
  assert pipeline.slice_decoder.config == expected
  assert metadata["name"] == ("mnist28_mdu" if named == "zoo_name" else "tiny")


def test_an_unknown_model_name_is_refused_before_any_work(tmp_path):
  with pytest.raises(ValueError, match="^'no_such' is neither a pipeline folder nor a "
                                       "registered zoo name"):
    _run_train(["--pipeline=no_such", "--stage=slice_decoder", f"--model_dir={tmp_path}/runs"])
  assert not os.listdir(tmp_path)


def _weights_when_training_starts(monkeypatch):
  """Records the stage's weights each time a `Trainer` has restored (or not) a checkpoint."""
  recorded = []
  restore = train.Trainer.restore

  def recording_restore(trainer):
    step = restore(trainer)
    recorded.append(trainer.model.get_weights())
    return step

  monkeypatch.setattr(train.Trainer, "restore", recording_restore)
  return recorded


def test_init_from_starts_from_a_folders_stage_and_a_checkpoint_wins(tiny_config_folder,
                                                                      tmp_path, monkeypatch,
                                                                      capsys):
  """The stage starts from `--init_from`'s weights (shifted here, so that they differ from any
  seeded initialisation); a rerun in the same --model_dir resumes from its checkpoint."""
  monkeypatch.setattr(train.evaluation, "stage_evaluator",  # the test split's score: not run here
                      lambda *args: lambda model: {"bits_per_dim": 1.25})
  source, metadata = load_pipeline(tiny_config_folder)
  decoder = source.slice_decoder
  decoder.set_weights([weight + 0.5 for weight in decoder.get_weights()])
  source.save(tmp_path / "source", metadata=metadata)
  recorded = _weights_when_training_starts(monkeypatch)
  arguments = [f"--config={tiny_config_folder}", "--stage=slice_decoder",
               f"--model_dir={tmp_path}/runs", f"--pipeline_dir={tmp_path}/pipeline",
               f"--init_from={tmp_path / 'source'}", "--train_steps=1", "--batch_size=2",
               "--verbosity=-1"]
  _run_train(arguments, run=train.main)
  assert json.loads(capsys.readouterr().out)["init_from"] == str(tmp_path / "source")
  for started, shifted in zip(recorded[0], decoder.get_weights(), strict=True):
    assert (started == shifted).all()
  trained = load_pipeline(tmp_path / "pipeline")[1]
  assert trained["slice_decoder_init_from"] == str(tmp_path / "source")

  checkpointed = [weight.copy() for weight in recorded[0]]
  _run_train(arguments[:-3] + ["--train_steps=2", "--batch_size=2", "--verbosity=-1"],
             run=train.main)  # resumes at step 1 from the checkpoint, not from the source
  assert json.loads(capsys.readouterr().out)["resumed_from_step"] == 1
  assert any((started != first).any() for started, first in zip(recorded[1], checkpointed))


@pytest.mark.parametrize("init_from, message", [
    ("mnist28_mdu", r"--init_from: the slice_decoder of mnist28_mdu has another config than the "
                    r"one trained \(differing fields: .*\)\."),
    ("no_such", "--init_from: 'no_such' is neither a pipeline folder nor a registered zoo name"),
    ("size_upscaler_only", "--init_from: .*size_upscaler_only holds no trained slice_decoder."),
])
def test_a_bad_init_from_is_refused_before_any_work(init_from, message, tiny_config_folder,
                                                    tmp_path, monkeypatch):
  if init_from == "size_upscaler_only":
    init_from = str(tmp_path / "sources" / init_from)
    serialization.save_pipeline_stage(init_from, "size_upscaler",
                                      load_pipeline(tiny_config_folder)[0].size_upscaler)
  monkeypatch.setattr(zoo.ZooEntry, "build_pipeline", lambda entry: pytest.fail("built"))
  with pytest.raises(app.UsageError, match=f"^{message}"):
    _run_train([f"--config={tiny_config_folder}", "--stage=slice_decoder",
                f"--model_dir={tmp_path}/runs", f"--pipeline_dir={tmp_path}/pipeline",
                f"--init_from={init_from}"])
  assert sorted(os.listdir(tmp_path)) in ([], ["sources"])
