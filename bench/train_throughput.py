"""Benchmark: training throughput and FLOP utilization of one SPN stage, float32 and bfloat16.

Prints one JSON object per line: one per batch size, precision and step kind, with `case`,
`precision` ("float32" or "bfloat16"), `batch_size`, `jit_compile` (whether the step is
XLA-compiled, `TrainerConfig.jit_compile`), `examples_per_s`, `achieved_flops`, `peak_flops`
and `utilization` (= achieved / peak), `model_peak_flops` and `model_utilization` (against the
best rate of the model's own largest convolution and matrix-product shapes), plus the
measurements behind them and where the time goes.

Case: the paper-shaped ImageNet 64 stage (`zoo.get("imagenet64").stages["size_upscaler"]`,
Table 4: 64x64 RGB 8 bit, S = 2, 32x32 slices) at batches `--batch_sizes` (default 1 and 8),
under the "float32" and "mixed_bfloat16" dtype policies, each with the plain and the
XLA-compiled step. `--quick` (CI smoke test): an `SPNConfig.tiny()`-sized RGB 8-bit stage of
8x8 images at batch 2, 1 warm-up and 2 timed steps, and small peak measurements.

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
  `model_peak_flops` is the best rate, measured the same way, of the stage's own largest
  shapes at the row's batch: the conditioning network's 3x3 convolution, a PixelCNN layer's
  vertical-stack convolution and the output layers' 1x1 product.
- XLA rows (`jit_compile`) count the FLOPs of the plain step of the same precision (the same
  computation; the profiler cannot look inside a compiled function) and have no op-time
  breakdown.
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

Usage: python bench/train_throughput.py [--quick] [--batch_sizes=1,8] [--warmup=2] [--steps=5]
"""

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
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


def measure_model_peak(config, batch_size, dtype, repeats):
  """Best FLOP/s of the stage's own largest convolution and matrix-product shapes.

  Returns:
    `(flops_per_s, description of the winning kernel)`.
  """
  h, w = config.slice_size
  decoder, embedder = config.decoder, config.embedder
  k, f = decoder.kernel_size, decoder.pixelcnn_channels
  half = k // 2 + 1
  positions = batch_size * h * w
  shapes = {  # name: (input shape, kernel shape, FLOPs)
      f"embedder conv3x3 {batch_size}x{h}x{w}x{embedder.conv_channels}"
      f"->{embedder.residual_channels}":
          ((batch_size, h, w, embedder.conv_channels),
           (3, 3, embedder.conv_channels, embedder.residual_channels), 9),
      f"vertical conv{half}x{k} {batch_size}x{h}x{w}x{f}->{2 * f}":
          ((batch_size, h, w, f), (half, k, f, 2 * f), half * k),
  }
  rates = {}
  for name, (image_shape, kernel_shape, taps) in shapes.items():
    images = tf.cast(tf.random.normal(image_shape), dtype)
    kernel = tf.cast(tf.random.normal(kernel_shape), dtype)
    conv = tf.function(lambda images=images, kernel=kernel: tf.reduce_sum(
        tf.nn.conv2d(images, kernel, 1, "SAME")))
    flops = 2 * positions * taps * kernel_shape[2] * kernel_shape[3]
    rates[name] = flops / _best_seconds(lambda conv=conv: conv().numpy(), repeats)
  residual, outputs = decoder.pixelcnn_residual_channels, config.channels * 2**config.bits
  hidden = tf.cast(tf.random.normal([positions, residual]), dtype)
  weights = tf.cast(tf.random.normal([residual, outputs]), dtype)
  matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(hidden, weights)))
  rates[f"output matmul {positions}x{residual}x{outputs}"] = (
      2 * positions * residual * outputs / _best_seconds(lambda: matmul().numpy(), repeats))
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


def measure(case, config, batch_size, precision, jit_compile, args, ema_momentum, workdir,
            plain_flops=None):
  """Times and counts the training step of the stage `config`; returns the JSON record.

  `workdir` receives the trainer's (empty) model folder and the profiler trace. An XLA step
  (`jit_compile`) takes `plain_flops`, the FLOP counts of the plain step's record
  (`flops_per_step`, `forward_flops`, `forward_backward_flops`, `matmul_conv_flops_share`).
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
                                  ema_momentum=ema_momentum, precision=policy,
                                  jit_compile=jit_compile),
                    strategy)
  try:
    train_step = trainer.make_train_step()
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    counter = iter(range(1, 1 << 62))

    def steps(n):
      for _ in range(n):
        float(train_step(iterator, tf.constant(next(counter), tf.int64))[0])  # bits/dim

    model = trainer.model
    seed = tf.constant([0, 1], tf.int64)

    @tf.function(jit_compile=jit_compile)
    def forward(images):
      return tf.reduce_sum(model.training_loss(images, seed=seed))

    @tf.function(jit_compile=jit_compile)
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
    if jit_compile:
      counts = {name: plain_flops[name] for name in (
          "flops_per_step", "forward_flops", "forward_backward_flops",
          "matmul_conv_flops_share")}
      profile = {}
    else:
      step_flops, by_type = count_flops(
          train_step.get_concrete_function(iterator, tf.constant(1, tf.int64)).graph)
      counts = {
          "flops_per_step": step_flops,
          "forward_flops": count_flops(forward.get_concrete_function(images).graph)[0],
          "forward_backward_flops": count_flops(
              forward_backward.get_concrete_function(images).graph)[0],
          "matmul_conv_flops_share": sum(f for t, f in by_type.items()
                                         if _DENSE_OP.search(t)) / step_flops,
      }
      profile = _op_time_profile(lambda: steps(args.profile_steps), args.profile_steps,
                                 os.path.join(workdir, f"{precision}_profile"))
  finally:
    keras.config.set_dtype_policy("float32")
  dtype = tf.bfloat16 if precision == "bfloat16" else tf.float32
  peak, peak_from = measure_peak(dtype, args.quick, args.peak_repeats)
  model_peak, model_peak_from = measure_model_peak(config, batch_size, dtype, args.peak_repeats)
  achieved = counts["flops_per_step"] / step_s
  return {
      "case": case,
      "precision": precision,
      "dtype_policy": policy,
      "batch_size": batch_size,
      "jit_compile": jit_compile,
      "device": strategy.extended.worker_devices[0],
      "timed_steps": args.steps,
      "step_s": step_s,
      "examples_per_s": batch_size / step_s,
      "achieved_flops": achieved,
      "peak_flops": peak,
      "peak_from": peak_from,
      "utilization": achieved / peak,
      "model_peak_flops": model_peak,
      "model_peak_from": model_peak_from,
      "model_utilization": achieved / model_peak,
      "forward_s": forward_s,
      "forward_backward_s": forward_backward_s,
      **counts,
      **profile,
      "load_avg_1m": load,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="CI smoke test: a tiny stage, 2 timed steps, a small peak test.")
  parser.add_argument("--batch_sizes", default=None,
                      help="Comma-separated examples per step (default 1,8, or 2 with --quick).")
  parser.add_argument("--step_kinds", default="plain,xla",
                      help="Comma-separated subset of plain,xla (XLA-compiled steps).")
  parser.add_argument("--warmup", type=int, default=None, help="Untimed steps (default 2).")
  parser.add_argument("--steps", type=int, default=None, help="Timed steps (default 5).")
  parser.add_argument("--profile_steps", type=int, default=1,
                      help="Steps traced by the profiler for the op-time breakdown.")
  parser.add_argument("--peak_repeats", type=int, default=3,
                      help="Timed repetitions of each peak kernel.")
  parser.add_argument("--precisions", default="float32,bfloat16",
                      help="Comma-separated subset of float32,bfloat16.")
  parser.add_argument("--case", default=None, help=argparse.SUPPRESS)  # one case: child mode
  parser.add_argument("--plain_flops", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  quick = args.quick
  try:
    batch_sizes = [int(b) for b in (args.batch_sizes or ("2" if quick else "1,8")).split(",")]
  except ValueError:
    parser.error(f"--batch_sizes must be comma-separated ints, got {args.batch_sizes!r}.")
  if any(b < 1 for b in batch_sizes):
    parser.error(f"--batch_sizes must be >= 1, got {batch_sizes}.")
  kinds = args.step_kinds.split(",")
  if not kinds or any(kind not in ("plain", "xla") for kind in kinds):
    parser.error(f"--step_kinds must be a comma-separated subset of plain,xla, "
                 f"got {args.step_kinds!r}.")
  args.warmup = args.warmup if args.warmup is not None else (1 if quick else 2)
  args.steps = args.steps or (2 if quick else 5)
  for name in ("steps", "profile_steps", "peak_repeats"):
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
  if args.case:  # child mode: one case, in a process of its own
    batch_size, precision, kind = args.case.split(",")
    plain = json.loads(args.plain_flops) if args.plain_flops else None
    with tempfile.TemporaryDirectory(prefix="train_throughput_") as workdir:
      print(json.dumps(measure(case, config, int(batch_size), precision, kind == "xla", args,
                               entry.ema_momentum, workdir, plain)), flush=True)
    return
  # Each case runs in a fresh process: memory a case leaves behind (graphs, compiled programs)
  # must not starve the next one (the XLA step at batch 8 needs 8+ GiB of its own).
  forwarded = [f"--warmup={args.warmup}", f"--steps={args.steps}",
               f"--profile_steps={args.profile_steps}", f"--peak_repeats={args.peak_repeats}"]
  forwarded += ["--quick"] if quick else []

  def run_case(batch_size, precision, kind, plain=None):
    command = [sys.executable, __file__, *forwarded, f"--case={batch_size},{precision},{kind}"]
    if plain is not None:
      command.append(f"--plain_flops={json.dumps(plain)}")
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])

  for batch_size in batch_sizes:
    for precision in precisions:
      plain = None
      for kind in ("plain", "xla"):
        if kind not in kinds:
          continue
        if kind == "xla" and plain is None:  # the FLOP counts come from the plain step
          plain = run_case(batch_size, precision, "plain")
        record = run_case(batch_size, precision, kind, plain)
        if kind == "plain":
          plain = record
        print(json.dumps(record), flush=True)

if __name__ == "__main__":
  main()
