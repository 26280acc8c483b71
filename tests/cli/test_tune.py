"""spn_tune: search space, a tiny 2-trial search through the flags, failures and errors."""

import json
import math
import os

from absl import app
from absl import flags
import pytest
import tensorflow as tf

from spn_keras import zoo
from spn_keras.argument_checks import ArgumentError
from spn_keras.cli import train  # noqa: F401  (both tools' flags must coexist in one process)
from spn_keras.cli import tune
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig

# keras-tuner 1.4.8 calls threading.currentThread().getName(), deprecated since Python 3.10.
pytestmark = [pytest.mark.filterwarnings("ignore:currentThread:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:getName:DeprecationWarning")]
FLAGS = flags.FLAGS
TINY_SEARCH = ["--zoo=mnist28_mdu", "--stage=slice_decoder", "--train_steps=3",
               "--eval_examples=32", "--batch_size=8", "--width_scales=0.25,0.5"]


def _main(argv):
  """Runs `spn_tune` in this process with `argv` flags; returns its exit status."""
  FLAGS(["spn_tune"] + argv)
  try:
    return tune.main(["spn_tune"])
  finally:
    FLAGS.unparse_flags()


def _tags(folder):
  """Scalar tags of every TensorBoard event file under `folder`."""
  tags = set()
  for root, _, files in os.walk(folder):
    for name in files:
      if name.startswith("events.out.tfevents"):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
          tags.update(value.tag for value in event.summary.value)
  return tags


def test_train_and_tune_share_their_common_flags():
  for name in ("zoo", "config", "stage", "model_dir", "train_steps", "precision", "seed",
               "pipeline_dir", "ema_momentum", "max_trials", "eval_examples"):
    assert name in FLAGS, name
  assert FLAGS["train_steps"].default == 1000


def test_search_space_scales_widths_of_the_entry():
  decoder = zoo.get("mnist28_mdu").stages["slice_decoder"]
  space = tune.search_space(decoder)
  assert [hp.name for hp in space.space] == ["learning_rate", "pixelcnn_channels",
                                             "attention_channels"]
  assert space.get("pixelcnn_channels") == 64  # the default: the entry's own width
  assert list(space.space[1].values) == [32, 64, 128]
  assert space.space[0].sampling == "log"
  upscaler = zoo.get("mnist28_mdu").stages["size_upscaler"]
  assert list(tune.search_space(upscaler).space[3].values) == [32, 64, 128]
  assert tune.search_space(upscaler).space[3].name == "embedder_conv_channels"


@pytest.mark.parametrize("config", [
    SliceDecoderConfig.tiny(channels=3, pixelcnn_channels=6, attention_heads=4,
                            attention_channels=8),
    SPNConfig.tiny(channels=3, decoder=dict(pixelcnn_channels=6, attention_heads=4,
                                            attention_channels=8)),
])
def test_search_space_stays_valid_when_scaled_down(config):
  space = tune.search_space(config, width_scales=(0.1, 1.0))
  widths = {hp.name: list(hp.values) for hp in space.space[1:]}
  assert widths["pixelcnn_channels"] == [3, 6]  # at least one channel per colour
  assert widths["attention_channels"] == [4, 8]  # at least one channel per head
  assert ("embedder_conv_channels" in widths) == isinstance(config, SPNConfig)
  for name, values in widths.items():
    for value in values:
      tune.with_widths(config, {name: value})  # validates


@pytest.mark.parametrize("kwargs, message", [
    (dict(width_scales=()), r"`width_scales` must be finite numbers > 0 \(at least one\), got "
                            r"\(\)."),
    (dict(width_scales=(1.0, 0.0)), "`width_scales` must be a finite number > 0, got 0.0."),
    (dict(width_scales=(1.0, float("inf"))),
     "`width_scales` must be a finite number > 0, got inf."),
    (dict(learning_rate_range=(1e-3, 1e-4)), r"`learning_rate_range` must be \(low, high\) "
                                             r"with 0 < low < high, got \(0.001, 0.0001\)."),
    (dict(learning_rate_range=(1e-3,)), r"`learning_rate_range` must be \(low, high\)"),
    (dict(learning_rate_range=(1e-4, float("inf"))),
     "`learning_rate_range` must be a finite number, got inf."),
    (dict(learning_rate_range=(float("nan"), 1e-3)),
     "`learning_rate_range` must be a finite number, got nan."),
])
def test_search_space_rejects_bad_arguments(kwargs, message):
  with pytest.raises(ArgumentError, match=message):
    tune.search_space(SliceDecoderConfig.tiny(), **kwargs)


def test_two_trial_search_logs_every_trial(tmp_path, capsys):
  model_dir = str(tmp_path / "search")
  assert _main(TINY_SEARCH + [f"--model_dir={model_dir}", "--max_trials=2"]) == 0
  summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  trials = summary["trials"]
  assert [t["status"] for t in trials] == ["COMPLETED", "COMPLETED"]
  assert all(math.isfinite(t["test_bits_per_dim"]) for t in trials)
  assert summary["best_test_bits_per_dim"] == min(t["test_bits_per_dim"] for t in trials)
  best = next(t for t in trials if t["trial_id"] == summary["best_trial_id"])
  assert summary["best_hyperparameters"] == best["hyperparameters"]
  assert set(best["hyperparameters"]) == {"learning_rate", "pixelcnn_channels",
                                          "attention_channels"}
  for trial in trials:
    trial_dir = os.path.join(model_dir, f"trial_{trial['trial_id']}")
    assert "bits_per_dim" in _tags(os.path.join(trial_dir, "train"))
    assert "bits_per_dim" in _tags(os.path.join(trial_dir, "eval"))
    assert "_hparams_/session_start_info" in _tags(trial_dir)


def test_diverged_trial_fails_without_stopping_the_search(tmp_path, monkeypatch):

  def diverge(trainer):
    raise FloatingPointError("Training loss is nan at step 1; stopped.")

  monkeypatch.setattr(tune.Trainer, "train", diverge)
  summary = tune.tune("slice_decoder", str(tmp_path), zoo="mnist28_mdu", max_trials=1,
                      train_steps=3, eval_examples=8, batch_size=8, width_scales=(0.25,))
  assert summary["best_trial_id"] is None and summary["best_hyperparameters"] is None
  (trial,) = summary["trials"]
  assert trial["status"] == "FAILED"
  assert "Training loss is nan" in trial["error"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stage=None), app.UsageError, "--stage and --model_dir are required."),
    (dict(max_trials=0), ArgumentError, "`max_trials` must be a positive int, got 0."),
    (dict(eval_examples=0), ArgumentError, "`eval_examples` must be a positive int, got 0."),
    (dict(zoo=None), app.UsageError, "^Give exactly one of --zoo .*, --pipeline .* and --config "),
    (dict(pipeline="mnist28_mdu"), app.UsageError, "^Give exactly one of --zoo "),
    (dict(learning_rate_range=(0.0, 1e-3)), ArgumentError, "`learning_rate_range` must be"),
    # The trials' TrainerConfig fields, checked before the search, name their flags.
    (dict(batch_size=0), app.UsageError, "--batch_size must be a positive int, got 0."),
    (dict(train_steps=0), app.UsageError, "--train_steps must be a positive int, got 0."),
    (dict(clip_norm=-1.0), app.UsageError, "--clip_norm must be a finite number > 0, got -1.0."),
    (dict(clip_norm=float("nan")), app.UsageError,
     "--clip_norm must be a finite number > 0, got nan."),
    (dict(checkpoint_every=0), app.UsageError,
     "--checkpoint_every must be a positive int, got 0."),
    (dict(seed=2**32), app.UsageError,
     r"--seed must be an int in \[0, 4294967295\], got 4294967296."),
])
def test_tune_rejects_bad_arguments_before_any_work(tmp_path, kwargs, error, message):
  arguments = dict(stage="slice_decoder", model_dir=str(tmp_path / "search"), zoo="mnist28_mdu")
  arguments.update(kwargs)
  with pytest.raises(error, match=message):
    tune.tune(**arguments)
  assert not os.listdir(tmp_path)
