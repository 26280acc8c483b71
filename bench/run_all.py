"""Runs every benchmark script and regenerates the README's results table from their JSON.

Each benchmark runs a script as a subprocess (`python bench/<name>.py`, or the script and
arguments `SCRIPT_RUNS` gives, plus `--quick` in quick mode); every line it prints that starts
with `{` is one JSON result, and each benchmark's results must carry its required fields
(`REQUIRED_FIELDS`).

- Full mode writes `bench/results/<name>.jsonl` (the results) and
  `bench/results/<name>.run.json` (the command, the machine, the date, the wall time), then
  rewrites the README's results table, the part of README.md between the markers
  `<!-- bench-results:start -->` and `<!-- bench-results:end -->` (added to the "Results"
  section when missing), from every `bench/results/*.jsonl` there is. Nothing else in
  README.md changes. Every row of the table names its command and machine.
- `--quick` (CI smoke run) runs each script's quick mode, checks the fields, and renders the
  table from a temporary folder to stdout. It never touches README.md or bench/results/: its
  figures are not published.
- `compression_photos128` (photos128_mdu on its held-out 128x128 test crops) needs the
  training photos in `~/spn_keras_photos` (`bash zoo/photos32_mdu/fetch_training_photos.sh
  ~/spn_keras_photos`); a full run without them skips it with a note.
- `--only=memory,sampling` runs some of the scripts (full runs can be done piecewise);
  `--table_only` only regenerates the table from the results already in bench/results/.

  python bench/run_all.py --quick                  # CI: every script still works
  python bench/run_all.py                          # everything; hours on a 2-core CPU
  python bench/run_all.py --only=memory,likelihood_vs_peer
  python bench/run_all.py --table_only
  python bench/run_all.py --only=likelihood_vs_peer \
      --script_args=likelihood_vs_peer:--workdir=/data/lvp   # resumable (see the script)
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

BENCH = pathlib.Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
RESULTS = BENCH / "results"
START_MARKER = "<!-- bench-results:start -->"
END_MARKER = "<!-- bench-results:end -->"
_LIKELIHOOD_FIELDS = ("case", "spn_test_bits_per_dim", "peer_test_bits_per_dim", "spn_sample_s",
                      "peer_sample_s", "budget_s")
_COMPRESSION_FIELDS = ("case", "codec", "bits_per_dim", "model_bits_per_dim",
                       "encode_s_per_image", "decode_s_per_image")
# The benchmarks in the order they run and appear in the table, with the fields every result of
# theirs must carry.
REQUIRED_FIELDS = {
    "memory": ("case", "spn_peak_bytes", "decoder_peak_bytes", "ratio"),
    "likelihood_vs_peer": _LIKELIHOOD_FIELDS,
    "likelihood_vs_peer_shipped": _LIKELIHOOD_FIELDS,
    "sampling": ("case", "batch_size", "naive_s_per_step", "cached_s_per_step", "speedup"),
    "sample_wait": ("case", "batch_size", "sub_pixels", "first_call_s", "seconds"),
    "first_call": ("case", "num_images", "no_cache_s", "first_run_s", "second_run_s",
                   "warm_in_process_s", "tensorflow_import_s", "second_run_over_floor"),
    "train_throughput": ("case", "precision", "batch_size", "jit_compile", "examples_per_s",
                         "achieved_flops", "peak_flops", "utilization", "model_peak_flops",
                         "model_utilization"),
    "input_pipeline": ("case", "images_per_s"),
    "compression": _COMPRESSION_FIELDS,
    "compression_photos128": _COMPRESSION_FIELDS,
    "serving": ("case", "signature", "batch_size", "load_s", "first_call_s", "second_call_s",
                "warmup_replay_s", "warm_first_call_s", "warm_second_call_s",
                "warm_first_over_second", "rest_request_bytes", "grpc_request_bytes"),
}
# photos128_mdu's training photos (held-out test crops included), where its zoo entry reads them.
PHOTOS = "~/spn_keras_photos"
FETCH_PHOTOS = f"bash zoo/photos32_mdu/fetch_training_photos.sh {PHOTOS}"
# Benchmarks that run a script other than `bench/<name>.py`, or with arguments:
# name -> (script, arguments of every run, arguments of a full run only). The shipped
# mnist28_mdu trained for 67.9 minutes (its model card); the row recorded with --minutes=112
# measured the weights shipped before it, which trained for about 112 minutes.
SCRIPT_RUNS = {
    "likelihood_vs_peer_shipped": ("likelihood_vs_peer", ("--shipped",), ("--minutes=68",)),
    "sample_wait": ("sampling", ("--wait",), ()),
    "compression_photos128": ("compression", (),
                              ("--cases=photos128_test", "--photos=" + PHOTOS,
                               "--spn_max_images=64")),
}
# Full runs that need photos that are not in the repository: without them the benchmark is
# skipped with a note, and its recorded results stay as they are.
NEEDS_PHOTOS = ("compression_photos128",)
GIB = 1 << 30


def machine():
  """What the benchmarks run on: CPU model and cores, memory, GPUs, OS, TensorFlow."""
  cpu = platform.processor() or platform.machine()
  with open("/proc/cpuinfo") as cpuinfo:
    names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read(), re.MULTILINE)
  with open("/proc/meminfo") as meminfo:
    memory_kib = int(re.search(r"^MemTotal:\s*(\d+)", meminfo.read(), re.MULTILINE).group(1))
  gpus = []
  if shutil.which("nvidia-smi"):
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    gpus = [line.split(" (UUID")[0] for line in listing.stdout.splitlines() if line.strip()]
  return {
      "cpu": names[0].strip() if names else cpu,
      "cpu_cores": os.cpu_count(),
      "memory_gib": round(memory_kib / (1 << 20), 1),
      "gpus": gpus,
      "os": f"{platform.system()} {platform.machine()}",
      "python": platform.python_version(),
      "tensorflow": importlib.metadata.version("tensorflow"),
  }


def machine_label(info):
  gpus = ", ".join(info["gpus"]) if info["gpus"] else "no GPU"
  return (f"{info['cpu_cores']}-core {info['cpu']}, {info['memory_gib']:g} GiB, {gpus}, "
          f"TF {info['tensorflow']}")


def run_script(name, quick, extra_arguments=()):
  """Runs the benchmark `name` (`bench/<name>.py` unless `SCRIPT_RUNS` says otherwise).

  Args:
    name: a key of `REQUIRED_FIELDS`.
    quick: run the script's `--quick` mode instead of its full arguments.
    extra_arguments: more arguments for the script (`--script_args`), recorded in the command.

  Returns:
    `(results, run record)`.

  Raises:
    RuntimeError: the script failed, printed no result, or a result lacks a required field.
  """
  script, arguments, full_arguments = SCRIPT_RUNS.get(name, (name, (), ()))
  arguments = [*arguments, *(["--quick"] if quick else full_arguments), *extra_arguments]
  command = [sys.executable, str(BENCH / f"{script}.py"), *arguments]
  shown = " ".join([f"python bench/{script}.py", *arguments])
  print(f"== {shown}", file=sys.stderr, flush=True)
  load = os.getloadavg()[0]
  start = time.perf_counter()
  done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
  wall_s = time.perf_counter() - start
  results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
  if done.returncode:
    raise RuntimeError(f"{shown} failed with exit status {done.returncode}.")
  if not results:
    raise RuntimeError(f"{shown} printed no JSON result.")
  for result in results:
    missing = [field for field in REQUIRED_FIELDS[name] if field not in result]
    if missing:
      raise RuntimeError(f"{shown}: a result lacks {missing}: {result}")
  print(f"   {len(results)} result(s) in {wall_s:.0f} s", file=sys.stderr, flush=True)
  return results, {
      "command": shown,
      "machine": machine(),
      "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
      "wall_s": round(wall_s, 1),
      "load_avg_1m_at_start": load,
  }


def save(folder, name, results, run):
  folder.mkdir(parents=True, exist_ok=True)
  (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
  (folder / f"{name}.run.json").write_text(json.dumps(run, indent=2) + "\n")


def _gib(num_bytes):
  return f"{num_bytes / GIB:.2f} GiB"


def _times(factor):
  return f"**{factor:.0f}x**" if factor >= 10 else f"**{factor:.1f}x**"


def _memory_figures(result):
  spn = _gib(result["spn_peak_bytes"])
  if result["ratio"] is not None:
    saving = (f"decoder {_gib(result['decoder_peak_bytes'])}, SPN {spn}: "
              f"{_times(result['ratio'])} lower")
    cost = (f"dimensions scored per second of training: SPN "
            f"{result['spn_dims_per_s']:.0f}, decoder {result['decoder_dims_per_s']:.0f}")
  else:
    saving = (f"decoder does not fit under the {_gib(result['memory_limit_bytes'])} cap (it "
              f"needs at least {_gib(result['decoder_lower_bound_bytes'])}), SPN {spn}: at "
              f"least {_times(result['ratio_lower_bound'])} lower")
    cost = f"SPN scores {result['spn_dims_per_s']:.0f} dimensions per second of training"
  return [(f"peak memory of a training step, {result['case']}",
           f"{saving}; {cost} ({result['widths']})")]


def _likelihood_figures(result):
  minutes = f"{round(result['budget_s'] / 60, 1):g} min"
  if result["spn_steps"]:
    what = (f"both from scratch, {minutes} of training each (spn-keras's recipe, timed; "
            "the peer for as long)")
    steps = f"steps: spn-keras {sum(result['spn_steps'].values())}, PixelCNN "
  else:  # --shipped: the pretrained pipeline against the peer trained for the budget
    what = f"shipped mnist28_mdu against tfp PixelCNN after {minutes} of training"
    steps = "PixelCNN steps: "
  return [
      (f"test bits/dim on mnist5k, {what}",
       f"spn-keras {result['spn_test_bits_per_dim']:.3f}, tfp PixelCNN "
       f"{result['peer_test_bits_per_dim']:.3f} ({steps}{result['peer_steps']}"
       f"{_peer_curve(result['peer'].get('test_curve', []))})"),
      (f"seconds to sample {result['num_samples']} images",
       f"spn-keras {result['spn_sample_s']:.1f}, tfp PixelCNN {result['peer_sample_s']:.1f}"),
  ]


def _peer_curve(curve):
  """The peer's test bits/dim along its training, when measured more than once."""
  if len(curve) < 2:
    return ""
  points = ", ".join(f"{point['test_bits_per_dim']:.3f}" for point in curve)
  return (f"; PixelCNN every {curve[0]['train_s'] / 60:.0f} min and at the end: {points}; "
          f"best {min(point['test_bits_per_dim'] for point in curve):.3f}")


def _sampling_figures(result):
  figure = (f"{_times(result['speedup'])} ({result['naive_s_per_step']:.2g} -> "
            f"{result['cached_s_per_step']:.2g} s per sub-pixel step")
  if "cached_graph_s_per_step" in result:
    figure += (f"; without XLA {result['cached_graph_s_per_step']:.2g} s, XLA "
               f"{result['xla_over_graph']:.1f}x faster; bfloat16 "
               f"{result['cached_bfloat16_s_per_step']:.2g} s")
  return [(f"cached vs naive sampling, {result['case']}, batch {result['batch_size']}",
           figure + ")")]


def _wait_figures(result):
  return [(f"seconds to sample, {result['case']}, batch {result['batch_size']} "
           f"({result['sub_pixels']:,} sub-pixels per image)",
           f"**{result['seconds']:.1f} s** ({result['first_call_s']:.1f} s on the first call, "
           "with XLA compilation)")]


def _first_call_figures(result):
  return [(f"seconds from process start to the written grid, `{result['case']}`",
           f"**{result['second_run_s']:.1f} s** with the XLA compilation cache filled "
           f"(first run {result['first_run_s']:.1f} s, without the cache "
           f"{result['no_cache_s']:.1f} s every run); in a process that has compiled: "
           f"{result['warm_in_process_s']:.1f} s, plus {result['tensorflow_import_s']:.1f} s "
           f"to import TensorFlow ({result['second_run_over_floor']:.2f}x that floor)")]


def _throughput_figures(result):
  # Results recorded before the XLA and model-shape columns existed are plain steps.
  step = "XLA" if result.get("jit_compile") else "plain"
  figure = (f"**{result['examples_per_s']:.2f} examples/s**; utilization "
            f"{result['utilization']:.2f} ({result['achieved_flops'] / 1e9:.0f} of "
            f"{result['peak_flops'] / 1e9:.0f} GFLOP/s)")
  if "model_utilization" in result:
    figure += (f", {result['model_utilization']:.2f} of the model's own shapes' "
               f"{result['model_peak_flops'] / 1e9:.0f} GFLOP/s")
  return [(f"training throughput, {result['case']}, batch {result['batch_size']}, "
           f"{result['precision']}, {step} step", figure)]


def _input_figures(result):
  return [(f"input pipeline, {result['case']}", f"{result['images_per_s']:,.0f} images/s")]


def _seconds(value):
  return f"{value:.2f} s" if value >= 0.1 else f"{value * 1e3:.2g} ms"


def _compression_figures(result):
  figure = f"**{result['bits_per_dim']:.3f} bits/dim**"
  if result["model_bits_per_dim"] is not None:
    figure += f" (model {result['model_bits_per_dim']:.3f})"
  if result["encode_s_per_image"] is not None:
    figure += (f"; encode {_seconds(result['encode_s_per_image'])}, decode "
               f"{_seconds(result['decode_s_per_image'])} per image")
  if "encode_s_per_megapixel" in result and min(
      shape[0] * shape[1] for shape in result["image_shapes"]) >= 100_000:
    figure += (f" ({_seconds(result['encode_s_per_megapixel'])} and "
               f"{_seconds(result['decode_s_per_megapixel'])} per megapixel)")
  if result["codec"].startswith("spn"):
    figure += (f"; headers {result['header_bits_per_dim']:.3f} bits/dim, files "
               f"{100 * result['file_over_model_and_header']:.2f}% over model bits + headers")
  if not result.get("round_trip_exact", True):
    figure += "; ROUND TRIP NOT EXACT"
  shapes = ", ".join("x".join(map(str, shape)) for shape in result.get("image_shapes", ()))
  return [(f"lossless compression, {result['case']} ({result['images']} images"
           f"{' of ' + shapes if shapes else ''}), {result['codec']}", figure)]


def _serving_figures(result):
  return [(f"exported `{result['signature']}` in TensorFlow alone (a fresh process), "
           f"`{result['case']}`, batch {result['batch_size']}",
           f"first call after the warm-up records **{_seconds(result['warm_first_call_s'])}**, "
           f"{result['warm_first_over_second']:.2f}x the second call "
           f"({_seconds(result['warm_second_call_s'])}; replaying the records "
           f"{_seconds(result['warmup_replay_s'])}); without warm-up: first call "
           f"{_seconds(result['first_call_s'])}, second {_seconds(result['second_call_s'])}; "
           f"load {_seconds(result['load_s'])}; request {result['rest_request_bytes']:,} bytes "
           f"REST JSON, {result['grpc_request_bytes']:,} bytes gRPC")]


FIGURES = {
    "memory": _memory_figures,
    "likelihood_vs_peer": _likelihood_figures,
    "likelihood_vs_peer_shipped": _likelihood_figures,
    "sampling": _sampling_figures,
    "sample_wait": _wait_figures,
    "first_call": _first_call_figures,
    "train_throughput": _throughput_figures,
    "input_pipeline": _input_figures,
    "compression": _compression_figures,
    "compression_photos128": _compression_figures,
    "serving": _serving_figures,
}


def render_table(folder):
  """The README's results block (without the markers) from `folder`'s results."""
  rows = []
  for name, figures in FIGURES.items():
    path = folder / f"{name}.jsonl"
    if not path.exists():
      continue
    run = json.loads((folder / f"{name}.run.json").read_text())
    source = f"`{run['command']}`"
    where = f"{machine_label(run['machine'])}; {run['date']}"
    for line in path.read_text().splitlines():
      for what, figure in figures(json.loads(line)):
        rows.append(f"| {what} | {figure} | {source} | {where} |")
  if not rows:
    return "No benchmark results recorded yet: `python bench/run_all.py` produces them.\n"
  return ("Generated by `python bench/run_all.py` from `bench/results/` (JSON lines of each "
          "benchmark, with the command and machine in `<name>.run.json`):\n\n"
          "| result | figure | command | machine, date |\n| --- | --- | --- | --- |\n"
          + "\n".join(rows) + "\n")


def update_readme(table):
  """Replaces the block between the markers in README.md (adding it when missing)."""
  text = README.read_text()
  block = f"{START_MARKER}\n{table}{END_MARKER}"
  if START_MARKER in text and END_MARKER in text:
    before, rest = text.split(START_MARKER, 1)
    after = rest.split(END_MARKER, 1)[1]
    text = before + block + after
  elif "\n## Results\n" in text:
    text = text.replace("\n## Results\n", f"\n## Results\n\n{block}\n", 1)
  else:
    text = text.rstrip("\n") + f"\n\n## Results\n\n{block}\n"
  README.write_text(text)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help="CI smoke run: quick modes, nothing written outside a temp folder.")
  parser.add_argument("--only", default=None,
                      help=f"Comma-separated scripts to run, among {list(REQUIRED_FIELDS)}.")
  parser.add_argument("--script_args", action="append", default=[], metavar="NAME:ARGS",
                      help="More arguments for one script, e.g. "
                           "'likelihood_vs_peer:--workdir=/data/lvp' (repeatable).")
  parser.add_argument("--table_only", action="store_true",
                      help="Run nothing; regenerate the README table from bench/results/.")
  args = parser.parse_args()
  names = args.only.split(",") if args.only else list(REQUIRED_FIELDS)
  unknown = [name for name in names if name not in REQUIRED_FIELDS]
  if unknown:
    parser.error(f"--only names unknown scripts {unknown}; known: {list(REQUIRED_FIELDS)}.")
  if args.table_only and args.quick:
    parser.error("--table_only and --quick exclude each other.")
  extra_arguments = {}
  for value in args.script_args:
    name, _, script_args = value.partition(":")
    if name not in names or not script_args:
      parser.error(f"--script_args={value!r}: expected NAME:ARGS with NAME among the scripts "
                   f"that run, {names}.")
    extra_arguments.setdefault(name, []).extend(shlex.split(script_args))
  if args.table_only:
    update_readme(render_table(RESULTS))
    return
  failures = []
  with tempfile.TemporaryDirectory(prefix="spn_bench_quick_") as scratch:
    folder = pathlib.Path(scratch) if args.quick else RESULTS
    for name in names:
      if (name in NEEDS_PHOTOS and not args.quick
          and not os.path.isdir(os.path.expanduser(PHOTOS))):
        print(f"== {name} skipped: no photos in {PHOTOS} ({FETCH_PHOTOS})", file=sys.stderr,
              flush=True)
        continue
      try:
        results, run = run_script(name, args.quick, extra_arguments.get(name, ()))
      except RuntimeError as error:
        failures.append(str(error))
        print(f"   FAILED: {error}", file=sys.stderr, flush=True)
        continue
      save(folder, name, results, run)
    table = render_table(folder)
  if args.quick:
    print("Results table of this quick run (not published):\n\n" + table)
  else:
    update_readme(table)
  if failures:
    raise SystemExit("Failed:\n" + "\n".join(failures))


if __name__ == "__main__":
  main()
