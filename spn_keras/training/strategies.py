"""`tf.distribute` strategies by name (TF Model Garden style)."""

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")


def get_strategy(name, tpu_address=None):
  """Returns the strategy named `name`.

  Args:
    name: "one_device" (the first GPU, else the CPU), "mirrored" (all local GPUs, or the
      logical CPUs when there is no GPU), "multi_worker_mirrored" (workers from the
      `TF_CONFIG` environment variable) or "tpu".
    tpu_address: TPU name or address for "tpu" (None: from the environment).

  Returns:
    A `tf.distribute.Strategy`.
  """
  if name == "one_device":
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"`strategy` must be one of {STRATEGIES}, got {name!r}.")
