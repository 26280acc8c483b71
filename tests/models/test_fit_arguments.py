"""The checks of what a stage's `compile`, `fit` and `evaluate` accept, called directly
(tests/models/test_autoregressive_image_model.py checks that the stage applies them)."""

import re

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.models.fit_arguments import compile_arguments
from spn_keras.models.fit_arguments import fit_batch

_IMAGES = tf.zeros([2, 4, 4, 1], tf.int32)
_CONDITIONING = tf.ones([2, 4, 4, 1], tf.int32)


def test_compile_arguments_keep_everything_but_the_loss_and_metrics():
  kwargs = {"optimizer": "adam", "jit_compile": True, "steps_per_execution": 2, "loss": None,
            "loss_weights": None, "metrics": None, "weighted_metrics": None}
  assert compile_arguments("Stage", kwargs) == {
      "optimizer": "adam", "jit_compile": True, "steps_per_execution": 2}
  assert compile_arguments("Stage", {}) == {}


@pytest.mark.parametrize("refused, named", [
    ({"loss": "mse"}, "loss"),
    ({"loss_weights": [1.0]}, "loss_weights"),
    ({"metrics": ["accuracy"]}, "metrics"),
    ({"weighted_metrics": []}, "weighted_metrics"),  # empty, but given
    ({"weighted_metrics": ["mae"], "loss": "mse", "metrics": None}, "loss, weighted_metrics"),
])
def test_compile_arguments_name_the_class_and_each_argument_given(refused, named):
  with pytest.raises(ValueError, match="^" + re.escape(
      f"SliceDecoder.compile does not take {named}: the loss is the model's negative "
      f"log-likelihood, logged with `bits_per_dim`.") + "$"):
    compile_arguments("SliceDecoder", {"optimizer": "adam", **refused})


@pytest.mark.parametrize("data", [_IMAGES, (_IMAGES,), {"images": _IMAGES}])
def test_a_batch_of_images_has_no_conditioning(data):
  images, conditioning = fit_batch("Stage", data)
  assert images is _IMAGES and conditioning is None


def test_a_batch_dict_gives_the_conditioning():
  images, conditioning = fit_batch("Stage", {"images": _IMAGES, "conditioning": _CONDITIONING})
  assert images is _IMAGES and conditioning is _CONDITIONING


@pytest.mark.parametrize("data", [
    (_IMAGES, _IMAGES),
    (_IMAGES, None, np.ones([2], np.float32)),
    ({"images": _IMAGES}, _IMAGES),
])
def test_targets_or_sample_weights_are_refused(data):
  with pytest.raises(ValueError, match="^" + re.escape(
      "SubscalePixelNetwork models images: `fit` and `evaluate` take image batches (or dicts "
      "with 'images' and 'conditioning'), without targets or sample weights.") + "$"):
    fit_batch("SubscalePixelNetwork", data)


@pytest.mark.parametrize("keys", [
    ["pixels"], ["conditioning"], ["images", "labels"], ["conditioning", "images", "weights"],
])
def test_a_batch_dict_with_other_keys_is_refused_and_its_keys_listed(keys):
  with pytest.raises(ValueError, match="^" + re.escape(
      f"A batch dict must have the key 'images' and, for a depth upscaler, 'conditioning'; "
      f"got keys {sorted(keys)}.") + "$"):
    fit_batch("Stage", {key: _IMAGES for key in keys})
