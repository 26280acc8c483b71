"""Benchmark: how long `spn_sample` takes from process start to the written grid, with and
without the XLA compilation cache, against sampling in a process that has already compiled.

Prints one JSON object. Every time is the wall time of a fresh process
(`python bin/spn_sample --zoo=mnist28_mdu --num_images=N`, the shipped pipeline), measured
side by side in one run, each process with a home folder of its own (`$SPN_KERAS_HOME`):

- `no_cache_s`: the cache off (`SPN_KERAS_XLA_CACHE=0`): every process compiles each stage's
  slice program (what every run did before the cache).
- `first_run_s`: an empty cache (compiles, and writes the programs).
- `second_run_s`: the same home again (loads the programs).
- `warm_in_process_s`: in one process, `Pipeline.sample` of one loaded pipeline called twice;
  the second call's seconds (nothing is traced or compiled).
- `tensorflow_import_s`: a process that only imports TensorFlow (the floor of any tool).
- `second_run_over_floor`: `second_run_s / (warm_in_process_s + tensorflow_import_s)`; the
  goal is at most 1.5.

Usage: python bench/first_call.py [--quick] [--num_images=16]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
# Samples twice with one pipeline in one process; prints the second call's seconds.
_WARM_PROGRAM = """
import sys, time
from spn_keras import zoo
pipeline = zoo.load("mnist28_mdu")
pipeline.sample(int(sys.argv[1]), seed=0)
start = time.perf_counter()
pipeline.sample(int(sys.argv[1]), seed=0)
print(time.perf_counter() - start)
"""


def _environment(home, cache):
  environ = {key: value for key, value in os.environ.items()
             if key not in ("TF_XLA_FLAGS", "SPN_KERAS_XLA_CACHE")}
  environ["SPN_KERAS_HOME"] = str(home)
  environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  if not cache:
    environ["SPN_KERAS_XLA_CACHE"] = "0"
  return environ


def _timed(command, environ):
  """Wall seconds of a process, and its stdout."""
  start = time.perf_counter()
  done = subprocess.run(command, env=environ, capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - start
  if done.returncode:
    raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
  return seconds, done.stdout


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke run: 2 images")
  parser.add_argument("--num_images", type=int, default=16)
  args = parser.parse_args()
  num_images = 2 if args.quick else args.num_images
  with tempfile.TemporaryDirectory() as folder:
    folder = pathlib.Path(folder)
    sample = [sys.executable, str(REPO / "bin" / "spn_sample"), "--zoo=mnist28_mdu",
              f"--num_images={num_images}", "--progress=false",
              f"--output={folder / 'grid.png'}"]
    no_cache_s, _ = _timed(sample, _environment(folder / "home_off", cache=False))
    cached_home = _environment(folder / "home_cached", cache=True)
    first_run_s, _ = _timed(sample, cached_home)
    second_run_s, _ = _timed(sample, cached_home)
    programs = sum(len(files) for _, _, files in os.walk(folder / "home_cached"))
    _, out = _timed([sys.executable, "-c", _WARM_PROGRAM, str(num_images)],
                    _environment(folder / "home_off", cache=False))
    warm_in_process_s = float(out.split()[-1])
    tensorflow_import_s, _ = _timed([sys.executable, "-c", "import tensorflow"],
                                    _environment(folder / "home_off", cache=False))
  print(json.dumps({
      "case": f"spn_sample --zoo=mnist28_mdu --num_images={num_images}",
      "num_images": num_images,
      "no_cache_s": no_cache_s,
      "first_run_s": first_run_s,
      "second_run_s": second_run_s,
      "warm_in_process_s": warm_in_process_s,
      "tensorflow_import_s": tensorflow_import_s,
      "second_run_over_floor": second_run_s / (warm_in_process_s + tensorflow_import_s),
      "cached_programs": programs,
  }))


if __name__ == "__main__":
  main()
