"""`update_slice`: writes a block into a tensor at dynamic start indices, XLA's way or portably.

`keras.ops.slice_update` lowers on the TensorFlow backend to `XlaDynamicUpdateSlice`, an op
with no ordinary CPU/GPU kernel: under XLA (`jit_compile=True`) it is an in-place update and
the fastest there is, but a plain graph needs XLA to compile it on demand, which TF Serving
does not do (see `spn_keras.export.servable_ops`). The portable variant writes the same
values with `tf.tensor_scatter_nd_update`, which has ordinary kernels (and updates its input
in place when nothing else holds it, as in a `tf.while_loop`'s state). Both copy values, no
arithmetic: their results are bit-identical.
"""

from keras import ops
import tensorflow as tf


def _indexed_axes(inputs, start_indices, updates):
  """How many leading axes the portable update indexes: all up to the last one that is not
  whole (a start other than the Python int 0, or a size not statically the input's)."""
  for axis in reversed(range(1, len(start_indices))):
    start, size = start_indices[axis], updates.shape[axis]
    if not (isinstance(start, int) and start == 0 and size is not None
            and size == inputs.shape[axis]):
      return axis + 1
  return 1


def update_slice(inputs, start_indices, updates, portable=False):
  """`inputs` with the block `updates` written at `start_indices`.

  Args:
    inputs: tensor `(n_0, ..., n_{r-1})`.
    start_indices: `r` start indices: Python ints or int32 scalar tensors.
    updates: tensor `(u_0, ..., u_{r-1})` of `inputs`' dtype, with `start_i + u_i <= n_i`.
    portable: False: `keras.ops.slice_update` (`XlaDynamicUpdateSlice`: for programs XLA
      compiles); True: `tf.tensor_scatter_nd_update`, ordinary kernels (for plain graphs
      and TF Serving).

  Returns:
    A tensor like `inputs`: `inputs[start_0:start_0 + u_0, ...] = updates`.
  """
  if not portable:
    return ops.slice_update(inputs, start_indices, updates)
  updates = tf.convert_to_tensor(updates, inputs.dtype)
  # One index per element of the leading axes up to the last partial one; the whole
  # trailing axes are copied as blocks.
  axes = _indexed_axes(inputs, start_indices, updates)
  sizes = tf.shape(updates)
  grid = tf.meshgrid(*[tf.range(sizes[axis]) + tf.cast(start_indices[axis], tf.int32)
                       for axis in range(axes)], indexing="ij")
  indices = tf.stack(grid, axis=-1)  # (u_0, ..., u_{axes-1}, axes)
  outputs = tf.tensor_scatter_nd_update(inputs, indices, updates)
  outputs.set_shape(inputs.shape)  # the op's shape inference gives up on unknown dimensions
  return outputs
