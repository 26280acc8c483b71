import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork


def _model(stddev=1.0, **fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(**fields))
  model.build()
  testing.randomize_weights(model, stddev)
  return model


def _conditioning(model, batch, seed=0):
  if not model.conditioning_bits:
    return None
  shape = (batch,) + model.image_shape
  return np.random.default_rng(seed).integers(0, 2**model.conditioning_bits, shape, np.uint8)


@pytest.mark.parametrize("fields, shape", [
    (dict(image_size=4, scale=2), (4, 4, 1)),
    (dict(image_size=2, scale=2, channels=3), (2, 2, 3)),
    (dict(image_size=2, scale=1, bits=2), (2, 2, 1)),
])
def test_probabilities_of_all_images_sum_to_one(fields, shape):
  model = _model(**fields)
  images = testing.all_images(shape, model.bits)
  total, log_probs = testing.total_probability(model.log_prob, images)
  assert abs(total - 1.0) < 1e-4
  # The conditionals are far from uniform, so the check has teeth.
  assert log_probs.max() > math.log(1.0 / len(images)) + 3.0


def test_depth_upscaler_is_normalized_for_a_fixed_conditioning_image():
  model = _model(image_size=2, scale=2, channels=3, bits=1, conditioning_bits=2)
  images = testing.all_images((2, 2, 3), 1)
  conditioning = np.repeat(_conditioning(model, 1, seed=3), len(images), axis=0)
  total, log_probs = testing.total_probability(
      lambda x: model.log_prob(x, conditioning=conditioning[:len(x)]), images)
  assert abs(total - 1.0) < 1e-4
  assert log_probs.max() > math.log(1.0 / len(images)) + 3.0


@pytest.mark.parametrize("fields", [
    dict(image_size=4, scale=2, bits=2),
    dict(image_size=4, scale=2, channels=3),
    dict(image_size=(4, 6), scale=2, channels=3),
    dict(image_size=4, scale=4),  # 1 x 1 slices
    dict(image_size=4, scale=1, channels=3),  # decoder baseline
    dict(image_size=4, scale=2, bits=1, conditioning_bits=2),
    dict(image_size=6, scale=3, channels=3, decoder=dict(pixelcnn_channels=7)),
])
def test_every_prediction_sees_only_earlier_sub_pixels(fields):
  # Wider than tiny: with 2 maps per colour group, all ReLUs of a group are often off at a
  # position, which cuts the within-pixel path that the last check below looks for.
  decoder = {"pixelcnn_channels": 24, "pixelcnn_residual_channels": 24,
             **fields.get("decoder", {})}
  model = _model(stddev=0.5, **{**fields, "decoder": decoder})
  height, width, channels = model.image_shape
  ranks = testing.subscale_ranks(height, width, channels, model.scale)
  conditioning = _conditioning(model, 1)
  if conditioning is not None:  # the same fixed low-depth image for the whole batch
    conditioning = np.repeat(conditioning, height * width * channels + 1, axis=0)
  informs = np.zeros(ranks.size, bool)
  for seed in range(3):
    x = np.random.default_rng(seed).integers(0, 2**model.bits, (1,) + model.image_shape,
                                             np.int32)
    changed = testing.assert_causal(
        lambda images: model.sub_pixel_logits(images, conditioning=conditioning), x, ranks,
        ranks[..., None], num_values=2**model.bits)
    informs |= changed.reshape(changed.shape[0], -1).any(axis=1)
  # No dead context: every sub-pixel but the last informs some later prediction (for one of
  # three inputs: a small random network can have all ReLUs of one output off for one input).
  assert informs[ranks.reshape(-1) < ranks.max()].all()


def test_depth_upscaler_uses_all_of_the_conditioning_image():
  model = _model(stddev=0.5, image_size=4, scale=2, bits=1, conditioning_bits=1)
  images = np.random.default_rng(0).integers(0, 2, (1, 4, 4, 1), np.int32)
  base_conditioning = _conditioning(model, 1)
  # Perturb the conditioning image: the first sub-pixel's prediction (rank 0) must move for
  # some positions, including ones after it in the ordering (the low bits are all known).
  changed = testing.dependence(
      lambda c: model.sub_pixel_logits(np.repeat(images, len(c), 0), conditioning=c),
      base_conditioning.astype(np.int32), num_values=2)
  assert changed[:, 0, 0].any(axis=-1).sum() >= 2
  assert changed[-1, 0, 0].any()  # the last low-depth pixel informs the first prediction


def test_sampled_frequencies_match_log_prob():
  model = _model(image_size=2, scale=2)
  images = testing.all_images((2, 2, 1), 1)
  probs = np.exp(np.asarray(model.log_prob(images), np.float64))
  num = 4000
  samples = np.asarray(model.sample(num, seed=11))
  codes = samples.reshape(num, -1) @ (2**np.arange(3, -1, -1))
  freq = np.bincount(codes, minlength=16) / num
  tv = 0.5 * np.abs(freq - probs).sum()
  # Expected TV for 16 cells and 4000 draws is about 0.02; 0.05 leaves a wide margin.
  assert tv < 0.05, (tv, freq, probs)
  # Power: tempered samples come from another distribution, and the same check sees it.
  tempered = np.asarray(model.sample(num, temperature=3.0, seed=11))
  freq_t = np.bincount(tempered.reshape(num, -1) @ (2**np.arange(3, -1, -1)), minlength=16) / num
  assert 0.5 * np.abs(freq_t - probs).sum() > 0.1


@pytest.mark.parametrize("fields", [
    dict(image_size=4, scale=2, channels=3, bits=2),
    dict(image_size=4, scale=2, bits=2, conditioning_bits=1),
])
def test_log_prob_of_a_sample_equals_the_log_probs_chosen_while_sampling(fields):
  model = _model(stddev=0.5, **fields)
  conditioning = _conditioning(model, 3)
  images, chosen = model.sample(3, seed=5, conditioning=conditioning, return_log_prob=True)
  assert images.dtype == tf.uint8 and images.shape == (3,) + model.image_shape
  assert int(tf.reduce_max(images)) < 2**model.bits
  np.testing.assert_allclose(model.log_prob(images, conditioning=conditioning), chosen,
                             rtol=1e-5, atol=1e-4)


def test_sampling_is_reproducible_with_a_seed():
  model = _model(stddev=0.5, image_size=4, scale=2, bits=2)
  first = np.asarray(model.sample(4, seed=123))
  np.testing.assert_array_equal(first, np.asarray(model.sample(4, seed=123)))
  assert not np.array_equal(first, np.asarray(model.sample(4, seed=124)))


def test_size_upscaling_keeps_the_first_slice_and_scores_the_rest():
  model = _model(stddev=0.5, image_size=4, scale=2, bits=2)
  first = np.random.default_rng(0).integers(0, 4, (3, 2, 2, 1), np.uint8)
  images, chosen = model.sample(3, seed=1, first_slice=first, return_log_prob=True)
  np.testing.assert_array_equal(np.asarray(images)[:, ::2, ::2], first)
  given = model.log_prob(images, first_slice_given=True)
  np.testing.assert_allclose(given, chosen, rtol=1e-5, atol=1e-4)
  # The slice-0 term is what is left: log p(x) = log p(slice 0) + log p(rest | slice 0).
  slices, _ = model._prepare(images, None)
  slice0 = model._slice_log_prob(slices, tf.zeros([3], tf.int32), None)
  np.testing.assert_allclose(model.log_prob(images), slice0 + given, rtol=1e-5, atol=1e-4)


def test_training_loss_is_unbiased_and_call_returns_target_logits():
  model = _model(stddev=0.5, image_size=4, scale=2, bits=2)
  images = np.random.default_rng(2).integers(0, 4, (2, 4, 4, 1), np.uint8)
  per_target = []
  for t in range(4):
    logits = model({"images": images, "target_slice": np.full([2], t)})
    assert logits.shape == (2, 2, 2, 1, 4) and logits.dtype == tf.float32
    values = np.asarray(images)[:, t // 2::2, t % 2::2]
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(values.astype(np.int32), logits)
    per_target.append(tf.reduce_sum(nll, axis=[1, 2, 3]))
  # E_t[S*S * NLL_t] over uniform t is the exact NLL.
  np.testing.assert_allclose(np.mean(per_target, axis=0) * 4, -model.log_prob(images),
                             rtol=1e-5)
  losses = np.stack([model.training_loss(images, seed=s) for s in range(8)])
  for loss in losses:
    for b in range(2):
      assert any(abs(loss[b] - 4 * p[b]) < 1e-3 for p in per_target)


def test_training_loss_after_the_first_slice_is_unbiased():
  """With slice 0 given, targets are slices 1.. and E_t[(S*S - 1) NLL_t] = -log p(rest | 0)."""
  model = _model(stddev=0.5, image_size=4, scale=2, bits=2)
  images = np.random.default_rng(4).integers(0, 4, (2, 4, 4, 1), np.uint8)
  per_target = [model.training_loss(images, target_slice=np.full([2], t),
                                    first_slice_given=True) for t in (1, 2, 3)]
  np.testing.assert_allclose(np.mean(per_target, axis=0),
                             -model.log_prob(images, first_slice_given=True), rtol=1e-5)
  for seed in range(8):  # random draws pick one of slices 1..3, never slice 0
    loss = model.training_loss(images, seed=seed, first_slice_given=True)
    for b in range(2):
      assert any(abs(loss[b] - p[b]) < 1e-3 for p in per_target)
  with pytest.raises(ValueError, match="needs `scale` > 1"):
    baseline = _model(stddev=0.5, image_size=2, scale=1, bits=2)
    baseline.training_loss(images[:, :2, :2], first_slice_given=True)


def test_bits_per_dim():
  model = _model(stddev=0.5, image_size=4, scale=2, channels=3)
  images = np.random.default_rng(3).integers(0, 2, (2, 4, 4, 3), np.uint8)
  np.testing.assert_allclose(model.bits_per_dim(images),
                             -model.log_prob(images) / (48 * math.log(2)), rtol=1e-6)


def test_config_and_weights_round_trip(tmp_path):
  model = _model(stddev=0.5, image_size=4, scale=2, bits=1, conditioning_bits=1)
  images = np.random.default_rng(4).integers(0, 2, (2, 4, 4, 1), np.uint8)
  conditioning = _conditioning(model, 2)
  path = os.path.join(tmp_path, "model.weights.h5")
  model.save_weights(path)
  restored = SubscalePixelNetwork.from_config(model.get_config())
  restored.build()
  restored.load_weights(path)
  np.testing.assert_allclose(restored.log_prob(images, conditioning=conditioning),
                             model.log_prob(images, conditioning=conditioning), rtol=1e-6)
  deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
  assert deserialized.config == model.config


def test_mixed_bfloat16():
  keras.config.set_dtype_policy("mixed_bfloat16")
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, channels=3))
  images = np.random.default_rng(5).integers(0, 2, (2, 4, 4, 3), np.uint8)
  log_prob = model.log_prob(images)
  assert log_prob.dtype == tf.float32 and np.all(np.isfinite(log_prob))
  assert model.sample(1, seed=0).shape == (1, 4, 4, 3)
  assert all(v.dtype == "float32" for v in model.weights)


def test_clear_errors_for_bad_input():
  model = _model(image_size=4, scale=2, bits=2)
  good = np.zeros((1, 4, 4, 1), np.uint8)
  with pytest.raises(ValueError, match="`images` must have rank 4"):
    model.log_prob(good[0])
  with pytest.raises(TypeError, match="`images` must have an integer dtype"):
    model.log_prob(good.astype(np.float32))
  with pytest.raises(ValueError, match=r"`images` must have shape \(B, 4, 4, 1\)"):
    model.log_prob(np.zeros((1, 4, 4, 3), np.uint8))
  with pytest.raises(ValueError, match=r"values must be in \[0, 4\) \(2 bits\)"):
    model.log_prob(good + 4)
  with pytest.raises(ValueError, match="`conditioning` must be None"):
    model.log_prob(good, conditioning=good)
  with pytest.raises(ValueError, match="first_slice"):
    model.sample(1, first_slice=np.zeros((2, 2, 2, 1), np.uint8))
  with pytest.raises(ValueError, match="num_images"):
    model.sample(0)
  with pytest.raises(ValueError, match="temperature"):
    model.sample(1, temperature=0.0)
  depth = _model(image_size=4, scale=2, bits=1, conditioning_bits=2)
  with pytest.raises(ValueError, match="`conditioning` is required"):
    depth.log_prob(good // 4)
  with pytest.raises(ValueError, match=r"`conditioning` values must be in \[0, 4\)"):
    depth.log_prob(good // 4, conditioning=good + 7)
  baseline = _model(image_size=4, scale=1)
  with pytest.raises(ValueError, match="first_slice_given"):
    baseline.log_prob(good // 4, first_slice_given=True)
  with pytest.raises(TypeError, match="SPNConfig"):
    SubscalePixelNetwork({"image_size": 4}.items())


@pytest.mark.slow
def test_paper_sized_imagenet64_spn_trains_one_step():
  """Table 4's ImageNet 64 SPN (S=2, 32x32 slices) builds and takes a training step."""
  model = SubscalePixelNetwork(SPNConfig(image_size=64, channels=3, bits=8, scale=2))
  model.build()
  count = model.count_params()
  print(f"ImageNet 64 SPN parameters: {count}")
  assert count == PAPER_IMAGENET64_PARAMETERS
  optimizer = keras.optimizers.RMSprop(1e-4, rho=0.95, momentum=0.9, epsilon=1e-8)
  images = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), np.uint8)
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(model.training_loss(images, seed=0))
  grads = tape.gradient(loss, model.trainable_variables)
  assert all(g is not None for g in grads)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  assert np.isfinite(float(loss))


# Pinned so that an accidental change of the architecture is noticed.
PAPER_IMAGENET64_PARAMETERS = 39_206_560


@pytest.mark.parametrize("fields", [dict(channels=3), dict(bits=1, conditioning_bits=2)])
def test_every_weight_gets_a_gradient_from_the_training_loss(fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, **fields))
  model.build()
  images = np.random.default_rng(6).integers(0, 2, (2, 4, 4, model.image_shape[-1]), np.uint8)
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(model.training_loss(images, _conditioning(model, 2), seed=0))
  grads = tape.gradient(loss, model.trainable_variables)
  assert [v.path for v, g in zip(model.trainable_variables, grads) if g is None] == []


def test_summary_shows_output_shapes_and_parameters():
  model = _model(image_size=4, scale=2, bits=2)
  lines = []
  model.summary(print_fn=lambda line, line_break=False: lines.append(line))
  text = "\n".join(lines)
  assert "?" not in text and "unbuilt" not in text
  assert "(None, 4, 2, 2, 1)" in text  # the slicer: S*S slices of 2 x 2
  assert "(1, 2, 2, 1, 4)" in text  # the decoder's logits over 2**2 values
