import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.layers import TransformerLayer
from spn_keras.layers.transformer_layer import head_width


@pytest.mark.parametrize("causal", [True, False])
def test_layer_contract(causal):
  x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
  testing.run_layer_test(TransformerLayer, dict(num_heads=2, key_dim=4, ffn_channels=16,
                                                causal=causal, dropout=0.1),
                         x, expected_output_shape=(2, 6, 8))


def test_causal_layer_is_causal():
  length, depth = 7, 4
  layer = TransformerLayer(2, 3, 8)
  x = np.random.default_rng(1).normal(size=(1, length, 1, depth)).astype("float32")
  ranks = np.repeat(np.arange(length)[:, None, None], depth, axis=2)
  testing.assert_causal(lambda x: layer(tf.reshape(x, (-1, length, depth)))[:, :, None], x,
                        ranks, np.arange(length)[:, None, None], inclusive=True)


def test_bad_rank():
  with pytest.raises(ValueError, match="rank 3"):
    TransformerLayer(1, 2, 4)(np.zeros((1, 2, 2, 2), "float32"))


def test_step_with_cache_matches_the_full_call():
  length = 5
  layer = TransformerLayer(2, 3, 8)
  x = np.random.default_rng(2).normal(size=(3, length, 4)).astype("float32")
  full = np.asarray(layer(x))
  weights = layer.step_weights()
  cache = layer.init_cache(3, length)
  for p in range(length):
    out, cache = layer.step(x[:, p], cache, p, weights)
    np.testing.assert_allclose(out, full[:, p], atol=1e-5)


def test_head_width_divides_the_channels_and_warns_when_it_cannot():
  assert head_width(64, 4) == 16
  with pytest.warns(UserWarning, match="10 attention heads do not divide 128 attention "
                                       "channels: each head gets 12 channels, 120 in all"):
    assert head_width(128, 10) == 12
