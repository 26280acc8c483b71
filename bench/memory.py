"""Benchmark: peak memory of one training step, SPN against the same decoder on the whole image.

The paper (section 3.2) says the SPN needs "up to S^2 = 64x lower" memory with S = 8, since its
decoder sees one 32 x 32 slice rather than the whole image. This script measures it. For each
image size it runs training steps (forward and backward: `training_loss` under a
`GradientTape`, then the gradient, as in `Trainer.make_train_step`; batch 1, float32, no
optimizer update) of two models:

- the SPN: `SPNConfig` with `scale = size / 32` (32 x 32 slices), its conditioning network
  included. One step scores one slice (32 * 32 * 3 dimensions).
- the decoder on the whole image (S = 1): a `SliceDecoder` with the SPN's own decoder fields
  and `image_size = size`. One step scores every dimension of the image.

Widths: Table 4's ImageNet 128 and 256 settings (`zoo.get("imagenet128")`, `"imagenet256"`),
except that `--attention_layers` and `--attention_heads` (default 1 and 2; Table 4: 8 and 10)
shrink the decoder's masked self-attention, equally in the SPN and in the whole-image decoder.
The paper's widths cannot fit: a whole-image decoder holds the float32 attention
probabilities, `heads * L^2` values per layer for `L = H * W` positions, for the backward pass.
That is 80 GiB at 128 x 128 (8 layers, 10 heads) and 1280 GiB at 256 x 256, against the 24 GiB
of the machines this runs on. Probes on the development machine put each head of a layer at
about 2.4 GiB of a 128 x 128 decoder's peak (measured) and Table 4's 15 gated PixelCNN layers
at about 5 GiB (extrapolated from 64 x 64), so 1 layer of 2 heads leaves a margin under the
cap. At 256 x 256 even one head of one layer cannot fit. Every row records the widths used.

Each model is measured in its own subprocess. On a CPU the subprocess's address space is
capped at `--memory_limit_gib` (default 20), or at 1 GiB below the memory available when the
case starts if that is lower, so that a model that does not fit fails to allocate rather than
exhausting the machine. On a GPU the device memory is capped instead (a logical device with
`memory_limit`).

What is measured: the peak memory of the subprocess above its baseline after imports, over
building the model (which runs one forward pass), tracing the step and `1 + --timed_steps`
executions of it. So the peak counts the weights, the gradients and the activations. The
baseline comes before the build because TensorFlow keeps freed memory for reuse, on a CPU too.
On a CPU the peak is the peak resident set size (`VmHWM` of `/proc/self/status`, reset through
`/proc/self/clear_refs`) minus the resident size at the baseline; on a GPU it is
`tf.config.experimental.get_memory_info` `peak`. `*_tensor_peak_bytes` is TensorFlow's own
peak of live tensor bytes on the device (after `reset_memory_stats` at the baseline), which
leaves out the runtime's other memory; null where TensorFlow keeps no statistics for the CPU
(its allocator does with oneDNN on, its default on Intel CPUs but not on AMD ones).

A decoder that cannot fit is not run when a lower bound on its memory already exceeds the cap;
otherwise its failure to allocate is reported. The bound is `(layers + 1) * heads * L^2 * 4`
bytes: at the backward pass of the last attention layer, every layer's probabilities are
alive, and so is the gradient with respect to that layer's probabilities. Either way
`decoder_peak_bytes` and `ratio` are null, with `decoder_error`, `decoder_lower_bound_bytes`
and `ratio_lower_bound` (= lower bound / SPN peak).

What the saving costs: one SPN step scores one slice, while a whole-image decoder step scores
every dimension. `spn_step_s` and `decoder_step_s` are the mean wall times of
`--timed_steps` steps after the first; the first, with tracing, is in `*_first_step_s`.
`*_dims_per_s` is the number of dimensions scored per second of training.

Prints one JSON object per size with `case` (e.g. "256x256 S=8"), `spn_peak_bytes`,
`decoder_peak_bytes`, `ratio` (= decoder / SPN peak), `measure`, the step times and
dimensions per second, parameter counts, the widths and the cap.

  python bench/memory.py            # 128 x 128 (S=4) and 256 x 256 (S=8)
  python bench/memory.py --quick    # CI smoke run: tiny widths, 32 x 32 (S=4), 64 x 64 (S=8)
"""

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from spn_keras import zoo  # noqa: E402
from spn_keras.models import SliceDecoder  # noqa: E402
from spn_keras.models import SliceDecoderConfig  # noqa: E402
from spn_keras.models import SPNConfig  # noqa: E402
from spn_keras.models import SubscalePixelNetwork  # noqa: E402

GIB = 1 << 30
MEASURES = {
    "CPU": "peak resident set size (VmHWM) above the resident size after imports: model "
           "build, tracing and training steps",
    "GPU": "peak GPU memory (tf.config.experimental.get_memory_info) after imports: model "
           "build, tracing and training steps",
}
_ALLOCATION_FAILURE = re.compile(r"OOM|bad_alloc|out of memory|cannot allocate|resource exhausted",
                                 re.IGNORECASE)


def _status_bytes(field):
  """A `kB` field of `/proc/self/status` (e.g. "VmRSS"), in bytes."""
  with open("/proc/self/status") as status:
    for line in status:
      if line.startswith(field + ":"):
        return int(line.split()[1]) * 1024
  raise RuntimeError(f"/proc/self/status has no {field}.")


def _memory_available_bytes():
  with open("/proc/meminfo") as meminfo:
    for line in meminfo:
      if line.startswith("MemAvailable:"):
        return int(line.split()[1]) * 1024
  raise RuntimeError("/proc/meminfo has no MemAvailable.")


def attention_lower_bound_bytes(config, height, width):
  """A lower bound on the memory of a training step of the decoder `config` on an image.

  At the backward pass of the last masked attention layer, the float32 probabilities of every
  layer (`heads * L * L` values each, `L = height * width`, batch 1) are alive, and so is the
  gradient with respect to that layer's probabilities.

  Returns:
    `(attention_layers + 1) * attention_heads * L**2 * 4` bytes, or 0 without attention.
  """
  if not config.attention_layers:
    return 0
  positions = height * width
  return (config.attention_layers + 1) * config.attention_heads * positions**2 * 4


def _child(args):
  """Builds one model, runs its training steps and prints one JSON object of measurements."""
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    tf.config.set_logical_device_configuration(
        gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=args.limit_bytes >> 20)])
  else:
    resource.setrlimit(resource.RLIMIT_AS, (args.limit_bytes, args.limit_bytes))
  device = "GPU:0" if gpus else "CPU:0"
  keras.utils.set_random_seed(0)
  if args.model == "spn":
    config = SPNConfig.from_json(args.config)
    model_class, target = SubscalePixelNetwork, config.scale**2 - 1  # last: all context real
  else:
    config = SliceDecoderConfig.from_json(args.config)
    model_class, target = SliceDecoder, 0
  with open("/proc/self/clear_refs", "w") as clear_refs:
    clear_refs.write("5")  # resets VmHWM to the current resident size
  baseline = _status_bytes("VmRSS")
  try:  # the CPU allocator keeps statistics only with oneDNN on (TF's default on Intel CPUs)
    tf.config.experimental.reset_memory_stats(device)
    tensor_stats = True
  except ValueError:  # "Cannot reset memory stats for device 'CPU:0'" (AMD Zen 3, seen)
    tensor_stats = False
  try:
    with tf.device(device):
      model = model_class(config)
      model.build()
      height, width, channels = model.image_shape
      images = tf.random.uniform([1, height, width, channels], 0, 2**model.bits, tf.int32)
      targets = tf.constant([target])

      @tf.function
      def train_step(images, targets):
        with tf.GradientTape() as tape:
          loss = tf.reduce_sum(model.training_loss(images, target_slice=targets))
        return loss, tape.gradient(loss, model.trainable_variables)

      start = time.perf_counter()
      float(train_step(images, targets)[0])
      first_step_s = time.perf_counter() - start
      start = time.perf_counter()
      for _ in range(args.timed_steps):
        float(train_step(images, targets)[0])
      step_s = (time.perf_counter() - start) / args.timed_steps
  except (tf.errors.ResourceExhaustedError, MemoryError) as error:
    lines = str(error).splitlines() or [""]
    reason = ([line for line in lines if _ALLOCATION_FAILURE.search(line)] or lines)[0]
    print(json.dumps({"error": f"{type(error).__name__}: {reason.strip()[:300]}"}), flush=True)
    return
  tensor_peak = tf.config.experimental.get_memory_info(device)["peak"] if tensor_stats else None
  slice_dims = (height // model.scale) * (width // model.scale) * channels
  print(json.dumps({
      "peak_bytes": tensor_peak if gpus else _status_bytes("VmHWM") - baseline,
      "tensor_peak_bytes": tensor_peak,
      "address_space_peak_bytes": _status_bytes("VmPeak"),
      "weights_bytes": sum(int(tf.size(v)) * tf.as_dtype(v.dtype).size for v in model.weights),
      "first_step_s": first_step_s,
      "step_s": step_s,
      "dims_per_step": slice_dims,
      "dims_per_s": slice_dims / step_s,
      "params": model.count_params(),
      "device": "GPU" if gpus else "CPU",
  }), flush=True)


def _run_child(model, config, limit_bytes, timed_steps):
  """Measures `model` ("spn" or "decoder") of `config` in a subprocess.

  Returns:
    The child's JSON object: its measurements, or `{"error": ...}`.
  """
  command = [sys.executable, os.path.abspath(__file__), "--child", f"--model={model}",
             f"--config={config.to_json()}", f"--limit_bytes={limit_bytes}",
             f"--timed_steps={timed_steps}"]
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
  if done.returncode == 0 and lines:
    return json.loads(lines[-1])
  stderr = done.stderr.strip().splitlines() or ["no output"]
  reason = ([line for line in stderr if _ALLOCATION_FAILURE.search(line)] or stderr)[-1]
  return {"error": f"exit status {done.returncode}: {reason[:300]}"}


def measure(size, spn_config, limit_gib, timed_steps, widths_note):
  """Measures the SPN `spn_config` and its whole-image decoder; returns the JSON record."""
  limit_bytes = int(limit_gib * GIB)
  if not tf.config.list_physical_devices("GPU"):
    limit_bytes = min(limit_bytes, _memory_available_bytes() - GIB)
  decoder_config = dataclasses.replace(spn_config, scale=1).decoder
  spn = _run_child("spn", spn_config, limit_bytes, timed_steps)
  if "error" in spn:
    raise RuntimeError(f"The SPN at {size}x{size} failed: {spn['error']}")
  lower_bound = attention_lower_bound_bytes(decoder_config, size, size)
  if lower_bound > limit_bytes:
    decoder = {"error": f"not run: a lower bound of {lower_bound / GIB:.1f} GiB (attention "
                        f"probabilities) exceeds the {limit_bytes / GIB:.1f} GiB cap"}
  else:
    decoder = _run_child("decoder", decoder_config, limit_bytes, timed_steps)
  fits = "error" not in decoder

  def decoder_value(name):
    return decoder[name] if fits else None

  record = {
      "case": f"{size}x{size} S={spn_config.scale}",
      "spn_peak_bytes": spn["peak_bytes"],
      "decoder_peak_bytes": decoder_value("peak_bytes"),
      "ratio": decoder["peak_bytes"] / spn["peak_bytes"] if fits else None,
      "measure": MEASURES[spn["device"]],
      "device": spn["device"],
      "batch_size": 1,
      "precision": "float32",
      "spn_step_s": spn["step_s"],
      "decoder_step_s": decoder_value("step_s"),
      "spn_dims_per_step": spn["dims_per_step"],
      "decoder_dims_per_step": size * size * spn_config.channels,
      "spn_dims_per_s": spn["dims_per_s"],
      "decoder_dims_per_s": decoder_value("dims_per_s"),
      "spn_first_step_s": spn["first_step_s"],
      "decoder_first_step_s": decoder_value("first_step_s"),
      "timed_steps": timed_steps,
      "spn_tensor_peak_bytes": spn["tensor_peak_bytes"],
      "decoder_tensor_peak_bytes": decoder_value("tensor_peak_bytes"),
      "spn_address_space_peak_bytes": spn["address_space_peak_bytes"],
      "decoder_address_space_peak_bytes": decoder_value("address_space_peak_bytes"),
      "spn_weights_bytes": spn["weights_bytes"],
      "decoder_weights_bytes": decoder_value("weights_bytes"),
      "spn_params": spn["params"],
      "decoder_params": decoder_value("params"),
      "memory_limit_bytes": limit_bytes,
      "widths": widths_note,
      "decoder_widths": {f.name: getattr(decoder_config, f.name)
                         for f in dataclasses.fields(decoder_config)
                         if f.name not in ("image_size", "context_channels")},
      "embedder_widths": {name: value for name, value in spn_config.embedder.to_dict().items()
                          if name not in ("scale", "channels", "bits", "conditioning_bits")},
      "load_avg_1m": os.getloadavg()[0],
  }
  if not fits:
    record.update(decoder_error=decoder["error"], decoder_lower_bound_bytes=lower_bound,
                  ratio_lower_bound=lower_bound / spn["peak_bytes"])
  return record


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="CI smoke run: tiny widths at 32x32 (S=4) and 64x64 (S=8).")
  parser.add_argument("--sizes", default=None,
                      help="Comma-separated image sides among 64, 128, 256 (default 128,256).")
  parser.add_argument("--attention_layers", type=int, default=1,
                      help="Masked attention layers of the decoder (Table 4: 8).")
  parser.add_argument("--attention_heads", type=int, default=2,
                      help="Heads of each masked attention layer (Table 4: 10).")
  parser.add_argument("--memory_limit_gib", type=float, default=20.0,
                      help="Memory cap of each measured subprocess (CPU: its address space).")
  parser.add_argument("--timed_steps", type=int, default=None,
                      help="Timed steps after the first (default 2, --quick 1).")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--model", choices=("spn", "decoder"), help=argparse.SUPPRESS)
  parser.add_argument("--config", help=argparse.SUPPRESS)
  parser.add_argument("--limit_bytes", type=int, help=argparse.SUPPRESS)
  args = parser.parse_args()
  args.timed_steps = args.timed_steps or (1 if args.quick else 2)
  if args.child:
    _child(args)
    return
  if args.quick:
    cases = [(size, SPNConfig.tiny(image_size=size, channels=3, bits=8, scale=size // 8),
              "quick: SPNConfig.tiny widths, 8x8 slices (not published)") for size in (32, 64)]
  else:
    cases = []
    for size in (int(s) for s in (args.sizes or "128,256").split(",")):
      if size not in (64, 128, 256):
        parser.error(f"--sizes must be among 64, 128, 256 (the paper's SPN settings), "
                     f"got {size}.")
      paper = zoo.get(f"imagenet{size}").stages["size_upscaler"]
      config = dataclasses.replace(paper, decoder=dataclasses.replace(
          paper.decoder, attention_layers=args.attention_layers,
          attention_heads=args.attention_heads))
      cases.append((size, config, (
          f"Table 4 ImageNet {size} widths, except the decoder's masked attention: "
          f"{args.attention_layers} layer(s) of {args.attention_heads} head(s) (Table 4: "
          f"{paper.decoder.attention_layers} of {paper.decoder.attention_heads}), in both "
          f"models")))
  for size, config, note in cases:
    print(json.dumps(measure(size, config, args.memory_limit_gib, args.timed_steps, note)),
          flush=True)


if __name__ == "__main__":
  main()
