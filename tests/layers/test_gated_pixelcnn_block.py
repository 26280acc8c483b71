import keras
import numpy as np
import pytest

from spn_keras import testing
from spn_keras.layers import GatedPixelCNNBlock
from spn_keras.layers import masks
from spn_keras.layers import MaskedConv2D


def _stack(color_channels, num_layers, filters=6, kernel_size=3, conditioning=False):
  """A first mask-A block followed by mask-B residual blocks; returns fn(image) -> features."""
  blocks = [GatedPixelCNNBlock(filters, kernel_size, "A", color_channels, residual=False)]
  blocks += [GatedPixelCNNBlock(filters, kernel_size, "B", color_channels)
             for _ in range(num_layers - 1)]

  def fn(images):
    cond = None
    if conditioning:
      # Conditioning that only depends on rows strictly above (allowed information).
      shifted = keras.ops.pad(images, ((0, 0), (1, 0), (0, 0), (0, 0)))[:, :-1]
      cond = keras.ops.tile(shifted[..., :1], (1, 1, 1, 2))
    vertical = horizontal = images
    for block in blocks:
      vertical, horizontal = block(vertical, horizontal, conditioning=cond)
    return horizontal

  return fn


@pytest.mark.parametrize("mask_type, residual", [("A", False), ("B", True), ("B", False)])
@pytest.mark.parametrize("color_channels", [1, 3])
@pytest.mark.parametrize("with_conditioning", [False, True])
def test_layer_contract(mask_type, residual, color_channels, with_conditioning):
  rng = np.random.default_rng(0)
  filters = 6
  vertical = rng.normal(size=(2, 5, 4, 3)).astype("float32")
  horizontal = rng.normal(size=(2, 5, 4, filters)).astype("float32")
  call_kwargs = {}
  if with_conditioning:
    call_kwargs["conditioning"] = rng.normal(size=(2, 5, 4, 4)).astype("float32")
  testing.run_layer_test(
      GatedPixelCNNBlock,
      dict(filters=filters, kernel_size=3, mask_type=mask_type,
           color_channels=color_channels, residual=residual),
      (vertical, horizontal),
      call_kwargs=call_kwargs,
      expected_output_shape=((2, 5, 4, filters), (2, 5, 4, filters)))


@pytest.mark.parametrize("color_channels", [1, 3])
@pytest.mark.parametrize("conditioning", [False, True])
@pytest.mark.parametrize("filters", [6, 8])  # 8 maps on RGB: uneven groups of 3, 3, 2
def test_stack_is_causal(color_channels, conditioning, filters):
  height, width = 6, 5
  x = np.random.default_rng(1).normal(size=(1, height, width, color_channels)).astype("float32")
  ranks = testing.raster_ranks(height, width, color_channels)
  fn = _stack(color_channels, 4, filters=filters, conditioning=conditioning)
  testing.assert_causal(fn, x, ranks, testing.grouped_feature_ranks(ranks, filters),
                        inclusive=True)


@pytest.mark.parametrize("color_channels", [1, 3])
def test_stack_has_no_blind_spot(color_channels):
  """After L layers a pixel hears every earlier pixel within L columns, up-right ones too."""
  height, width, num_layers = 6, 9, 3
  x = np.random.default_rng(2).normal(size=(1, height, width, color_channels)).astype("float32")
  ranks = testing.raster_ranks(height, width, color_channels)
  changed = testing.assert_causal(_stack(color_channels, num_layers), x, ranks,
                                  testing.grouped_feature_ranks(ranks, 6), inclusive=True)
  row, col = 4, 4
  expected_seen = []
  for r in range(height):
    for c in range(width):
      if (r, c) < (row, col) and abs(c - col) <= num_layers and row - r <= num_layers:
        expected_seen.append((r, c))
  assert (3, 7) in expected_seen and (1, 6) in expected_seen  # up-right pixels are included
  for r, c in expected_seen:
    for ch in range(color_channels):
      index = np.ravel_multi_index((r, c, ch), ranks.shape)
      assert changed[index, row, col].any(), f"blind spot at {(r, c, ch)}"
  # Within the pixel, the last colour group hears the earlier channels.
  for ch in range(color_channels - 1):
    index = np.ravel_multi_index((row, col, ch), ranks.shape)
    assert changed[index, row, col, -1]


def test_a_plain_masked_conv_stack_has_a_blind_spot():
  """Control for the test above: stacked 3x3 mask-B convs miss the up-right region."""
  layers = [MaskedConv2D(4, 3, "A")] + [MaskedConv2D(4, 3, "B") for _ in range(3)]

  def fn(x):
    for layer in layers:
      x = layer(x)
    return x

  x = np.random.default_rng(3).normal(size=(1, 6, 9, 1)).astype("float32")
  changed = testing.dependence(fn, x)
  blind = np.ravel_multi_index((3, 7, 0), (6, 9, 1))
  assert not changed[blind, 4, 4].any()


def test_bad_arguments_and_inputs():
  with pytest.raises(ValueError, match="residual"):
    GatedPixelCNNBlock(4, mask_type="A", residual=True)
  with pytest.raises(ValueError, match="kernel_size"):
    GatedPixelCNNBlock(4, kernel_size=1)
  with pytest.raises(ValueError, match="filters"):
    GatedPixelCNNBlock(2, color_channels=3)
  x = np.zeros((1, 4, 4, 3), "float32")
  with pytest.raises(ValueError, match="horizontal"):
    GatedPixelCNNBlock(6, residual=True)(x, x)
  with pytest.raises(ValueError, match="rank 4"):
    GatedPixelCNNBlock(3, residual=False)(x[0], x[0])


@pytest.mark.parametrize("mask_type, residual", [("A", False), ("B", True)])
@pytest.mark.parametrize("color_channels, filters", [(1, 6), (3, 6), (3, 7)])
def test_row_and_group_steps_match_the_full_call(mask_type, residual, color_channels, filters):
  """`vertical_step` and `horizontal_group_step` reproduce `call` one row / one group at a time.

  The current column's input groups that group g must not see (> g for mask B, >= g for mask
  A) are NaN: the step must not read them.
  """
  rng = np.random.default_rng(8)
  height, width, k = 4, 5, 5
  half = k // 2 + 1
  block = GatedPixelCNNBlock(filters, k, mask_type, color_channels, residual=residual)
  in_channels = filters if residual else 3 * color_channels
  vertical = rng.normal(size=(2, height, width, 3)).astype("float32")
  horizontal = rng.normal(size=(2, height, width, in_channels)).astype("float32")
  conditioning = rng.normal(size=(2, height, width, 2)).astype("float32")
  v_out, h_out = (np.asarray(t) for t in block(vertical, horizontal, conditioning))
  v_padded = np.pad(vertical, ((0, 0), (half - 1, 0), (k // 2, k // 2), (0, 0)))
  h_padded = np.pad(horizontal, ((0, 0), (0, 0), (half - 1, 0), (0, 0)))
  weights = block.step_weights()
  order = block.horizontal_column_order()
  in_bounds = masks.group_bounds(in_channels, color_channels)
  above = np.zeros((2, width, 2 * filters), "float32")
  for r in range(height):
    for c in range(width):
      pre = (weights["horizontal_bias"] + above[:, c] @ weights["vertical_to_horizontal"]
             + conditioning[:, r, c] @ weights["conditioning_horizontal"]
             + h_padded[:, r, c:c + half - 1].reshape(2, -1) @ weights["previous"])
      current = [h_padded[:, r, c + half - 1, start:end] for start, end in in_bounds]
      gated = []
      for g, (start, end) in enumerate(masks.group_bounds(filters, color_channels)):
        seen = g + 1 if mask_type == "B" else g
        visible = current[:seen] + [np.full_like(x, np.nan) for x in current[seen:]]
        gated_group, out = block.horizontal_group_step(g, pre, visible, gated, weights)
        gated.append(gated_group)
        np.testing.assert_allclose(out, h_out[:, r, c, start:end], atol=1e-5)
    assert sorted(order) == list(range(2 * filters))
    conditioning_terms = conditioning[:, r] @ weights["conditioning_vertical"]
    pre, row = block.vertical_step(v_padded[:, r:r + half], conditioning_terms, weights)
    np.testing.assert_allclose(row, v_out[:, r], atol=1e-5)
    above = np.asarray(pre)

