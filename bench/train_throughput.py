"""Benchmark: training throughput and FLOP utilization of one SPN stage, float32 and bfloat16.

Prints one JSON object per line and precision, with `case`, `precision` ("float32" or
"bfloat16"), `examples_per_s`, `achieved_flops`, `peak_flops` and `utilization` (= achieved /
peak), plus the measurements behind them and where the time goes.

Case: the paper-shaped ImageNet 64 stage (`zoo.get("imagenet64").stages["size_upscaler"]`,
Table 4: 64x64 RGB 8 bit, S = 2, 32x32 slices) at batch `--batch_size` (default 1), under the
"float32" and "mixed_bfloat16" dtype policies. `--quick` (CI smoke test): an
`SPNConfig.tiny()`-sized RGB 8-bit stage of 8x8 images at batch 2, 1 warm-up and 2 timed steps,
and a small peak measurement.

What is measured, in one run:
- The training step is `Trainer.make_train_step()` of a `Trainer` built exactly as
  `spn_train` builds it (one_device strategy, RMSprop with Polyak averaging at the entry's
  momentum, the dtype policy): `training_loss` forward, gradient, optimizer update. Inputs are
  a fixed batch of random images repeated by `tf.data` (the input pipeline has its own
  benchmark, bench/input_pipeline.py). `step_s` is the mean wall time of the timed steps
  after `--warmup` steps (tracing is not timed); `examples_per_s = batch_size / step_s`.
- `flops_per_step` is TensorFlow's own float-operation count of the traced training step:
  `tf.compat.v1.profiler.profile(graph, options=ProfileOptionBuilder.float_operation())` over
  the step's concrete graph, which holds the forward pass, every gradient op (the tape's ops
  are traced into the same graph; there are no nested function calls or loops) and the
  optimizer update, with fully static shapes. The profiler adds up the statistics that
  TensorFlow registers per op type (2 * multiply-adds for Conv2D, its two backprop ops, MatMul
  and BatchMatMul; one per element for element-wise ops and reductions); the benchmark
  recomputes the same sum op by op to break it down by type and checks that both agree. The
  count is of the ops as written in the graph: masked convolutions count their masked zeros
  (the hardware multiplies them), and fusions by Grappler or oneDNN do not change it.
  `achieved_flops = flops_per_step / step_s`.
- `peak_flops` is the best rate of a large square matmul and of a large 3x3 convolution,
  measured in the same run, in the precision of the policy's compute dtype (float32, or
  bfloat16 for mixed_bfloat16), each timed `--peak_repeats` times after a warm-up.
- Where the time goes: `forward_s` (the `training_loss` forward alone, in a `tf.function`),
  `forward_backward_s` (forward and gradient), the rest of `step_s` being the optimizer
  update; `matmul_conv_flops_share` (the share of the counted FLOPs in convolutions and
  matrix products); and from a TensorFlow profiler trace of `--profile_steps` steps:
  `ops_per_step` (op executions), `op_s_per_step` (summed op durations over the executor's
  threads, so it may exceed the wall time) and `op_time_share`, the share of that op time of
  the largest op types (oneDNN's `_Mkl`/`_MklNative` kernel prefixes removed), with
  `matmul_conv_op_time_share` for convolutions and matrix products together.
- `load_avg_1m`: the machine's 1-minute load average when the case started (other jobs share
  the CPUs and depress the step and peak rates alike).

Where the time goes, as measured in two runs at batch 1 on the 2-core development machine (no
GPU; load average 3.7-4.3 from other jobs, which slow the step and the peak kernels alike):
utilization 0.51-0.56 in float32 (57-64 of 112-115 GFLOP/s) and 0.38 in bfloat16 (88-89 of
228-231 GFLOP/s; the peak is the 3x3 convolution every time). 99% of the counted FLOPs are in
convolutions and matrix products, yet these take only 65-78% of the op time: most of the rest
goes to element-wise ops that count almost no FLOPs (Mul 8-13%, SelectV2 3-4%, and Cast 5%
under bfloat16). The backward pass takes 2.1-2.4x the forward time for 2.0x its FLOPs; the rest
of the step (the optimizer update and fetching the batch) is 0-6% of it in float32 and 8-9% in
bfloat16. Run-to-run differences under this load are about 10%.

Usage: python bench/train_throughput.py [--quick] [--batch_size=1] [--warmup=2] [--steps=5]
"""

import argparse
import collections
import glob
import json
import os
import re
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402  (registered op statistics)
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from spn_keras import zoo  # noqa: E402
from spn_keras.models import SPNConfig  # noqa: E402
from spn_keras.models import SubscalePixelNetwork  # noqa: E402
from spn_keras.training import Trainer  # noqa: E402
from spn_keras.training import TrainerConfig  # noqa: E402
from spn_keras.training import get_strategy  # noqa: E402

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
# Convolutions and matrix products, also as oneDNN runs them (_MklFusedConv2D, ...WithBias).
_DENSE_OP = re.compile(r"Conv2D|MatMul")
_NESTED_OPS = {"PartitionedCall", "StatefulPartitionedCall", "While", "StatelessWhile", "If",
               "StatelessIf", "Case", "StatelessCase"}
# A traced op executes as an event "op/name:Type" (no space after the colon).
_OP_EVENT = re.compile(r"^[^\s:]+:(\w+)$")


def count_flops(graph):
  """TensorFlow's float-operation count of `graph`, in total and by op type.

  Returns:
    `(total, {op type: flops})`.

  Raises:
    RuntimeError: the graph calls functions or loops (whose ops neither count sees), a
      convolution or matrix product has shapes too unknown to count, or the profiler's total
      and the op-by-op sum disagree.
  """
  nested = {op.type for op in graph.get_operations()} & _NESTED_OPS
  if nested:
    raise RuntimeError(f"The graph holds {sorted(nested)}; their ops would not be counted.")
  options = (tf.compat.v1.profiler.ProfileOptionBuilder(
      tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build())
  total = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options).total_float_ops
  by_type = collections.Counter()
  for op in graph.get_operations():
    try:
      flops = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
    except ValueError:  # a shape the statistic needs is unknown; the profiler skips it too
      if _DENSE_OP.search(op.type):
        raise RuntimeError(f"Cannot count the FLOPs of {op.name} ({op.type}): unknown shapes.")
      flops = None
    if flops:
      by_type[op.type] += int(flops)
  if sum(by_type.values()) != total:
    raise RuntimeError(f"The profiler counts {total} FLOPs, the op-by-op sum "
                       f"{sum(by_type.values())}.")
  return int(total), dict(by_type)


def _best_seconds(fn, repeats):
  fn()  # warm-up: traces the function
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def measure_peak(dtype, quick, repeats):
  """Best FLOP/s of a large matmul and a large 3x3 convolution in `dtype`.

  Returns:
    `(flops_per_s, description of the winning kernel)`.
  """
  n = 512 if quick else 4096
  batch, size, channels = (2, 16, 64) if quick else (8, 64, 256)
  a = tf.cast(tf.random.normal([n, n]), dtype)
  b = tf.cast(tf.random.normal([n, n]), dtype)
  images = tf.cast(tf.random.normal([batch, size, size, channels]), dtype)
  kernel = tf.cast(tf.random.normal([3, 3, channels, channels]), dtype)
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
  conv = tf.function(lambda: tf.reduce_sum(tf.nn.conv2d(images, kernel, 1, "SAME")))
  rates = {
      f"matmul {n}x{n}x{n}": 2 * n**3 / _best_seconds(lambda: matmul().numpy(), repeats),
      f"conv3x3 {batch}x{size}x{size}x{channels}->{channels}":
          2 * batch * size * size * 9 * channels * channels
          / _best_seconds(lambda: conv().numpy(), repeats),
  }
  best = max(rates, key=rates.get)
  return rates[best], best


def _op_time_profile(run_steps, num_steps, logdir):
  """Op executions and durations of `run_steps()` from a TensorFlow profiler trace in `logdir`."""
  tf.profiler.experimental.start(logdir)
  run_steps()
  tf.profiler.experimental.stop()
  space = xplane_pb2.XSpace()
  path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
  with open(path, "rb") as f:
    space.ParseFromString(f.read())
  durations, count = collections.Counter(), 0
  for plane in space.planes:
    for line in plane.lines:
      for event in line.events:
        match = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
        if match:
          op_type = re.sub(r"^_(MklNative|Mkl)?", "", match.group(1))
          durations[op_type] += event.duration_ps * 1e-12
          count += 1
  total = sum(durations.values())
  if not total:
    raise RuntimeError(f"The profiler trace in {logdir} holds no op events.")
  return {
      "ops_per_step": count / num_steps,
      "op_s_per_step": total / num_steps,
      "matmul_conv_op_time_share": sum(d for t, d in durations.items()
                                       if _DENSE_OP.search(t)) / total,
      "op_time_share": {t: round(d / total, 4) for t, d in durations.most_common(8)},
  }


def measure(case, config, batch_size, precision, args, ema_momentum, workdir):
  """Times and counts the training step of the stage `config`; returns the JSON record.

  `workdir` receives the trainer's (empty) model folder and the profiler trace.
  """
  load = os.getloadavg()[0]
  policy = POLICIES[precision]
  images = tf.random.uniform([batch_size, config.height, config.width, config.channels], 0,
                             2**config.bits, tf.int32)

  def dataset_fn(context):
    del context  # one replica: the whole batch
    return tf.data.Dataset.from_tensors({"images": images}).repeat()

  strategy = get_strategy("one_device")
  trainer = Trainer(lambda: SubscalePixelNetwork(config), dataset_fn,
                    TrainerConfig(model_dir=os.path.join(workdir, f"{precision}_model"),
                                  train_steps=1, global_batch_size=batch_size,
                                  ema_momentum=ema_momentum, precision=policy),
                    strategy)
  try:
    train_step = trainer.make_train_step()
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    counter = iter(range(1, 1 << 62))

    def steps(n):
      for _ in range(n):
        float(train_step(iterator, tf.constant(next(counter), tf.int64)))

    model = trainer.model
    seed = tf.constant([0, 1], tf.int64)

    @tf.function
    def forward(images):
      return tf.reduce_sum(model.training_loss(images, seed=seed))

    @tf.function
    def forward_backward(images):
      with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model.training_loss(images, seed=seed))
      return tape.gradient(loss, model.trainable_variables)

    def mean_seconds(fn, n):
      start = time.perf_counter()
      for _ in range(n):
        tf.nest.map_structure(lambda t: t.numpy(), fn(), expand_composites=True)
      return (time.perf_counter() - start) / n

    steps(args.warmup)
    start = time.perf_counter()
    steps(args.steps)
    step_s = (time.perf_counter() - start) / args.steps
    forward_s = mean_seconds(lambda: forward(images), 1)  # traces
    forward_s = mean_seconds(lambda: forward(images), args.steps)
    forward_backward_s = mean_seconds(lambda: forward_backward(images), 1)  # traces
    forward_backward_s = mean_seconds(lambda: forward_backward(images), args.steps)
    step_flops, by_type = count_flops(
        train_step.get_concrete_function(iterator, tf.constant(1, tf.int64)).graph)
    forward_flops, _ = count_flops(forward.get_concrete_function(images).graph)
    backward_flops, _ = count_flops(forward_backward.get_concrete_function(images).graph)
    profile = _op_time_profile(lambda: steps(args.profile_steps), args.profile_steps,
                               os.path.join(workdir, f"{precision}_profile"))
  finally:
    keras.config.set_dtype_policy("float32")
  peak, peak_from = measure_peak(tf.bfloat16 if precision == "bfloat16" else tf.float32,
                                 args.quick, args.peak_repeats)
  achieved = step_flops / step_s
  return {
      "case": case,
      "precision": precision,
      "dtype_policy": policy,
      "device": strategy.extended.worker_devices[0],
      "batch_size": batch_size,
      "timed_steps": args.steps,
      "step_s": step_s,
      "examples_per_s": batch_size / step_s,
      "flops_per_step": step_flops,
      "achieved_flops": achieved,
      "peak_flops": peak,
      "peak_from": peak_from,
      "utilization": achieved / peak,
      "forward_s": forward_s,
      "forward_backward_s": forward_backward_s,
      "forward_flops": forward_flops,
      "forward_backward_flops": backward_flops,
      "matmul_conv_flops_share": sum(f for t, f in by_type.items()
                                     if _DENSE_OP.search(t)) / step_flops,
      **profile,
      "load_avg_1m": load,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="CI smoke test: a tiny stage, 2 timed steps, a small peak test.")
  parser.add_argument("--batch_size", type=int, default=None,
                      help="Examples per step (default 1, or 2 with --quick).")
  parser.add_argument("--warmup", type=int, default=None, help="Untimed steps (default 2).")
  parser.add_argument("--steps", type=int, default=None, help="Timed steps (default 5).")
  parser.add_argument("--profile_steps", type=int, default=1,
                      help="Steps traced by the profiler for the op-time breakdown.")
  parser.add_argument("--peak_repeats", type=int, default=3,
                      help="Timed repetitions of each peak kernel.")
  parser.add_argument("--precisions", default="float32,bfloat16",
                      help="Comma-separated subset of float32,bfloat16.")
  args = parser.parse_args()
  quick = args.quick
  args.batch_size = args.batch_size or (2 if quick else 1)
  args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
  args.steps = args.steps or (2 if quick else 5)
  for name in ("batch_size", "steps", "profile_steps", "peak_repeats"):
    if getattr(args, name) < 1:
      parser.error(f"--{name} must be >= 1, got {getattr(args, name)}.")
  if args.warmup < 0:
    parser.error(f"--warmup must be >= 0, got {args.warmup}.")
  precisions = args.precisions.split(",")
  if not precisions or any(p not in POLICIES for p in precisions):
    parser.error(f"--precisions must be a comma-separated subset of {list(POLICIES)}, "
                 f"got {args.precisions!r}.")
  tf.get_logger().setLevel("ERROR")  # the profiler's TF1 deprecation warnings
  entry = zoo.get("imagenet64")
  if quick:
    case, config = "tiny_spn_8x8_rgb", SPNConfig.tiny(image_size=8, channels=3, bits=8)
  else:
    case, config = "imagenet64_size_upscaler", entry.stages["size_upscaler"]
  with tempfile.TemporaryDirectory(prefix="train_throughput_") as workdir:
    for precision in precisions:
      print(json.dumps(measure(f"{case}_b{args.batch_size}", config, args.batch_size,
                               precision, args, entry.ema_momentum, workdir)), flush=True)


if __name__ == "__main__":
  main()
