import math

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import check_integer_dtype
from spn_keras.ops.likelihood import nats_to_bits_per_dim


def test_nats_to_bits_per_dim():
  np.testing.assert_allclose(nats_to_bits_per_dim(-4 * math.log(2.0) * 3, 4), 3.0)


def test_check_images_returns_int32_and_names_what_is_wrong():
  images = np.zeros((2, 4, 4, 1), np.uint8)
  assert check_images("images", images, 3, (4, 4, 1)).dtype == tf.int32
  with pytest.raises(TypeError, match="`images` must have an integer dtype .* got float32"):
    check_images("images", images.astype(np.float32), 3)
  with pytest.raises(ValueError, match="`images` must have rank 4"):
    check_images("images", images[0], 3)
  with pytest.raises(ValueError, match=r"`images` must have shape \(B, 4, 4, 3\)"):
    check_images("images", images, 3, (4, 4, 3))
  images[0, 0, 0, 0] = 9
  with pytest.raises(ValueError, match=r"values must be in \[0, 8\) \(3 bits\), got values "
                                       r"in \[0, 9\]"):
    check_images("images", images, 3)


def test_check_integer_dtype():
  assert check_integer_dtype("x", np.arange(3, dtype=np.int16)).dtype == tf.int16
  with pytest.raises(TypeError, match="`x` must have an integer dtype"):
    check_integer_dtype("x", [0.5])


RANGE_MESSAGE = r"`images` values must be in \[0, 8\) \(3 bits\)\."


@pytest.mark.parametrize("bad_value", [9, -1])
def test_check_images_checks_values_in_a_graph_with_the_eager_message(bad_value):
  checked = tf.function(lambda images: check_images("images", images, 3))
  images = np.zeros((2, 4, 4, 1), np.int32)
  assert checked(images).dtype == tf.int32
  images[1, 2, 3, 0] = bad_value
  with pytest.raises(tf.errors.InvalidArgumentError, match=RANGE_MESSAGE) as caught:
    checked(images)
  assert "Condition" not in str(caught.value)  # the message, not a dump of the tensors


def test_check_images_adds_no_graph_check_where_the_dtype_holds_only_valid_values():
  graph = tf.function(lambda images: check_images("images", images, 8)).get_concrete_function(
      tf.TensorSpec((None, 2, 2, 1), tf.uint8)).graph
  assert "Assert" not in {op.type for op in graph.get_operations()}
  assert tf.function(lambda images: check_images("images", images, 8))(
      np.full((1, 2, 2, 1), 255, np.uint8)).numpy().max() == 255


def test_check_images_compiles_under_xla():
  """XLA has no run-time errors: the assert compiles to nothing (a compiled step checks its
  inputs before the compiled program: see tests/training)."""
  compiled = tf.function(lambda images: check_images("images", images, 3) * 2, jit_compile=True)
  np.testing.assert_array_equal(compiled(np.full((1, 1, 1, 1), 7, np.int32)), [[[[14]]]])


def test_fit_refuses_values_out_of_range_with_the_eager_message():
  model = SliceDecoder(SliceDecoderConfig.tiny(image_size=2, bits=3))
  model.compile("adam", seed=0, jit_compile=False)
  images = np.zeros((2, 2, 2, 1), np.int32)
  model.fit(images, batch_size=2, verbose=0)
  weights = model.get_weights()
  images[1, 0, 1, 0] = 9  # -1: test_check_images_checks_values_in_a_graph_with_the_eager_message
  with pytest.raises(tf.errors.InvalidArgumentError, match=RANGE_MESSAGE):
    model.fit(images, batch_size=2, verbose=0)
  for before, after in zip(weights, model.get_weights()):
    np.testing.assert_array_equal(after, before)  # the step stopped before its update


def test_fit_refuses_conditioning_out_of_range():
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, bits=1,
                                              conditioning_bits=2))
  model.compile("adam", seed=0, jit_compile=False)
  batch = {"images": np.zeros((2, 4, 4, 1), np.uint8),
           "conditioning": np.full((2, 4, 4, 1), 4, np.uint8)}
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"`conditioning` values must be in \[0, 4\) \(2 bits\)\."):
    model.fit(tf.data.Dataset.from_tensors(batch), verbose=0, shuffle=False)
