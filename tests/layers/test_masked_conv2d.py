import numpy as np
import pytest

from spn_keras import testing
from spn_keras.layers import MaskedConv2D


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("color_channels", [1, 3])
def test_layer_contract(mask_type, color_channels):
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 3 * color_channels)).astype("float32")
  testing.run_layer_test(
      MaskedConv2D,
      dict(filters=6, kernel_size=3, mask_type=mask_type, color_channels=color_channels),
      x,
      expected_output_shape=(2, 5, 6, 6))


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("color_channels", [1, 3])
def test_causal(mask_type, color_channels):
  height, width = 5, 6
  x = np.random.default_rng(1).normal(size=(1, height, width, color_channels)).astype("float32")
  layer = MaskedConv2D(6, 5, mask_type=mask_type, color_channels=color_channels)
  ranks = testing.raster_ranks(height, width, color_channels)
  changed = testing.assert_causal(layer, x, ranks, testing.grouped_feature_ranks(ranks, 6),
                                  inclusive=mask_type == "B")
  # The open taps really are used: output (2, 2) group 0 hears the pixel above it.
  above = np.ravel_multi_index((1, 2, 0), ranks.shape)
  assert changed[above, 2, 2, 0]


def test_mask_b_sees_own_group_and_mask_a_does_not():
  x = np.random.default_rng(2).normal(size=(1, 3, 3, 3)).astype("float32")
  ranks = testing.raster_ranks(3, 3, 3)
  center_green = np.ravel_multi_index((1, 1, 1), ranks.shape)
  for mask_type, expected in (("A", False), ("B", True)):
    layer = MaskedConv2D(3, 3, mask_type=mask_type, color_channels=3)
    changed = testing.dependence(layer, x)
    assert bool(changed[center_green, 1, 1, 1]) is expected  # green output, green input
    assert changed[center_green, 1, 1, 2]  # blue output always sees green
    assert not changed[center_green, 1, 1, 0]  # red output never sees green


def test_assert_causal_catches_an_unmasked_convolution():
  import keras
  x = np.random.default_rng(3).normal(size=(1, 4, 4, 1)).astype("float32")
  leaky = keras.layers.Conv2D(2, 3, padding="same")
  ranks = testing.raster_ranks(4, 4, 1)
  with pytest.raises(AssertionError, match="backwards"):
    testing.assert_causal(leaky, x, ranks, testing.grouped_feature_ranks(ranks, 2),
                          inclusive=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(filters=4, kernel_size=3, mask_type="C"), "mask_type"),
    (dict(filters=2, kernel_size=3, color_channels=3), "at least"),
    (dict(filters=4, kernel_size=2), "odd"),
    (dict(filters=3, kernel_size=3, color_channels=2), "color_channels"),
])
def test_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    MaskedConv2D(**kwargs)


def test_bad_inputs():
  with pytest.raises(ValueError, match="rank 4"):
    MaskedConv2D(3, 3)(np.zeros((2, 4, 3), "float32"))
  with pytest.raises(ValueError, match="input channels"):
    MaskedConv2D(3, 3, color_channels=3)(np.zeros((1, 4, 4, 2), "float32"))


def test_uneven_colour_groups_are_causal():
  """Table 4 uses 256 channels on RGB: groups of 86, 85, 85 maps must still be causal."""
  x = np.random.default_rng(4).normal(size=(1, 3, 4, 5)).astype("float32")  # 5 maps: 2, 2, 1
  first = MaskedConv2D(7, 3, mask_type="A", color_channels=3)
  second = MaskedConv2D(8, 3, mask_type="B", color_channels=3)
  image_ranks = testing.raster_ranks(3, 4, 3)
  input_ranks = testing.grouped_feature_ranks(image_ranks, 5)
  testing.assert_causal(lambda x: second(first(x)), x, input_ranks,
                        testing.grouped_feature_ranks(image_ranks, 8), inclusive=False)
