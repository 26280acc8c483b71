import json
import signal
import subprocess
import sys
import time
import types

from absl import app
from absl import flags
import pytest
import tensorflow as tf

from spn_keras import zoo
from spn_keras.cli import train
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import load_pipeline


@pytest.fixture(scope="module")
def tiny_config_folder(tmp_path_factory):
  """A pipeline folder whose stage configs (tiny, 28x28 gray, 3 + 5 bits) define the model."""
  pipeline = Pipeline(
      slice_decoder=SliceDecoder(SliceDecoderConfig.tiny(image_size=14, bits=3)),
      size_upscaler=SubscalePixelNetwork(SPNConfig.tiny(image_size=28, bits=3)),
      depth_upscaler=SubscalePixelNetwork(SPNConfig.tiny(image_size=28, bits=5,
                                                         conditioning_bits=3)))
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
  assert train.common.scores_after_first_slice(load_pipeline(tiny_config_folder)[0],
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
