"""Tensor operations shared by layers, models and data pipelines."""

from spn_keras.ops.bit_depth import join_bits
from spn_keras.ops.bit_depth import reduce_bits
from spn_keras.ops.bit_depth import split_bits

__all__ = ["join_bits", "reduce_bits", "split_bits"]
