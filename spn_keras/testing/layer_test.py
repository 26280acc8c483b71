"""`run_layer_test`: the checks every spn-keras layer must pass (after keras-hub's helper)."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


class _LayerHolder(keras.Model):
  """A model owning one layer, so that the layer's weights can go through `.weights.h5`."""

  def __init__(self, layer, **kwargs):
    super().__init__(**kwargs)
    self.layer = layer
    self.built = layer.built


def _flat_float(outputs):
  return [np.asarray(tf.cast(o, tf.float32)) for o in tf.nest.flatten(outputs)]


def _assert_all_close(actual, expected, atol, what):
  for a, e in zip(_flat_float(actual), _flat_float(expected)):
    np.testing.assert_allclose(a, e, atol=atol, rtol=atol, err_msg=what)


def run_layer_test(layer_cls,
                   init_kwargs,
                   input_data,
                   call_kwargs=None,
                   expected_output_shape=None,
                   run_training_check=True,
                   run_mixed_precision_check=True,
                   atol=1e-5):
  """Builds and calls a layer, and checks graph mode, serialization, training and precision.

  Checks, in order: the eager call gives `expected_output_shape`; a `tf.function` call gives the
  same values; `get_config` round-trips through `from_config` and `keras.layers.serialize`;
  weights round-trip through a `.weights.h5` file into a fresh layer with identical outputs;
  one SGD step gives every trainable weight a gradient and lowers a quadratic loss; under the
  `mixed_bfloat16` policy the layer computes in bfloat16 and returns finite values.

  Args:
    layer_cls: the layer class.
    init_kwargs: constructor arguments.
    input_data: a tensor, or a tuple of tensors passed positionally.
    call_kwargs: keyword arguments of the call (may hold tensors).
    expected_output_shape: a shape, or a tuple of shapes for several outputs.
    run_training_check: whether to take a gradient step (layers with weights).
    run_mixed_precision_check: whether to run under `mixed_bfloat16` (float layers).
    atol: tolerance for equal outputs.

  Returns:
    The eager outputs of the first layer.
  """
  args = input_data if isinstance(input_data, tuple) else (input_data,)
  call_kwargs = call_kwargs or {}
  layer = layer_cls(**init_kwargs)
  outputs = layer(*args, **call_kwargs)

  if expected_output_shape is not None:
    expected = expected_output_shape
    if not (isinstance(expected, tuple) and expected and isinstance(expected[0], tuple)):
      expected = (expected,)
    actual = tuple(tuple(o.shape) for o in tf.nest.flatten(outputs))
    assert actual == tuple(tuple(s) for s in expected), (
        f"{layer_cls.__name__} output shapes {actual}, expected {expected}.")

  graph_outputs = tf.function(lambda: layer(*args, **call_kwargs))()
  _assert_all_close(graph_outputs, outputs, atol, "tf.function call differs from eager call")

  config = layer.get_config()
  restored = layer_cls.from_config(config)
  assert restored.get_config() == config, "get_config does not round-trip through from_config"
  deserialized = keras.layers.deserialize(keras.layers.serialize(layer))
  assert type(deserialized) is layer_cls and deserialized.get_config() == config, (
      "keras.layers.serialize/deserialize does not round-trip")

  if layer.weights:
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "layer.weights.h5")
      _LayerHolder(layer).save_weights(path)
      restored(*args, **call_kwargs)  # builds `restored`
      _LayerHolder(restored).load_weights(path)
    _assert_all_close(restored(*args, **call_kwargs), outputs, atol,
                      "outputs differ after a .weights.h5 round-trip")

  if run_training_check:
    variables = layer.trainable_variables
    assert variables, f"{layer_cls.__name__} has no trainable weights to train."

    def loss_fn():
      flat = [tf.cast(o, tf.float32) for o in tf.nest.flatten(layer(*args, **call_kwargs))]
      return tf.add_n([tf.reduce_mean(tf.square(o)) for o in flat])

    with tf.GradientTape() as tape:
      loss_before = loss_fn()
    grads = tape.gradient(loss_before, variables)
    missing = [v.path for v, g in zip(variables, grads) if g is None]
    assert not missing, f"No gradient reaches {missing}."
    keras.optimizers.SGD(learning_rate=1e-3).apply_gradients(zip(grads, variables))
    loss_after = loss_fn()
    assert float(loss_after) < float(loss_before), (
        f"One SGD step did not lower the loss ({float(loss_before)} -> {float(loss_after)}).")

  if run_mixed_precision_check:
    mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
    mixed_outputs = mixed(*args, **call_kwargs)
    for o in tf.nest.flatten(mixed_outputs):
      assert o.dtype == tf.bfloat16, f"mixed_bfloat16 output has dtype {o.dtype.name}."
      assert np.all(np.isfinite(np.asarray(tf.cast(o, tf.float32)))), "non-finite outputs"
    assert all(v.dtype == "float32" for v in mixed.weights), "weights must stay float32"
  return outputs
