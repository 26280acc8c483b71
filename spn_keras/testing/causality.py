"""Causality checks: perturb one sub-pixel and see which outputs move.

An autoregressive model is a normalized distribution only if the prediction for a sub-pixel
never depends on that sub-pixel or on any later one in the ordering. These helpers measure the
dependence of every output on every input sub-pixel by perturbation (one forward pass over a
batch holding the unperturbed input and one copy per perturbed sub-pixel) and assert that it
respects a given ordering.

Orderings are integer "rank" arrays: `input_ranks[r, c, ch]` is the position of sub-pixel
`(r, c, ch)` in the generation order, and `output_ranks` gives, for every output element, the
rank of the sub-pixel it predicts (or belongs to). `raster_ranks` and `subscale_ranks` build
the two orderings of the paper (equations 1 and 2).
"""

import numpy as np
import tensorflow as tf

from spn_keras.layers import masks


def raster_ranks(height, width, channels):
  """Ranks of sub-pixels in raster order, then channels (paper eq. 1).

  Returns:
    int array `(height, width, channels)` with `rank = (r * width + c) * channels + ch`.
  """
  return np.arange(height * width * channels).reshape(height, width, channels)


def subscale_ranks(height, width, channels, scale):
  """Ranks of sub-pixels in the subscale ordering (paper eq. 2, SPN_SPEC section 2).

  Slices `t = a*S + b` come first by `t`, then pixels of a slice in raster order, then
  channels.

  Returns:
    int array `(height, width, channels)`.
  """
  h, w = height // scale, width // scale
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  meta = (rows % scale) * scale + (cols % scale)
  inner = (rows // scale) * w + (cols // scale)
  pixel_rank = meta * (h * w) + inner
  return pixel_rank[..., None] * channels + np.arange(channels)


def grouped_feature_ranks(input_ranks, features):
  """Ranks of the `features` maps of a channel-grouped layer (`MaskedConv2D` layout).

  Feature map `f` of pixel `(r, c)` belongs to colour group `channel_groups(features, C)[f]`
  and so to sub-pixel `(r, c, group)`.

  Args:
    input_ranks: `(H, W, C)` ranks of the sub-pixels.
    features: number of feature maps, at least `C`.

  Returns:
    int array `(H, W, features)`.
  """
  return input_ranks[..., masks.channel_groups(features, input_ranks.shape[-1])]


def dependence(fn, inputs, num_values=None, delta=1.0, atol=1e-5):
  """Which outputs of `fn` change when each input sub-pixel is perturbed.

  Args:
    fn: callable mapping a batch `(N, H, W, C)` to a tensor `(N, ...)` or a tuple of them
      (concatenated after flattening). It must treat batch elements independently.
    inputs: one example `(1, H, W, C)` (float or integer).
    num_values: for integer inputs, the number of values; a sub-pixel `v` is perturbed to
      `(v + 1) % num_values`. For float inputs `delta` is added instead.
    delta: perturbation of float inputs.
    atol: an output counts as changed when it moves by more than this.

  Returns:
    bool array `(H * W * C, *output_shape)`: row `i` marks the outputs that changed when
    sub-pixel `i` (in `np.ndindex((H, W, C))` order) was perturbed.
  """
  base = np.asarray(inputs)
  if base.ndim != 4 or base.shape[0] != 1:
    raise ValueError(f"`inputs` must be one example (1, H, W, C), got shape {base.shape}.")
  size = int(np.prod(base.shape[1:]))
  batch = np.repeat(base, size + 1, axis=0)
  flat = batch.reshape(size + 1, size)  # row 0 stays unperturbed
  rows = np.arange(1, size + 1)
  cols = np.arange(size)
  if np.issubdtype(base.dtype, np.integer):
    if num_values is None:
      raise ValueError("`num_values` is required for integer inputs.")
    flat[rows, cols] = (flat[rows, cols].astype(np.int64) + 1) % num_values
  else:
    flat[rows, cols] += delta

  def flat_outputs(images):
    outputs = [np.asarray(tf.cast(o, tf.float32))
               for o in tf.nest.flatten(fn(tf.convert_to_tensor(images)))]
    shape = outputs[0].shape[1:] if len(outputs) == 1 else None
    return np.concatenate([o.reshape(size + 1, -1) for o in outputs], axis=1), shape

  out, shape = flat_outputs(batch)
  # Each perturbed row is compared with the unperturbed example at the same row of a batch of
  # the same shape: oneDNN's kernels may round a row differently by its position in a batch
  # (seen: 1e-5 on a CPU with AMX), which a comparison with row 0 would take for a dependence.
  reference, _ = flat_outputs(np.repeat(base, size + 1, axis=0))
  changed = np.abs(out[1:] - reference[1:]) > atol
  return changed.reshape((size,) + shape) if shape is not None else changed


def assert_causal(fn, inputs, input_ranks, output_ranks, inclusive=False, num_values=None,
                  delta=1.0, atol=1e-5):
  """Asserts that no output at or before a perturbed sub-pixel in the ordering changes.

  Args:
    fn: see `dependence`.
    inputs: one example `(1, H, W, C)`.
    input_ranks: `(H, W, C)` ranks of the input sub-pixels.
    output_ranks: ranks of the outputs, broadcastable to `fn`'s output shape without the batch
      axis: the rank of the sub-pixel each output predicts.
    inclusive: if True, an output of rank `r` may depend on the input of rank `r` (mask "B"
      hidden layers); if False (a prediction), only on inputs of rank `< r`.
    num_values, delta, atol: see `dependence`.

  Returns:
    The dependence array from `dependence`, for further checks.

  Raises:
    AssertionError: naming the first perturbed sub-pixel that reached a forbidden output, or
      if no perturbation changed any output at all (the check would then prove nothing).
  """
  changed = dependence(fn, inputs, num_values=num_values, delta=delta, atol=atol)
  input_ranks = np.asarray(input_ranks).reshape(-1)
  output_ranks = np.broadcast_to(np.asarray(output_ranks), changed.shape[1:])
  if not changed.any():
    raise AssertionError("No output changed under any perturbation: the causality check "
                         "would be vacuous.")
  positions = list(np.ndindex(np.asarray(inputs).shape[1:]))
  for i, rank in enumerate(input_ranks):
    forbidden = output_ranks < rank if inclusive else output_ranks <= rank
    leaks = np.argwhere(changed[i] & forbidden)
    if leaks.size:
      leak = tuple(int(v) for v in leaks[0])
      raise AssertionError(
          f"Sub-pixel {positions[i]} (rank {rank}) changed output {leak} of rank "
          f"{int(output_ranks[leak])}: information flows backwards in the ordering "
          f"({len(leaks)} forbidden outputs changed).")
  return changed
