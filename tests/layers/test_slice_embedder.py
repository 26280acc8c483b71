import numpy as np
import pytest

from spn_keras import testing
from spn_keras.layers import SliceEmbedder
from spn_keras.layers import SliceEmbedderConfig
from spn_keras.layers.slice_embedder import offset_table
from spn_keras.layers.slice_embedder import preceding_offsets
from spn_keras.layers.slice_embedder import window_offsets

TINY = dict(embedding_dim=2, conv_layers=1, conv_channels=6, residual_channels=6,
            attention_layers=1, attention_heads=2, attention_channels=4,
            attention_ffn_channels=4)


def _embedder(scale, channels, bits, conditioning_bits=0):
  return SliceEmbedder(SliceEmbedderConfig(scale=scale, channels=channels, bits=bits,
                                           conditioning_bits=conditioning_bits, **TINY))


@pytest.mark.parametrize("scale", [1, 2, 3, 4, 8])
def test_relative_layout(scale):
  offsets = preceding_offsets(scale)
  assert len(offsets) == 2 * scale * (scale - 1)
  assert len(window_offsets(scale)) == (2 * scale - 1)**2
  table = offset_table(scale, offsets)
  for t in range(scale * scale):
    present = table[t][table[t] >= 0]
    # Exactly the slices before the target, each once.
    assert sorted(present.tolist()) == list(range(t))
  if scale > 1:
    # The slice above the target is always in the same group, whatever the target.
    above = offsets.index((-1, 0))
    for t in range(scale, scale * scale):
      assert table[t, above] == t - scale


@pytest.mark.parametrize("conditioning_bits", [0, 2])
def test_layer_contract(conditioning_bits):
  rng = np.random.default_rng(0)
  slices = rng.integers(0, 4, size=(2, 4, 3, 2, 3))
  target = np.array([0, 3])
  kwargs = {}
  if conditioning_bits:
    kwargs["conditioning_slices"] = rng.integers(0, 4, size=(2, 4, 3, 2, 3))
  testing.run_layer_test(
      SliceEmbedder, dict(config=SliceEmbedderConfig(
          scale=2, channels=3, bits=2, conditioning_bits=conditioning_bits, **TINY)),
      (slices, target), call_kwargs=kwargs, expected_output_shape=(2, 3, 2, 4))


@pytest.mark.parametrize("scale", [2, 3])
def test_reads_exactly_the_preceding_slices(scale):
  """Perturbing slice u changes the features of target t iff u < t."""
  rng = np.random.default_rng(scale)
  layer = _embedder(scale, 1, 2)
  slices = rng.integers(0, 4, size=(1, scale * scale, 2, 2, 1))
  for t in range(scale * scale):
    base = np.asarray(layer(slices, np.array([t])))
    for u in range(scale * scale):
      perturbed = slices.copy()
      perturbed[0, u] = (perturbed[0, u] + 1) % 4
      moved = np.abs(np.asarray(layer(perturbed, np.array([t]))) - base).max() > 1e-6
      assert moved == (u < t), (t, u)


def test_conditioning_is_used_for_every_target():
  rng = np.random.default_rng(5)
  layer = _embedder(2, 1, 1, conditioning_bits=1)
  slices = rng.integers(0, 2, size=(1, 4, 2, 2, 1))
  conditioning = rng.integers(0, 2, size=(1, 4, 2, 2, 1))
  for t in range(4):
    base = np.asarray(layer(slices, np.array([t]), conditioning))
    for u in range(4):
      changed = conditioning.copy()
      changed[0, u] = 1 - changed[0, u]
      assert np.abs(np.asarray(layer(slices, np.array([t]), changed)) - base).max() > 1e-6


def test_conditioning_must_match_config():
  layer = _embedder(2, 1, 1)
  slices = np.zeros((1, 4, 2, 2, 1), np.int32)
  with pytest.raises(ValueError, match="conditioning_slices"):
    layer(slices, np.array([1]), slices)
  with pytest.raises(ValueError, match="rank 5"):
    _embedder(2, 1, 1)(slices[0], np.array([1]))


def test_config_is_checked():
  with pytest.raises(TypeError, match="SliceEmbedderConfig"):
    SliceEmbedder(7)
  with pytest.raises(ValueError, match="channels"):
    SliceEmbedderConfig(channels=2)
  with pytest.raises(ValueError, match="attention_layers"):
    SliceEmbedderConfig(attention_layers=-1)
  assert SliceEmbedder(SliceEmbedderConfig.tiny().to_dict()).config == SliceEmbedderConfig.tiny()
