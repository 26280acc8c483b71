import json
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

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
  # The trained stage landed in the pipeline folder, and loads (its digest checks out).
  pipeline, metadata = load_pipeline(tmp_path / "pipeline")
  assert list(pipeline.stages) == ["slice_decoder"]
  assert metadata["slice_decoder_train_steps"] == killed_at + 10
