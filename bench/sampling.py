"""Benchmark: sampling speed, naive against cached side by side, and what a user waits for.

Prints one JSON object per line.

Default mode (`sampling`): seconds per sub-pixel step of naive recomputation against the cached
sampler, measured in one run on the same random-weight model, context and noise. A step is one
sub-pixel of one slice for the whole batch. Every sampler is called once first (tracing and
XLA compilation are not timed), then timed `--repeats` times (the fastest counts). Rows carry
`case`, `batch_size`, `naive_steps`, `cached_steps`, `naive_s_per_step`, `cached_s_per_step`
(the default sampler: XLA, float32), `speedup` (= naive / cached), and for the paper-shaped
stage also `cached_graph_s_per_step` (the same program as a plain TensorFlow graph,
`jit_compile=False`, as the export serves it: in-place updates with the portable
`spn_keras.ops.update_slice`, `tf.tensor_scatter_nd_update`, the fastest of the plain-graph
variants measured), `xla_over_graph` (graph / XLA seconds) and
`cached_bfloat16_s_per_step` (`compute_dtype="bfloat16"`, not bit-identical).

Cases:
- `small_decoder`: a small 16x16 RGB 3-bit slice decoder, whole slice, batch 1 and 16.
- `imagenet64`: the paper-shaped ImageNet 64 SPN stage (Table 4, 32x32 RGB 8-bit slices)
  generating slice 1, at batch 1, 16 and 64. Naive: `--naive_steps` sub-pixels (fewer at
  larger batches: a naive whole slice takes hours); cached: whole rows from the top (its cost
  per step does not depend on the position: attention reads the whole cache, masked). The naive
  step cost does not depend on the position either.

`--wait` mode (`sample_wait`): seconds a user waits for samples of random-weight pipelines at
the paper's Table 4 widths, `Pipeline.sample` with the default sampler: one full image of
`imagenet32` and `imagenet64`, and one slice of `imagenet128_mdu`'s size upscaler (slice 1
given slice 0), at batch 1 and 8. Rows carry `case`, `batch_size`, `sub_pixels` (generated per
image), `first_call_s` (including tracing and XLA compilation) and `seconds` (a second call).

Usage: python bench/sampling.py [--wait] [--quick]
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from spn_keras import zoo  # noqa: E402
from spn_keras.models import SliceDecoder  # noqa: E402
from spn_keras.models import SliceDecoderConfig  # noqa: E402
from spn_keras.models import SPNConfig  # noqa: E402
from spn_keras.models import SubscalePixelNetwork  # noqa: E402
from spn_keras.sampling import CachedSliceSampler  # noqa: E402
from spn_keras.sampling.sub_pixel_choice import gumbel_noise  # noqa: E402


def _seconds(fn, repeats=1):
  """The fastest of `repeats` timed calls of `fn` (its tensors fetched)."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
    times.append(time.perf_counter() - start)
  return min(times)


def _slice_inputs(model, batch_size):
  """Zero slices `(B, S*S, h, w, C)` and a slice's Gumbel noise for sampling from `model`."""
  height, width, channels = model.image_shape
  s = model.scale
  h, w = height // s, width // s
  slices = tf.zeros([batch_size, s * s, h, w, channels], tf.int32)
  noise = gumbel_noise([batch_size, h, w, channels, 2**model.bits],
                       tf.constant([0, 1], tf.int64))
  return slices, noise


def measure_steps(case, model, batch_size, target, naive_steps, cached_rows, repeats,
                  variants=False):
  """Times naive and cached generation of slice `target` of `model`, seconds per step."""
  slices, noise = _slice_inputs(model, batch_size)
  w, channels = slices.shape[3], slices.shape[4]
  temperature = tf.constant(1.0)
  context = model._slice_context(slices, tf.fill([batch_size], target), None)

  def naive(steps):
    return model._sample_slice_naive(slices, tf.constant(target), None, temperature, noise,
                                     False, tf.constant(steps))

  def cached_step_seconds(**options):
    sampler = CachedSliceSampler(model._slice_decoder(), **options)
    sampler.sample(context, noise, temperature, max_rows=1)  # warm-up: traces and compiles
    seconds = _seconds(lambda: sampler.sample(context, noise, temperature, max_rows=cached_rows),
                       repeats)
    return seconds / (cached_rows * w * channels)

  naive(1)  # warm-up: traces the graph
  naive_s = _seconds(lambda: naive(naive_steps)) / naive_steps
  cached_s = cached_step_seconds()
  result = {
      "case": case,
      "batch_size": batch_size,
      "naive_steps": naive_steps,
      "cached_steps": cached_rows * w * channels,
      "naive_s_per_step": naive_s,
      "cached_s_per_step": cached_s,
      "speedup": naive_s / cached_s,
  }
  if variants:
    graph_s = cached_step_seconds(jit_compile=False)
    result.update(cached_graph_s_per_step=graph_s, xla_over_graph=graph_s / cached_s,
                  cached_bfloat16_s_per_step=cached_step_seconds(compute_dtype="bfloat16"))
  return result


def measure_wait(case, pipeline, batch_size, stage=None):
  """Seconds to sample `batch_size` images of `pipeline`, or one slice of its `stage`."""
  if stage is None:
    sample = lambda: pipeline.sample(batch_size, seed=0)  # noqa: E731
    height, width, channels = pipeline.image_shape
    sub_pixels = height * width * channels
  else:
    model = pipeline.stages[stage]
    model.build()
    slices, noise = _slice_inputs(model, batch_size)
    sample = lambda: model._sample_slice_cached(  # noqa: E731
        slices, tf.constant(1), None, tf.constant(1.0), noise, False)
    sub_pixels = int(tf.size(slices[0, 0]))
  first = _seconds(sample)
  return {"case": case, "batch_size": batch_size, "sub_pixels": sub_pixels,
          "first_call_s": first, "seconds": _seconds(sample)}


def _build(model):
  model.build()
  return model


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke run: tiny sizes only")
  parser.add_argument("--wait", action="store_true",
                      help="seconds to sample whole images of paper-sized pipelines")
  parser.add_argument("--naive_steps", type=int, default=24,
                      help="naive sub-pixel steps timed on the paper-shaped stage at batch 1")
  parser.add_argument("--repeats", type=int, default=3, help="timed calls of each sampler")
  args = parser.parse_args()
  keras.utils.set_random_seed(0)
  if args.wait:
    if args.quick:
      pipeline = zoo.get("mnist28_mdu").build_pipeline()
      print(json.dumps(measure_wait("quick_mnist28_mdu", pipeline, 2)), flush=True)
      print(json.dumps(measure_wait("quick_mnist28_mdu_size_upscaler_slice", pipeline, 2,
                                    "size_upscaler")), flush=True)
      return
    for name, stage in (("imagenet32", None), ("imagenet64", None),
                        ("imagenet128_mdu", "size_upscaler")):
      pipeline = zoo.get(name).build_pipeline()
      for batch in (1, 8):
        case = name if stage is None else f"{name}_{stage}_slice"
        print(json.dumps(measure_wait(case, pipeline, batch, stage)), flush=True)
    return
  if args.quick:
    small = _build(SliceDecoder(SliceDecoderConfig.tiny(image_size=4, channels=3, bits=3)))
    print(json.dumps(measure_steps("quick_tiny_decoder", small, 2, 0, 12, 2, 1, True)),
          flush=True)
    return
  small = _build(SliceDecoder(SliceDecoderConfig(
      image_size=16, channels=3, bits=3, value_embedding_dim=8, attention_layers=2,
      attention_heads=4, attention_channels=64, attention_ffn_channels=128, pixelcnn_layers=6,
      pixelcnn_channels=64, pixelcnn_residual_channels=128)))
  for batch in (1, 16):
    print(json.dumps(measure_steps("small_decoder", small, batch, 0, 16 * 16 * 3, 16,
                                   args.repeats)), flush=True)
  paper = _build(SubscalePixelNetwork(SPNConfig(image_size=64, channels=3, bits=8, scale=2)))
  for batch, naive_steps, cached_rows in ((1, args.naive_steps, 4), (16, 6, 2), (64, 2, 1)):
    print(json.dumps(measure_steps("imagenet64", paper, batch, 1, naive_steps, cached_rows,
                                   args.repeats, variants=batch < 64)), flush=True)


if __name__ == "__main__":
  main()
