"""Keras-native training and saving of every stage kind: `compile`/`fit`/`evaluate`, `.keras`."""

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
from spn_keras.models import AutoregressiveImageModel
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines import save_stage
from spn_keras.training import Trainer
from spn_keras.training import TrainerConfig
from spn_keras.training import get_strategy

pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 4
# kind -> (class, config, first_slice_given): the three stages of a pipeline, gray and RGB.
# Minimal tiny stages (`testing.MINIMAL_SPN`): these tests are about Keras's training loop and
# saving, and a train step traces in a third of the time.
_DECODER = testing.MINIMAL_DECODER
_SPN = testing.MINIMAL_SPN
STAGES = {
    "slice_decoder": (SliceDecoder,
                      SliceDecoderConfig.tiny(image_size=4, channels=3, bits=2, **_DECODER),
                      False),
    "size_upscaler": (SubscalePixelNetwork, SPNConfig.tiny(image_size=4, scale=2, bits=2, **_SPN),
                      True),
    "depth_upscaler": (SubscalePixelNetwork,
                       SPNConfig.tiny(image_size=4, scale=2, channels=3, bits=1,
                                      conditioning_bits=2, **_SPN), False),
}


def _batch(kind, seed=0):
  """A batch for stage `kind`: uint8 images, or a dict with the conditioning bits."""
  _, config, _ = STAGES[kind]
  shape = (BATCH, 4, 4, config.channels)
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 2**config.bits, shape).astype(np.uint8)
  if not getattr(config, "conditioning_bits", 0):
    return images
  return {"images": images,
          "conditioning": rng.integers(0, 2**config.conditioning_bits, shape).astype(np.uint8)}


def _model(kind):
  cls, config, _ = STAGES[kind]
  model = cls(config)
  model.build()
  return model


def _copies(cls, config, weights):
  """A Trainer `model_fn`: a built `cls(config)` holding `weights`."""

  def model_fn():
    copy = cls(config)
    copy.build()
    copy.set_weights(weights)
    return copy

  return model_fn


def _trainer_optimizer_settings():
  """The optimizer `spn_train` builds (without averaging or clipping), for `compile`."""
  return keras.optimizers.RMSprop(1e-3, rho=0.95, momentum=0.9, epsilon=1e-8)


# The slice decoder and the size upscaler are slow tests (10-20 s each); the default suite
# keeps the depth upscaler, the stage with the most inputs (conditioning and images).
@pytest.mark.parametrize("kind", [
    kind if kind == "depth_upscaler" else pytest.param(kind, marks=pytest.mark.slow)
    for kind in sorted(STAGES)])
def test_fit_steps_match_the_trainer(kind, tmp_path):
  """Two `fit` steps give the Trainer's losses and weights on the same batch and slices."""
  cls, config, first_slice_given = STAGES[kind]
  batch = _batch(kind)
  model = _model(kind)
  model_fn = _copies(cls, config, model.get_weights())
  as_dict = batch if isinstance(batch, dict) else {"images": batch}
  trainer = Trainer(model_fn, lambda context: tf.data.Dataset.from_tensors(as_dict).repeat(),
                    TrainerConfig(model_dir=str(tmp_path), train_steps=2,
                                  global_batch_size=BATCH, learning_rate=1e-3,
                                  ema_momentum=None, checkpoint_every=2, log_every=1, seed=7,
                                  first_slice_given=first_slice_given),
                    get_strategy("one_device"))
  trainer.train()

  model.compile(_trainer_optimizer_settings(), first_slice_given=first_slice_given, seed=7)
  history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(), epochs=2,
                      steps_per_epoch=1, verbose=0)
  np.testing.assert_allclose(history.history["bits_per_dim"],
                             [bits for _, bits in trainer.history], rtol=1e-5)
  nats_per_image = np.array(history.history["bits_per_dim"]) * model.num_dims * np.log(2.0)
  np.testing.assert_allclose(history.history["loss"], nats_per_image, rtol=1e-5)
  for fitted, trained in zip(model.get_weights(), trainer.model.get_weights()):
    np.testing.assert_allclose(fitted, trained, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(STAGES))
def test_evaluate_is_the_exact_likelihood(kind):
  _, _, first_slice_given = STAGES[kind]
  model = _model(kind)
  model.compile(first_slice_given=first_slice_given, seed=0)
  batch = _batch(kind, seed=1)
  result = model.evaluate(tf.data.Dataset.from_tensors(batch), verbose=0, return_dict=True)
  if isinstance(batch, dict):
    bits = model.bits_per_dim(batch["images"], batch["conditioning"])
  else:
    bits = model.bits_per_dim(batch, first_slice_given=first_slice_given)
  np.testing.assert_allclose(result["bits_per_dim"], np.mean(bits), rtol=1e-5)
  np.testing.assert_allclose(result["loss"], np.mean(bits) * model.num_dims * np.log(2.0),
                             rtol=1e-5)


def test_fit_with_seed_is_repeatable_and_takes_numpy_images():
  images = _batch("slice_decoder")
  losses = []
  for _ in range(2):
    keras.utils.set_random_seed(3)
    model = _model("slice_decoder")
    model.compile("adam", seed=5)
    losses.append(model.fit(images, batch_size=2, epochs=2, verbose=0).history["loss"])
  assert losses[0] == losses[1]
  assert np.all(np.isfinite(losses[0]))


@pytest.mark.slow  # about 17 s; the Trainer's XLA steps are tested in the default suite
def test_fit_under_xla_matches_the_plain_step():
  losses = {}
  for jit_compile in (False, True):
    keras.utils.set_random_seed(3)
    model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, bits=2))  # attention too
    model.build()
    model.compile(_trainer_optimizer_settings(), first_slice_given=True, seed=1,
                  jit_compile=jit_compile)
    losses[jit_compile] = model.fit(tf.data.Dataset.from_tensors(_batch("size_upscaler"))
                                    .repeat(), epochs=3, steps_per_epoch=1,
                                    verbose=0).history["loss"]
  np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


def test_fit_with_keras_callbacks_and_averaged_weights(tmp_path):
  """TensorBoard, ModelCheckpoint (.keras), BackupAndRestore and `use_ema` work with `fit`."""
  model = _model("depth_upscaler")
  model.compile(keras.optimizers.RMSprop(1e-3, use_ema=True, ema_momentum=0.9), seed=2)
  dataset = tf.data.Dataset.from_tensors(_batch("depth_upscaler")).repeat()
  checkpoint = str(tmp_path / "stage.keras")
  callbacks = [keras.callbacks.TensorBoard(str(tmp_path / "logs")),
               keras.callbacks.ModelCheckpoint(checkpoint),
               keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))]
  history = model.fit(dataset, epochs=2, steps_per_epoch=2, callbacks=callbacks, verbose=0)
  assert np.all(np.isfinite(history.history["bits_per_dim"]))
  assert os.listdir(tmp_path / "logs" / "train")
  # `fit` ends with the averaged weights in the model (Keras's `use_ema`); the checkpoint
  # written after the last epoch holds the trained model and its compile settings.
  restored = keras.saving.load_model(checkpoint)
  batch = _batch("depth_upscaler", seed=4)
  assert restored.__dict__["_fit_settings"] == {"first_slice_given": False, "seed": 2}
  assert not np.allclose(restored.log_prob(batch["images"], batch["conditioning"]),
                         _model("depth_upscaler").log_prob(batch["images"],
                                                           batch["conditioning"]))


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
  dataset = tf.data.Dataset.from_tensors(_batch("slice_decoder")).repeat()

  class Interrupt(keras.callbacks.Callback):

    def on_epoch_end(self, epoch, logs=None):
      if epoch == 1:
        raise RuntimeError("killed")

  def run(extra_callbacks):
    keras.utils.set_random_seed(3)
    model = _model("slice_decoder")
    model.compile(_trainer_optimizer_settings(), seed=4)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    return model, model.fit(dataset, epochs=4, steps_per_epoch=1, verbose=0,
                            callbacks=[backup, *extra_callbacks])

  with pytest.raises(RuntimeError, match="killed"):
    run([Interrupt()])
  resumed_model, resumed = run([])
  assert len(resumed.history["loss"]) == 2  # epochs 3 and 4 only
  keras.utils.set_random_seed(3)
  reference = _model("slice_decoder")
  reference.compile(_trainer_optimizer_settings(), seed=4)
  reference.fit(dataset, epochs=4, steps_per_epoch=1, verbose=0)
  for resumed_weight, weight in zip(resumed_model.get_weights(), reference.get_weights()):
    np.testing.assert_allclose(resumed_weight, weight, rtol=1e-5, atol=1e-7)


def test_fit_under_mirrored_strategy_matches_one_device():
  results = {}
  for cpus in (1, 2):
    out = subprocess.run([sys.executable, os.path.join(HERE, "fit_run.py"), f"--cpus={cpus}"],
                         capture_output=True, text=True, timeout=600, check=True)
    results[cpus] = json.loads(out.stdout.strip().splitlines()[-1])
  assert results[1]["replicas"] == 1 and results[2]["replicas"] == 2
  np.testing.assert_allclose(results[2]["loss"], results[1]["loss"], rtol=1e-4)


@pytest.mark.parametrize("kind", sorted(STAGES))
def test_keras_file_round_trip(kind, tmp_path):
  model = _model(kind)
  path = str(tmp_path / f"{kind}.keras")
  model.save(path)
  restored = keras.saving.load_model(path)
  assert type(restored) is type(model) and restored.config == model.config
  batch = _batch(kind, seed=2)
  arguments = ((batch["images"], batch["conditioning"]) if isinstance(batch, dict)
               else (batch,))
  np.testing.assert_array_equal(restored.log_prob(*arguments), model.log_prob(*arguments))


@pytest.mark.parametrize("kind, description", [
    ("slice_decoder", "SliceDecoder(4x4x3, 2 bits"),
    ("size_upscaler", "SubscalePixelNetwork(4x4x1, 2 bits, S=2"),
    ("depth_upscaler", "SubscalePixelNetwork(4x4x3, 1 bits given 2, S=2"),
])
def test_a_stage_prints_its_kind_shape_bits_scale_and_parameters(kind, description):
  cls, config, _ = STAGES[kind]
  assert str(cls(config)) == f"{description})"  # not built: no parameters yet
  model = _model(kind)
  assert model.count_params() > 0
  assert str(model) == repr(model) == f"{description}, {model.count_params():,} parameters)"


def test_compile_refuses_a_loss_and_bad_settings():
  model = _model("size_upscaler")
  with pytest.raises(ValueError, match="does not take loss"):
    model.compile("adam", loss="mse")
  with pytest.raises(ValueError, match="metrics"):
    model.compile("adam", metrics=["accuracy"])
  with pytest.raises(ValueError, match="seed"):
    model.compile("adam", seed=-1)
  with pytest.raises(ValueError, match="first_slice_given"):
    _model("slice_decoder").compile("adam", first_slice_given=True)


def test_fit_refuses_targets():
  model = _model("slice_decoder")
  model.compile("adam", seed=0)
  images = _batch("slice_decoder")
  with pytest.raises(ValueError, match="without targets"):
    model.fit(images, images, verbose=0)
  with pytest.raises(ValueError, match="'images'"):
    model.fit(tf.data.Dataset.from_tensors({"pixels": images}), verbose=0)


def test_from_preset_loads_a_stage_of_a_shipped_pipeline(monkeypatch, tmp_path):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))  # no user copy shadows the shipped one
  from spn_keras import zoo
  pipeline = zoo.load("mnist28_mdu")
  depth = SubscalePixelNetwork.from_preset("mnist28_mdu/depth_upscaler")
  decoder = SliceDecoder.from_preset("mnist28_mdu")  # its only SliceDecoder stage
  for stage, model in (("depth_upscaler", depth), ("slice_decoder", decoder)):
    for loaded, shipped in zip(model.get_weights(), pipeline.stages[stage].get_weights()):
      np.testing.assert_array_equal(loaded, shipped)
  assert type(AutoregressiveImageModel.from_preset("mnist28_mdu/size_upscaler")) is (
      SubscalePixelNetwork)


def test_from_preset_reads_stage_and_pipeline_folders(tmp_path):
  model = _model("size_upscaler")
  pipeline = Pipeline(size_upscaler=model)
  pipeline.save(str(tmp_path / "pipeline"))
  batch = _batch("size_upscaler", seed=3)
  for preset in (tmp_path / "pipeline", tmp_path / "pipeline" / "size_upscaler"):
    loaded = SubscalePixelNetwork.from_preset(str(preset))
    np.testing.assert_array_equal(loaded.log_prob(batch), model.log_prob(batch))
  save_stage(model, str(tmp_path / "alone"))
  np.testing.assert_array_equal(
      SubscalePixelNetwork.from_preset(str(tmp_path / "alone")).log_prob(batch),
      model.log_prob(batch))
  # The sha256 recorded by the pipeline is checked.
  weights = tmp_path / "pipeline" / "size_upscaler" / "model.weights.h5"
  weights.write_bytes(weights.read_bytes()[:-8] + bytes(8))
  with pytest.raises(ValueError, match="corrupt or not the one recorded"):
    SubscalePixelNetwork.from_preset(str(tmp_path / "pipeline" / "size_upscaler"))


def test_from_preset_errors_name_what_to_do():
  with pytest.raises(ValueError, match=r"is a SubscalePixelNetwork stage, not a SliceDecoder: "
                                       r"load it with `SubscalePixelNetwork.from_preset"):
    SliceDecoder.from_preset("mnist28_mdu/depth_upscaler")
  with pytest.raises(ValueError, match="2 of them .* name the stage, e.g. "
                                       "'mnist28_mdu/depth_upscaler'"):
    SubscalePixelNetwork.from_preset("mnist28_mdu")
  with pytest.raises(ValueError, match="has no stage 'upscaler'; its stages are"):
    SubscalePixelNetwork.from_preset("mnist28_mdu/upscaler")
  with pytest.raises(ValueError, match="Unknown preset 'no_such_pipeline/slice_decoder'"):
    SliceDecoder.from_preset("no_such_pipeline/slice_decoder")


@pytest.mark.slow  # 12 s of learning; test_fit_steps_match_the_trainer checks the steps
def test_a_few_hundred_fit_steps_on_mnist_lower_the_loss_like_the_trainer(tmp_path):
  """300 steps of a small 14x14 3-bit digit decoder: `fit` and the Trainer, same start."""
  config = SliceDecoderConfig.tiny(image_size=14, bits=3, pixelcnn_channels=16,
                                   pixelcnn_residual_channels=16, attention_channels=8)
  steps, batch = 300, 8

  def digits(transform):
    return data.make_dataset("mnist5k", "train", batch_size=batch, repeat=True, seed=0,
                             transform=transform, autotune=False)

  low = data.compose(data.first_slice(2), data.reduce_depth(3))
  model = SliceDecoder(config)
  model.build()
  model_fn = _copies(SliceDecoder, config, model.get_weights())
  trainer = Trainer(model_fn, lambda context: digits(lambda x: {"images": low(x)}),
                    TrainerConfig(model_dir=str(tmp_path), train_steps=steps,
                                  global_batch_size=batch, learning_rate=1e-3,
                                  ema_momentum=None, checkpoint_every=steps, log_every=steps,
                                  seed=3),
                    get_strategy("one_device"))
  trainer.train()
  model.compile(_trainer_optimizer_settings(), seed=3)
  fitted = model.fit(digits(low), epochs=steps // 50, steps_per_epoch=50, verbose=0)
  trained = [bits for _, bits in trainer.history]
  first, last = np.mean(trained[:50]), np.mean(trained[-50:])
  assert last < 0.75 * first  # the Trainer learns ...
  # ... and `fit` as much: the same losses per 50 steps, up to float rounding's drift.
  per_epoch = [np.mean(trained[i:i + 50]) for i in range(0, steps, 50)]
  np.testing.assert_allclose(fitted.history["bits_per_dim"], per_epoch, rtol=0.02)
