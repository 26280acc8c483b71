"""Benchmark: naive against cached sampling, measured side by side in one run.

Prints one JSON object per line with `case`, `batch_size`, `naive_steps`, `cached_steps`,
`naive_s_per_step`, `cached_s_per_step` and `speedup` (= naive / cached seconds per sub-pixel
step). A step is one sub-pixel of one slice for the whole batch. Both samplers run after a
warm-up call (graph tracing is not timed), on the same random-weight model, the same context
and the same noise.

Cases:
- `small_decoder_b1`, `small_decoder_b16`: a small 16x16 RGB 3-bit slice decoder, whole slice.
- `imagenet64_spn_first_256_subpixels`: the paper-shaped ImageNet 64 SPN stage (Table 4,
  32x32 RGB 8-bit slices) generating slice 1: the first 256 sub-pixels (cached: whole rows,
  3 rows = 288 sub-pixels, since the cached sampler advances by rows; naive: `--naive_steps`
  sub-pixels, because a naive whole slice takes hours). Seconds per step are comparable: the
  naive step cost does not depend on the position.

Usage: python bench/sampling.py [--quick]
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from spn_keras.models import SliceDecoder  # noqa: E402
from spn_keras.models import SliceDecoderConfig  # noqa: E402
from spn_keras.models import SPNConfig  # noqa: E402
from spn_keras.models import SubscalePixelNetwork  # noqa: E402
from spn_keras.sampling import CachedSliceSampler  # noqa: E402
from spn_keras.sampling.sub_pixel_choice import gumbel_noise  # noqa: E402


def _time(fn):
  start = time.perf_counter()
  out = fn()
  tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
  return time.perf_counter() - start


def measure(case, model, batch_size, target, naive_steps, cached_rows):
  """Times naive and cached generation of slice `target` of `model`."""
  height, width, channels = model.image_shape
  s = model.scale
  h, w = height // s, width // s
  slices = tf.zeros([batch_size, s * s, h, w, channels], tf.int32)
  noise = gumbel_noise([batch_size, h, w, channels, 2**model.bits], tf.constant([0, 1], tf.int64))
  temperature = tf.constant(1.0)
  target_t = tf.constant(target)

  def naive(steps):
    return model._sample_slice_naive(slices, target_t, None, temperature, noise, False,
                                     tf.constant(steps))

  sampler = CachedSliceSampler(model._slice_decoder())
  context = model._slice_context(slices, tf.fill([batch_size], target), None)

  def cached(rows):
    return sampler.sample(context, noise, temperature, max_rows=rows)

  naive(1)  # warm-up: traces the graph
  cached(1)
  naive_s = _time(lambda: naive(naive_steps)) / naive_steps
  cached_steps = cached_rows * w * channels
  cached_s = _time(lambda: cached(cached_rows)) / cached_steps
  return {
      "case": case,
      "batch_size": batch_size,
      "naive_steps": naive_steps,
      "cached_steps": cached_steps,
      "naive_s_per_step": naive_s,
      "cached_s_per_step": cached_s,
      "speedup": naive_s / cached_s,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke run: tiny sizes only")
  parser.add_argument("--naive_steps", type=int, default=24,
                      help="naive sub-pixel steps timed on the paper-shaped stage")
  args = parser.parse_args()
  keras.utils.set_random_seed(0)
  if args.quick:
    small = SliceDecoder(SliceDecoderConfig.tiny(image_size=4, channels=3, bits=3))
    small.build()
    print(json.dumps(measure("quick_tiny_decoder_b2", small, 2, 0, 12, 2)), flush=True)
    return
  small = SliceDecoder(SliceDecoderConfig(
      image_size=16, channels=3, bits=3, value_embedding_dim=8, attention_layers=2,
      attention_heads=4, attention_channels=64, attention_ffn_channels=128, pixelcnn_layers=6,
      pixelcnn_channels=64, pixelcnn_residual_channels=128))
  small.build()
  for batch in (1, 16):
    print(json.dumps(measure(f"small_decoder_b{batch}", small, batch, 0, 16 * 16 * 3, 16)),
          flush=True)
  paper = SubscalePixelNetwork(SPNConfig(image_size=64, channels=3, bits=8, scale=2))
  paper.build()
  print(json.dumps(measure("imagenet64_spn_first_256_subpixels", paper, 1, 1,
                           args.naive_steps, 3)), flush=True)


if __name__ == "__main__":
  main()
