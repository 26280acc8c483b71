"""Input pipelines for `tf.distribute` strategies.

```python
strategy = tf.distribute.MirroredStrategy()
dataset_fn = make_dataset_fn("tfds:downsampled_imagenet/64x64", "train", global_batch_size=2048,
                             repeat=True)
dataset = strategy.distribute_datasets_from_function(dataset_fn)
```

Each input pipeline (one per worker) reads a disjoint share of the data (see
`make_dataset`'s `input_context`) and batches with the per-replica batch size
`input_context.get_per_replica_batch_size(global_batch_size)`; the strategy then hands each
replica its batches. The loss must still be divided by the global batch (SPN_SPEC, STYLE).
"""

from spn_keras.argument_checks import check_int
from spn_keras.data.input_pipeline import make_dataset


def make_dataset_fn(spec, split="train", *, global_batch_size, **kwargs):
  """A `dataset_fn(input_context)` for `strategy.distribute_datasets_from_function`.

  Args:
    spec: a dataset spec, as in `make_dataset`.
    split: "train" or "test".
    global_batch_size: the batch summed over all replicas; must be divisible by the number of
      replicas in sync.
    **kwargs: other arguments of `make_dataset` (not `batch_size` nor `input_context`).

  Returns:
    `dataset_fn(input_context) -> tf.data.Dataset` of per-replica batches
    `(global_batch_size / replicas, H, W, C)`.
  """
  check_int("global_batch_size", global_batch_size)
  for name in ("batch_size", "input_context"):
    if name in kwargs:
      raise TypeError(f"`make_dataset_fn` sets `{name}` itself; do not pass it.")

  def dataset_fn(input_context):
    batch_size = input_context.get_per_replica_batch_size(global_batch_size)
    return make_dataset(spec, split, batch_size=batch_size, input_context=input_context,
                        **kwargs)

  return dataset_fn
