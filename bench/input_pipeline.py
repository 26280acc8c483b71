"""Throughput of the input pipelines, in images per second; one JSON object per line.

Cases: the embedded datasets' training streams (`mnist5k`, `photos32`) and a folder of
generated 64 x 64 PNG files (written to a temporary folder, deleted afterwards), decoded as is
and with a crop-and-resize to 32 x 32. Each case builds a repeating training pipeline
(`make_dataset(..., repeat=True)`), pulls `--warmup` batches, then times `--batches` batches.

  python bench/input_pipeline.py            # full run
  python bench/input_pipeline.py --quick    # CI smoke run: a few batches per case

Fields: `case`, `spec` (with the temporary folder replaced by `<tmp>`), `images_per_s`,
`batch_size`, `num_batches` (timed), `warmup_batches`, `seconds` (timed), `autotune`,
`cpus`.
"""

import argparse
import itertools
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from spn_keras.data import make_dataset  # noqa: E402


def _write_pngs(folder, count, size=64, seed=0):
  """Smooth colour gradients plus a little noise: PNGs of realistic size, not pure noise."""
  rng = np.random.default_rng(seed)
  ramp = np.linspace(0.0, 1.0, size)
  for i in range(count):
    colours = rng.uniform(0, 255, size=(2, 3))
    image = (ramp[:, None, None] * colours[0] + ramp[None, :, None] * colours[1]) / 2
    image = image + rng.normal(0, 8, size=(size, size, 3))
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    path = folder / f"{i % 8}" / f"{i:05d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def _measure(spec, batch_size, warmup, batches, autotune):
  dataset = make_dataset(spec, "train", batch_size=batch_size, repeat=True, autotune=autotune)
  iterator = iter(dataset)
  for batch in itertools.islice(iterator, warmup):
    pass
  start = time.perf_counter()
  count = 0
  for batch in itertools.islice(iterator, batches):
    count += int(batch.shape[0])
  seconds = time.perf_counter() - start
  del iterator
  return count / seconds, seconds


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="few batches: a CI smoke run")
  parser.add_argument("--batch-size", type=int, default=64)
  parser.add_argument("--batches", type=int, default=None,
                      help="timed batches per case (default 200, --quick 5)")
  parser.add_argument("--warmup", type=int, default=None,
                      help="untimed batches first (default 20, --quick 2)")
  parser.add_argument("--no-autotune", dest="autotune", action="store_false",
                      help="tf.data autotune off (fixed parallelism and prefetch)")
  args = parser.parse_args(argv)
  batches = args.batches or (5 if args.quick else 200)
  warmup = args.warmup if args.warmup is not None else (2 if args.quick else 20)

  with tempfile.TemporaryDirectory(prefix="spn_bench_") as tmp:
    folder = pathlib.Path(tmp) / "pngs"
    _write_pngs(folder, 64 if args.quick else 1024)
    cases = [
        ("mnist5k_train", "mnist5k"),
        ("photos32_train", "photos32"),
        ("folder_png64", f"folder:{folder}"),
        ("folder_png64_resize32", f"folder:{folder}@32"),
    ]
    for case, spec in cases:
      images_per_s, seconds = _measure(spec, args.batch_size, warmup, batches, args.autotune)
      print(json.dumps({
          "case": case,
          "spec": spec.replace(tmp, "<tmp>"),
          "images_per_s": round(images_per_s, 1),
          "batch_size": args.batch_size,
          "num_batches": batches,
          "warmup_batches": warmup,
          "seconds": round(seconds, 3),
          "autotune": args.autotune,
          "cpus": os.cpu_count(),
      }), flush=True)


if __name__ == "__main__":
  main()
