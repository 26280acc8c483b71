import keras
import numpy as np
import pytest

from spn_keras import testing


class ForgetfulDense(keras.layers.Dense):
  """A layer whose get_config drops an argument: the helper must notice."""

  def get_config(self):
    config = super().get_config()
    config["units"] = config["units"] + 1
    return config


def test_run_layer_test_passes_a_correct_layer():
  x = np.ones((2, 3), "float32")
  out = testing.run_layer_test(keras.layers.Dense, dict(units=4), x,
                               expected_output_shape=(2, 4))
  assert out.shape == (2, 4)


def test_run_layer_test_catches_wrong_shape():
  with pytest.raises(AssertionError, match="output shapes"):
    testing.run_layer_test(keras.layers.Dense, dict(units=4), np.ones((2, 3), "float32"),
                           expected_output_shape=(2, 5))


def test_run_layer_test_catches_broken_config():
  with pytest.raises(AssertionError, match="round-trip"):
    testing.run_layer_test(ForgetfulDense, dict(units=4), np.ones((2, 3), "float32"))
