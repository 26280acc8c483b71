"""Fits a tiny size upscaler for three steps under a MirroredStrategy of `--cpus` logical CPUs.

Run as a script (logical CPU devices must be set before TensorFlow starts); prints the per-step
losses as JSON:

  python tests/models/fit_run.py --cpus=2
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--cpus", type=int, default=1)
  args = parser.parse_args()

  import tensorflow as tf
  if args.cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus)
  import keras
  import numpy as np
  from spn_keras.models import SPNConfig
  from spn_keras.models import SubscalePixelNetwork

  images = np.random.default_rng(0).integers(0, 4, (4, 4, 4, 1)).astype(np.uint8)
  strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
  with strategy.scope():
    keras.utils.set_random_seed(0)
    model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, bits=2))
    model.compile(keras.optimizers.RMSprop(1e-3), first_slice_given=True, seed=3)
  dataset = tf.data.Dataset.from_tensors(images).repeat()
  history = model.fit(dataset, epochs=3, steps_per_epoch=1, verbose=0)
  print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                    "loss": history.history["loss"]}), flush=True)


if __name__ == "__main__":
  main()
