"""Tensor operations shared by layers, models and data pipelines.

- `bit_depth`: `split_bits`, `join_bits`, `reduce_bits` (multidimensional upscaling's depth).
- `slice_updates`: `update_slice`, in-place block writes for XLA or for plain graphs (TF
  Serving).
- `likelihood`: the checks of images and the bits per dimension that every exact likelihood
  shares.
- `random_streams`: the stateless seeds of a run's random streams (a stage's, a slice's, the
  target slices of a training step).
"""

from spn_keras.ops.bit_depth import join_bits
from spn_keras.ops.bit_depth import reduce_bits
from spn_keras.ops.bit_depth import split_bits
from spn_keras.ops.slice_updates import update_slice

__all__ = ["join_bits", "reduce_bits", "split_bits", "update_slice"]
