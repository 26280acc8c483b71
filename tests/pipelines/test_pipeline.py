import math

import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.export.common import SERVED_SAMPLER
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.ops import reduce_bits
from spn_keras.ops import split_bits
from spn_keras.pipelines import Pipeline


def _randomized(model, stddev, seed):
  model.build()
  testing.randomize_weights(model, stddev, seed)
  return model


def _decoder(stddev=1.0, seed=0, **fields):
  model = SliceDecoder(SliceDecoderConfig.tiny(**fields))
  model(np.zeros((1,) + model.image_shape, np.int32))
  testing.randomize_weights(model, stddev, seed)
  return model


def _spn(stddev=1.0, seed=1, **fields):
  return _randomized(SubscalePixelNetwork(SPNConfig.tiny(**fields)), stddev, seed)


def _mdu(size=2, scale=2, low_bits=2, high_bits=2, channels=1, stddev=1.0, minimal=True):
  """Multidimensional upscaling: slice decoder, size upscaler, depth upscaler.

  `minimal` stages (no attention, one gated layer) for the tests of the pipeline's own logic;
  the tests of its distribution (it sums to 1, samples follow it) use the full tiny stages.
  """
  return testing.tiny_mdu_pipeline(size, channels, low_bits, high_bits, scale, stddev=stddev,
                                   minimal=minimal)


def test_mdu_probabilities_of_all_images_sum_to_one():
  """2x2x1 4-bit images, 2 + 2 bits: all 65536 of them."""
  pipeline = _mdu(minimal=False)
  images = testing.all_images((2, 2, 1), 4)
  total, log_probs = testing.total_probability(lambda x: pipeline.log_prob(x)["total"], images)
  assert abs(total - 1.0) < 1e-4
  assert log_probs.max() > math.log(1.0 / len(images)) + 3.0


@pytest.mark.parametrize("stages", [
    ("slice_decoder",),
    ("size_upscaler",),
    ("size_upscaler", "depth_upscaler"),
    ("slice_decoder", "size_upscaler"),
    ("slice_decoder", "depth_upscaler"),
])
def test_other_settings_are_normalized(stages):
  """Every valid subset of stages on 2x2x1 images of 2 bits in all."""
  low_bits = 1 if "depth_upscaler" in stages else 2
  kwargs = {}
  if "slice_decoder" in stages:
    size = 1 if "size_upscaler" in stages else 2  # slice 0, or the whole image
    kwargs["slice_decoder"] = _decoder(image_size=size, bits=low_bits)
  if "size_upscaler" in stages:
    kwargs["size_upscaler"] = _spn(image_size=2, scale=2, bits=low_bits)
  if "depth_upscaler" in stages:
    kwargs["depth_upscaler"] = _spn(image_size=2, scale=2, bits=1, conditioning_bits=low_bits)
  pipeline = Pipeline(**kwargs)
  assert tuple(pipeline.stages) == stages and pipeline.bits == 2
  images = testing.all_images(pipeline.image_shape, pipeline.bits)
  total, _ = testing.total_probability(lambda x: pipeline.log_prob(x)["total"], images)
  assert abs(total - 1.0) < 1e-4


def test_per_stage_bits_add_up_to_the_total():
  pipeline = _mdu(size=4, scale=2, low_bits=3, high_bits=5, channels=3, stddev=0.3)
  images = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), np.uint8)
  bpd = pipeline.bits_per_dim(images)
  assert set(bpd) == {"slice_decoder", "size_upscaler", "depth_upscaler", "total"}
  np.testing.assert_allclose(bpd["slice_decoder"] + bpd["size_upscaler"] +
                             bpd["depth_upscaler"], bpd["total"], rtol=1e-6)
  nats = pipeline.log_prob(images)["total"]
  np.testing.assert_allclose(bpd["total"], -nats / (48 * math.log(2)), rtol=1e-6)
  # The stage terms are the stages' own likelihoods of their views of the data.
  msb, lsb = split_bits(images, 3)
  np.testing.assert_allclose(pipeline.log_prob(images)["depth_upscaler"],
                             pipeline.depth_upscaler.log_prob(lsb, conditioning=msb), rtol=1e-6)
  np.testing.assert_allclose(pipeline.log_prob(images)["slice_decoder"],
                             pipeline.slice_decoder.log_prob(msb[:, ::2, ::2]), rtol=1e-6)


def test_pipeline_samples_follow_its_distribution():
  pipeline = _mdu(size=2, scale=2, low_bits=1, high_bits=1, minimal=False)  # 256 images
  images = testing.all_images((2, 2, 1), 2)
  probs = np.exp(np.asarray(pipeline.log_prob(images)["total"], np.float64))
  num = 20000
  samples = np.asarray(pipeline.sample(num, seed=3)).reshape(num, 4).astype(np.int64)
  codes = samples @ (4**np.arange(3, -1, -1))
  freq = np.bincount(codes, minlength=256) / num
  # Expected TV for 256 cells and 20000 draws is about 0.04 at most; the bound leaves margin.
  assert 0.5 * np.abs(freq - probs).sum() < 0.08


def test_sample_is_reproducible_and_uses_per_stage_temperatures():
  pipeline = _mdu(size=4, scale=2, low_bits=2, high_bits=2, stddev=0.5)
  first = pipeline.sample(3, temperatures=(0.99, 1.0, 1.0), seed=9)
  assert first.shape == (3, 4, 4, 1) and first.dtype == np.uint8
  assert first.max() < 16
  np.testing.assert_array_equal(first, pipeline.sample(3, (0.99, 1.0, 1.0), seed=9))
  np.testing.assert_array_equal(
      first, pipeline.sample(3, {"slice_decoder": 0.99}, seed=9))
  with pytest.raises(ValueError, match="one value per stage"):
    pipeline.sample(1, temperatures=(1.0, 1.0))
  with pytest.raises(ValueError, match="unknown stages"):
    pipeline.sample(1, temperatures={"decoder": 1.0})


def test_eager_calls_return_numpy_and_traced_calls_return_tensors():
  pipeline = _mdu(size=4, scale=2, low_bits=2, high_bits=3, stddev=0.5)
  images = pipeline.sample(2, seed=1)
  upscaled = pipeline.upscale(images[:, ::2, ::2], seed=2)
  for array in (images, upscaled):
    assert type(array) is np.ndarray and array.dtype == np.uint8 and array.shape == (2, 4, 4, 1)
  nats, bits = pipeline.log_prob(images), pipeline.bits_per_dim(images)
  assert set(nats) == set(bits) == {"slice_decoder", "size_upscaler", "depth_upscaler", "total"}
  for value in [*nats.values(), *bits.values()]:
    assert type(value) is np.ndarray and value.dtype == np.float32 and value.shape == (2,)
  # In a graph (as `spn_keras.export` traces them) the same methods give tensors.
  traced = tf.function(lambda x: (pipeline.log_prob(x), pipeline.bits_per_dim(x),
                                  pipeline.upscale(x, seed=3, **SERVED_SAMPLER)), autograph=False)
  spec = tf.TensorSpec((None, 4, 4, 1), tf.uint8)
  outputs = traced.get_concrete_function(spec).structured_outputs
  assert all(tf.is_tensor(value) for value in tf.nest.flatten(outputs))
  traced_nats, traced_bits, traced_upscaled = traced(images)
  np.testing.assert_allclose(traced_nats["total"], nats["total"], rtol=1e-6)
  np.testing.assert_allclose(traced_bits["depth_upscaler"], bits["depth_upscaler"], rtol=1e-6)
  np.testing.assert_array_equal(traced_upscaled, pipeline.upscale(images, seed=3))


def test_upscale_a_real_low_resolution_8bit_image():
  pipeline = _mdu(size=4, scale=2, low_bits=3, high_bits=5, channels=3, stddev=0.5)
  thumbnail = np.random.default_rng(1).integers(0, 256, (2, 2, 2, 3), np.uint8)
  full = np.asarray(pipeline.upscale(thumbnail, seed=4))
  assert full.shape == (2, 4, 4, 3) and full.dtype == np.uint8
  # The thumbnail's 3 most significant bits are slice 0 of the result.
  np.testing.assert_array_equal(full[:, ::2, ::2] >> 5, np.asarray(reduce_bits(thumbnail, 3)))
  np.testing.assert_array_equal(full, pipeline.upscale(thumbnail, seed=4))


def test_upscale_depth_of_a_real_full_size_image():
  pipeline = _mdu(size=4, scale=2, low_bits=3, high_bits=5, channels=3, stddev=0.5)
  image = np.random.default_rng(2).integers(0, 256, (1, 4, 4, 3), np.uint8)
  full = np.asarray(pipeline.upscale(image, seed=0))
  np.testing.assert_array_equal(full >> 5, image >> 5)
  low = image >> 5
  np.testing.assert_array_equal(pipeline.upscale(low, input_bits=3, seed=0), full)
  with pytest.raises(ValueError, match=r"`images` must have shape \(B, h, w, C\) in"):
    pipeline.upscale(np.zeros((1, 3, 3, 3), np.uint8))
  with pytest.raises(ValueError, match="input_bits"):
    pipeline.upscale(image, input_bits=2)


def test_incompatible_stages_are_refused():
  with pytest.raises(ValueError, match="needs a `slice_decoder` or a `size_upscaler`"):
    Pipeline(depth_upscaler=_spn(bits=1, conditioning_bits=1))
  with pytest.raises(ValueError, match="slice 0 of the size upscaler"):
    Pipeline(slice_decoder=_decoder(image_size=4), size_upscaler=_spn(image_size=4, scale=2))
  with pytest.raises(ValueError, match="slice 0 of the size upscaler"):
    Pipeline(slice_decoder=_decoder(image_size=2, bits=2),
             size_upscaler=_spn(image_size=4, scale=2, bits=1))
  with pytest.raises(ValueError, match="conditioning_bits"):
    Pipeline(size_upscaler=_spn(image_size=4, bits=2),
             depth_upscaler=_spn(image_size=4, bits=1, conditioning_bits=1))
  with pytest.raises(ValueError, match="must model images"):
    Pipeline(size_upscaler=_spn(image_size=4, bits=1),
             depth_upscaler=_spn(image_size=2, bits=1, conditioning_bits=1))
  with pytest.raises(ValueError, match="must not be a depth upscaler"):
    Pipeline(size_upscaler=_spn(image_size=4, bits=1, conditioning_bits=1))
  with pytest.raises(ValueError, match="`depth_upscaler` must have"):
    Pipeline(size_upscaler=_spn(image_size=4, bits=1), depth_upscaler=_spn(image_size=4))
  with pytest.raises(TypeError, match="SliceDecoder"):
    Pipeline(slice_decoder=_spn())


def test_bad_images():
  pipeline = _mdu(size=2, scale=2, low_bits=2, high_bits=2)
  with pytest.raises(ValueError, match=r"values must be in \[0, 16\)"):
    pipeline.log_prob(np.full((1, 2, 2, 1), 16, np.uint8))
  with pytest.raises(ValueError, match="rank 4"):
    pipeline.log_prob(np.zeros((2, 2, 1), np.uint8))


def test_from_preset_is_the_zoo_pipeline(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  from spn_keras import zoo
  preset = Pipeline.from_preset("mnist28_mdu")
  loaded = zoo.load("mnist28_mdu")
  assert preset.metadata == loaded.metadata
  for stage, model in loaded.stages.items():
    for a, b in zip(preset.stages[stage].get_weights(), model.get_weights()):
      np.testing.assert_array_equal(a, b)
  preset.save(str(tmp_path / "saved"))
  assert Pipeline.from_preset(str(tmp_path / "saved")).metadata["name"] == "saved"
  with pytest.raises(ValueError, match="Unknown preset 'imagenet128_mdu'"):
    Pipeline.from_preset("imagenet128_mdu")  # registered, but no weights anywhere


def test_pipeline_describes_itself():
  pipeline = _mdu(size=4, low_bits=2, high_bits=3, minimal=False)
  assert repr(pipeline) == (
      "Pipeline(4x4x1 at 5 bits: slice_decoder=SliceDecoder(2x2x1, 2 bits, "
      f"{pipeline.slice_decoder.count_params():,} parameters), "
      "size_upscaler=SubscalePixelNetwork(4x4x1, 2 bits, S=2, "
      f"{pipeline.size_upscaler.count_params():,} parameters), "
      "depth_upscaler=SubscalePixelNetwork(4x4x1, 3 bits given 2, S=2, "
      f"{pipeline.depth_upscaler.count_params():,} parameters))")
  pipeline.metadata = {"name": "tiny", "dataset": "mnist5k", "test_bits_per_dim": 1.25,
                       "size_upscaler_test_bits_per_dim": 0.5}
  lines = []
  pipeline.summary(print_fn=lines.append)
  assert lines[0] == "Pipeline 'tiny': 4x4x1 images at 5 bits on mnist5k"
  assert lines[1].split() == ["stage", "class", "image", "bits", "scale", "parameters", "test",
                              "bits/dim"]
  assert lines[3].split() == ["size_upscaler", "SubscalePixelNetwork", "4x4x1", "2", "2",
                              f"{pipeline.size_upscaler.count_params():,}", "0.5000"]
  assert lines[4].split()[-1] == "-"  # no recorded figure for the depth upscaler
  total = sum(model.count_params() for model in pipeline.stages.values())
  assert lines[5].split() == ["total", f"{total:,}", "1.2500"]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(seed=1.5), ValueError, r"`seed` must be an int in \[0, 2\*\*63\) or None, got 1.5"),
    (dict(seed="abc"), ValueError, "`seed` must be an int"),
    (dict(seed=[1, 2, 3]), ValueError, "`seed` must be an int"),
    (dict(seed=2**70), ValueError, "`seed` must be an int"),
    (dict(seed=True), ValueError, "`seed` must be an int"),
    (dict(temperatures="123"), TypeError, "`temperatures` must be a positive number, a sequence"),
    (dict(temperatures=float("nan")), ValueError, "`temperatures` must be a finite number > 0"),
    (dict(temperatures=0), ValueError, "`temperatures` must be a finite number > 0"),
    (dict(temperatures=(1.0, "x", 1.0)), ValueError,
     r"`temperatures\[1\] \(size_upscaler\)` must be a finite number > 0"),
    (dict(temperatures={"depth_upscaler": float("inf")}), ValueError,
     r"`temperatures\['depth_upscaler'\]` must be a finite number > 0"),
    (dict(temperatures=(1.0, 1.0)), ValueError, "one value per stage"),
    (dict(compute_dtype="banana"), ValueError, "`compute_dtype` must be None or one of"),
    (dict(num_images=10**9), ValueError, r"`num_images` \(1,000,000,000\) needs at least"),
    (dict(num_images=0), ValueError, "`num_images` must be a positive int"),
])
def test_bad_sampling_arguments_are_refused_naming_them(kwargs, error, message):
  with pytest.raises(error, match=message):
    _mdu().sample(**{"num_images": 1, "seed": 0, **kwargs})


def test_numpy_scalars_are_temperatures_and_seeds():
  pipeline = _mdu()
  first = pipeline.sample(2, temperatures=np.float32(0.9), seed=np.int64(5))
  np.testing.assert_array_equal(first, pipeline.sample(2, temperatures=0.9, seed=5))


def test_the_sampling_memory_bound_counts_the_noise_of_a_slice():
  stage = _mdu(minimal=False).depth_upscaler
  height, width, channels = stage.image_shape
  slice_noise = (height // stage.scale) * (width // stage.scale) * channels * 2**stage.bits * 4
  assert stage.sampling_memory_bytes(3) == 3 * stage.sampling_memory_bytes(1)
  assert stage.sampling_memory_bytes(1) > slice_noise
