import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras.export.servable_ops import graph_xla_only_ops
from spn_keras.ops import update_slice

RNG = np.random.default_rng(0)
# (inputs shape, start indices (None: a tensor start), updates shape): the cached sampler's
# updates (values, attention row, horizontal inputs, attention caches) and a partial first axis.
CASES = [
    ((3, 4, 5, 2), (0, None, None, 0), (3, 1, 1, 2)),
    ((3, 5, 6), (0, None, 0), (3, 1, 6)),
    ((7, 3, 4), (None, 0, 0), (1, 3, 4)),
    ((2, 3, 4, 9), (0, 0, 0, None), (2, 3, 4, 1)),
    ((6, 4), (None, 0), (2, 4)),
    ((6, 4), (0, 0), (3, 4)),
]


def _starts(starts, shape, updates_shape):
  return tuple(int(RNG.integers(0, n - u + 1)) if s is None else s
               for s, n, u in zip(starts, shape, updates_shape))


@pytest.mark.parametrize("shape, starts, updates_shape", CASES)
@pytest.mark.parametrize("dtype", ["float32", "int32", "bfloat16"])
def test_portable_update_is_bit_identical_to_slice_update(shape, starts, updates_shape, dtype):
  inputs = tf.cast(RNG.normal(size=shape) * 100, dtype)
  updates = tf.cast(RNG.normal(size=updates_shape) * 100, dtype)
  starts = _starts(starts, shape, updates_shape)
  expected = keras.ops.slice_update(inputs, starts, updates)
  tensor_starts = tuple(s if s == 0 else tf.constant(s) for s in starts)

  @tf.function(jit_compile=False, input_signature=[
      tf.TensorSpec([None, *shape[1:]], dtype), tf.TensorSpec([None, *updates_shape[1:]], dtype)])
  def portable(inputs, updates):  # dynamic leading dimension, tensor starts: as in the sampler
    out = update_slice(inputs, tensor_starts, updates, portable=True)
    assert out.shape.as_list() == [None, *shape[1:]]  # static shape kept
    return out

  out = portable(inputs, updates)
  assert out.dtype == inputs.dtype
  np.testing.assert_array_equal(tf.bitcast(out, tf.uint16) if dtype == "bfloat16" else out,
                                tf.bitcast(expected, tf.uint16) if dtype == "bfloat16"
                                else expected)
  np.testing.assert_array_equal(update_slice(inputs, starts, updates), expected)


def test_only_the_portable_variant_has_ordinary_kernels():
  spec = [tf.TensorSpec([4, 3], tf.float32), tf.TensorSpec([1, 3], tf.float32),
          tf.TensorSpec([], tf.int32)]

  def op_types(portable):
    fn = tf.function(lambda x, u, i: update_slice(x, (i, 0), u, portable), input_signature=spec)
    return {op for _, op in graph_xla_only_ops(fn.get_concrete_function().graph.as_graph_def())}

  assert op_types(portable=False) == {"XlaDynamicUpdateSlice"}
  assert op_types(portable=True) == set()
