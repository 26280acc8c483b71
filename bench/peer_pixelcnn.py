"""The peer of bench/likelihood_vs_peer.py: `tfp.distributions.PixelCNN`, trained for a time budget.

Runs in the peer's own environment (TensorFlow Probability needs `tf-keras`, which spn-keras
does not use), started by `likelihood_vs_peer.py`; it imports neither spn-keras nor Keras 3.
The model is the class docstring's MNIST example: `image_shape=(28, 28, 1)`, `num_resnet=1`,
`num_hierarchies=2`, `num_filters=32`, `num_logistic_mix=5`, `dropout_p=0.3`, Adam with a
learning rate of 1e-3, the negative mean log-likelihood as the loss (dropout on). Batches hold
32 shuffled training images (the docstring's example uses 16; 32 is spn-keras's batch).

Trains until `--seconds` of training have passed since the first step (graph tracing included;
the step that crosses the budget is the last), then prints one JSON object: steps, examples per
second, exact test bits/dim (`-log_prob(x) / (784 ln 2)` on the 8-bit test images, dropout off)
and the seconds of one `sample(--num_samples)` call in a `tf.function` (tracing included). With
`--eval_every_seconds`, the test bits/dim is also measured every that many seconds of training
(`test_curve`; the clock stops while it evaluates), so a long run shows whether the peer had
stopped improving or started to overfit.

  python bench/peer_pixelcnn.py --data=mnist5k.npz --seconds=1200
"""

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402
import tf_keras  # noqa: E402

IMAGE_SHAPE = (28, 28, 1)
DOCSTRING_CONFIG = dict(image_shape=IMAGE_SHAPE, num_resnet=1, num_hierarchies=2,
                        num_filters=32, num_logistic_mix=5, dropout_p=0.3)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data", required=True,
                      help="npz file with uint8 `train` and `test` images (N, 28, 28, 1).")
  parser.add_argument("--seconds", type=float, required=True, help="Training time budget.")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--learning_rate", type=float, default=1e-3)
  parser.add_argument("--num_samples", type=int, default=16)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--eval_every_seconds", type=float, default=0.0,
                      help="Also measure the test bits/dim every this many seconds of training "
                           "(0: only at the end).")
  args = parser.parse_args()
  tf.random.set_seed(args.seed)
  with np.load(args.data) as data:
    train_images, test_images = data["train"], data["test"]
  distribution = tfp.distributions.PixelCNN(**DOCSTRING_CONFIG)
  optimizer = tf_keras.optimizers.Adam(args.learning_rate)
  batches = iter(tf.data.Dataset.from_tensor_slices(train_images.astype(np.float32))
                 .shuffle(len(train_images), seed=args.seed).repeat()
                 .batch(args.batch_size, drop_remainder=True).prefetch(2))
  distribution.log_prob(next(batches))  # builds the network's variables

  @tf.function
  def train_step(images):
    with tf.GradientTape() as tape:
      loss = -tf.reduce_mean(distribution.log_prob(images, training=True))
    variables = distribution.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  dims_ln2 = np.prod(IMAGE_SHAPE) * math.log(2.0)

  def test_bits_per_dim():
    total = 0.0
    for batch in tf.data.Dataset.from_tensor_slices(test_images.astype(np.float32)).batch(100):
      total += float(tf.reduce_sum(distribution.log_prob(batch, training=False)))
    return -total / (len(test_images) * dims_ln2)

  steps, nats, train_s, test_curve = 0, float("nan"), 0.0, []
  next_eval_s = args.eval_every_seconds or math.inf
  while train_s < args.seconds:
    start = time.perf_counter()
    nats = float(train_step(next(batches)))
    train_s += time.perf_counter() - start
    steps += 1
    if not math.isfinite(nats):
      raise FloatingPointError(f"The peer's training loss is {nats} at step {steps}.")
    if train_s >= next_eval_s and train_s < args.seconds:
      test_curve.append({"train_s": train_s, "steps": steps,
                         "test_bits_per_dim": test_bits_per_dim()})
      next_eval_s += args.eval_every_seconds
  final_bits_per_dim = test_bits_per_dim()
  test_curve.append({"train_s": train_s, "steps": steps, "test_bits_per_dim": final_bits_per_dim})
  # Compiled, as spn-keras's samplers are; the timed call includes tracing on both sides.
  sample = tf.function(lambda: distribution.sample(args.num_samples, seed=args.seed))
  start = time.perf_counter()
  samples = sample().numpy()
  sample_s = time.perf_counter() - start
  if samples.shape != (args.num_samples, *IMAGE_SHAPE):
    raise RuntimeError(f"The peer sampled shape {samples.shape}.")
  print(json.dumps({
      "model": "tfp.distributions.PixelCNN (class docstring configuration)",
      "config": DOCSTRING_CONFIG,
      "tfp_version": tfp.__version__,
      "tensorflow_version": tf.__version__,
      "params": int(sum(np.prod(v.shape) for v in distribution.trainable_variables)),
      "optimizer": f"Adam({args.learning_rate})",
      "batch_size": args.batch_size,
      "steps": steps,
      "train_s": train_s,
      "examples_per_s": steps * args.batch_size / train_s,
      "last_train_bits_per_dim": nats / dims_ln2,
      "test_bits_per_dim": final_bits_per_dim,
      "test_curve": test_curve,
      "test_images": len(test_images),
      "num_samples": args.num_samples,
      "sample_s": sample_s,
  }), flush=True)


if __name__ == "__main__":
  main()
