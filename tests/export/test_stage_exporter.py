import json
import os

import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.export import StageExporter
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork


def _randomized(model, seed=0):
  model.build()
  testing.randomize_weights(model, 0.5, seed)
  return model


def test_a_depth_upscaler_exports_with_conditioning_inputs(tmp_path):
  model = _randomized(SubscalePixelNetwork(SPNConfig.tiny(image_size=4, bits=2, scale=1,
                                                          conditioning_bits=3)))
  folder = StageExporter(model, "depth_upscaler").export(str(tmp_path / "depth"),
                                                          metadata={"name": "tiny"})
  with open(os.path.join(folder, "assets", "export.json")) as f:
    info = json.load(f)
  assert info["kind"] == "stage" and info["stages"] == ["depth_upscaler"]
  assert info["name"] == "tiny" and info["conditioning_bits"] == 3
  assert os.path.exists(os.path.join(folder, "assets", "depth_upscaler.config.json"))

  rng = np.random.default_rng(0)
  images = rng.integers(0, 4, (3, 4, 4, 1), np.uint8)
  conditioning = rng.integers(0, 8, (3, 4, 4, 1), np.uint8)
  signatures = tf.saved_model.load(folder).signatures
  scores = signatures["serving_default"](images=images, conditioning=conditioning)
  np.testing.assert_allclose(scores["bits_per_dim"],
                             model.bits_per_dim(images, conditioning), atol=1e-5)
  np.testing.assert_allclose(scores["nats"], model.log_prob(images, conditioning), rtol=1e-5)
  samples = signatures["sample"](conditioning=conditioning, temperature=tf.constant(0.9),
                                 seed=tf.constant(4, tf.int64))["images"]
  np.testing.assert_array_equal(samples, model.sample(3, 0.9, 4, conditioning=conditioning))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`conditioning` values must be"):
    signatures["log_prob"](images=images, conditioning=conditioning + 8)


def test_a_slice_decoder_samples_num_images():
  model = _randomized(SliceDecoder(SliceDecoderConfig.tiny(image_size=2, bits=2)))
  sample = StageExporter(model).functions()["sample"]
  images = sample(tf.constant(4), tf.constant(1.0), tf.constant(11, tf.int64))["images"]
  assert images.shape == (4, 2, 2, 1) and images.dtype == tf.uint8
  np.testing.assert_array_equal(images, model.sample(4, 1.0, 11))
  with pytest.raises(tf.errors.InvalidArgumentError, match="`num_images` must be positive"):
    sample(tf.constant(0), tf.constant(1.0), tf.constant(11, tf.int64))
