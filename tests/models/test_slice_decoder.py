import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig


def _decoder(stddev=1.0, **fields):
  model = SliceDecoder(SliceDecoderConfig.tiny(**fields))
  model(np.zeros((1,) + model.image_shape, np.int32))
  if stddev is not None:
    testing.randomize_weights(model, stddev)
  return model


@pytest.mark.parametrize("fields", [
    dict(image_size=2, channels=3),
    dict(image_size=(2, 3), channels=1, bits=2),
    dict(image_size=2, channels=1, bits=3, attention_layers=0),
])
def test_probabilities_of_all_images_sum_to_one(fields):
  model = _decoder(**fields)
  images = testing.all_images(model.image_shape, model.bits)
  total, log_probs = testing.total_probability(model.log_prob, images)
  assert abs(total - 1.0) < 1e-4
  assert log_probs.max() > math.log(1.0 / len(images)) + 3.0


@pytest.mark.parametrize("fields", [
    dict(image_size=4, channels=3),
    dict(image_size=(3, 5), channels=1, bits=2, attention_layers=2),
    dict(image_size=1, channels=3),
])
def test_every_prediction_sees_only_earlier_sub_pixels(fields):
  model = _decoder(stddev=0.5, pixelcnn_channels=24, pixelcnn_residual_channels=24, **fields)
  height, width, channels = model.image_shape
  ranks = testing.raster_ranks(height, width, channels)
  x = np.random.default_rng(0).integers(0, 2**model.bits, (1,) + model.image_shape, np.int32)
  testing.assert_causal(model.sub_pixel_logits, x, ranks, ranks[..., None],
                        num_values=2**model.bits)


def test_attention_path_alone_is_causal_and_sees_the_past():
  """With a 1-layer PixelCNN of kernel 3, pixels 2+ rows up are reached only by attention."""
  # Initial weights: large random ones saturate the softmax onto a single position.
  model = _decoder(stddev=None, image_size=(5, 3), pixelcnn_layers=1, attention_layers=1)
  ranks = testing.raster_ranks(5, 3, 1)
  x = np.random.default_rng(1).integers(0, 2, (1, 5, 3, 1), np.int32)
  changed = testing.assert_causal(model.sub_pixel_logits, x, ranks, ranks[..., None],
                                  num_values=2)
  assert changed[0, 4, 2].any()  # pixel (0, 0) informs (4, 2) through attention only


def test_sample_and_log_prob_agree():
  model = _decoder(stddev=0.5, image_size=3, channels=3, bits=2)
  images, chosen = model.sample(4, seed=3, return_log_prob=True)
  assert images.shape == (4, 3, 3, 3) and images.dtype == tf.uint8
  np.testing.assert_allclose(model.log_prob(images), chosen, rtol=1e-5, atol=1e-4)
  np.testing.assert_array_equal(images, model.sample(4, seed=3))


def test_sampled_frequencies_match_log_prob():
  model = _decoder(image_size=(1, 2), channels=1, bits=2)  # 16 images
  images = testing.all_images((1, 2, 1), 2)
  probs = np.exp(np.asarray(model.log_prob(images), np.float64))
  num = 4000
  samples = np.asarray(model.sample(num, seed=7)).reshape(num, 2).astype(np.int64)
  freq = np.bincount(samples[:, 0] * 4 + samples[:, 1], minlength=16) / num
  assert 0.5 * np.abs(freq - probs).sum() < 0.05


def test_context_is_required_exactly_when_configured():
  model = SliceDecoder(SliceDecoderConfig.tiny(context_channels=3))
  x = np.zeros((1, 4, 4, 1), np.int32)
  with pytest.raises(ValueError, match="`context` must be given"):
    model(x)
  assert model(x, context=np.zeros((1, 4, 4, 3), np.float32)).shape == (1, 4, 4, 1, 2)
  with pytest.raises(ValueError, match="conditioning"):
    _decoder().log_prob(x, conditioning=x)


def test_weights_round_trip(tmp_path):
  model = _decoder(stddev=0.5, image_size=3, channels=3)
  x = np.random.default_rng(2).integers(0, 2, (2, 3, 3, 3), np.uint8)
  path = os.path.join(tmp_path, "decoder.weights.h5")
  model.save_weights(path)
  restored = SliceDecoder.from_config(model.get_config())
  restored(np.zeros((1, 3, 3, 3), np.int32))
  restored.load_weights(path)
  np.testing.assert_allclose(restored.log_prob(x), model.log_prob(x), rtol=1e-6)


def test_bad_config_type():
  with pytest.raises(TypeError, match="SliceDecoderConfig"):
    SliceDecoder(3)


def test_logits_are_float32_under_mixed_precision():
  """The last product runs in float32 under `mixed_bfloat16`: logits are not rounded to bf16."""
  keras.config.set_dtype_policy("mixed_bfloat16")
  try:
    model = SliceDecoder(SliceDecoderConfig.tiny(image_size=3, channels=3, bits=3))
  finally:
    keras.config.set_dtype_policy("float32")
  model.build()
  assert model.pixelcnn[0].compute_dtype == "bfloat16"
  assert model.output_logits_layer.compute_dtype == "float32"
  hidden = tf.random.normal([2, 3, 3, model.config.pixelcnn_residual_channels])
  hidden = tf.cast(tf.cast(hidden, tf.bfloat16), tf.float32)  # what the bf16 layers hand over
  expected = tf.einsum("bhwr,ro->bhwo", hidden, model.output_logits_layer.masked_kernel()[0, 0])
  np.testing.assert_allclose(model.output_logits_layer(hidden),
                             expected + model.output_logits_layer.bias, rtol=1e-5, atol=1e-5)
  images = np.random.default_rng(0).integers(0, 8, (2, 3, 3, 3), np.uint8)
  assert model.sample(2, seed=0, return_log_prob=True)[1].dtype == tf.float32
  assert np.all(np.isfinite(model.log_prob(images)))
