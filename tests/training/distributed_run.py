"""Runs a few training steps of a tiny stage under a named strategy; prints the history as JSON.

Run as a script (the strategy tests need a fresh process: logical CPU devices and TF_CONFIG
must be set before TensorFlow starts):

  python tests/training/distributed_run.py --strategy=mirrored --cpus=2 --steps=3 --model_dir=D \
      [--jit_compile]
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--strategy", default="one_device")
  parser.add_argument("--cpus", type=int, default=1)
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--jit_compile", action="store_true")
  args = parser.parse_args()

  import tensorflow as tf
  if args.cpus > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus)
  import keras
  from spn_keras import data
  from spn_keras.models import SPNConfig
  from spn_keras.models import SubscalePixelNetwork
  from spn_keras.training import Trainer
  from spn_keras.training import TrainerConfig
  from spn_keras.training import get_strategy

  keras.utils.set_random_seed(0)
  config = SPNConfig.tiny(image_size=28, scale=2, bits=3)

  def model_fn():  # the Trainer seeds the initial weights: the same under every strategy
    return SubscalePixelNetwork(config)

  def dataset_fn(context):
    batch = context.get_per_replica_batch_size(args.batch_size)
    return data.make_dataset(
        "mnist5k", "train", batch_size=batch, repeat=True, seed=0, input_context=context,
        transform=lambda image: {"images": data.reduce_depth(3)(image)}, autotune=False)

  trainer = Trainer(model_fn, dataset_fn,
                    TrainerConfig(model_dir=args.model_dir, train_steps=args.steps,
                                  global_batch_size=args.batch_size, learning_rate=1e-3,
                                  ema_momentum=None, checkpoint_every=args.steps,
                                  jit_compile=args.jit_compile),
                    get_strategy(args.strategy))
  trainer.train()
  print(json.dumps({"replicas": trainer.strategy.num_replicas_in_sync,
                    "history": trainer.history}), flush=True)


if __name__ == "__main__":
  main()
