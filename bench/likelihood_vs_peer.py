"""Benchmark: spn-keras against `tfp.distributions.PixelCNN` on mnist5k, equal training time.

Both models train from scratch on the same 4500 `mnist5k` training digits (one after the other,
never side by side), then report the exact bits/dim on the same 500 test digits and the seconds
to sample `--num_samples` (16) images.

- **spn-keras**: the `mnist28_mdu` zoo entry (14 x 14 3-bit slice decoder, S = 2 size
  upscaler, depth upscaler to 8 bits), each stage trained by `spn_train` with the shipped
  pipeline's recipe (`RECIPE`: its steps and learning-rate decays, as in its model card;
  mixed_bfloat16, batch 32, RMSprop 1e-3, Polyak averaging 0.999, gradient clipping 10). The
  training time is measured: the sum over the stages of `spn_train`'s `train_seconds`, from
  each stage's first step (tracing included) to the end of its last one. Then `spn_eval`'s
  `evaluate` gives the exact test bits/dim of the pipeline (`Pipeline.bits_per_dim`, averaged
  weights, float32), and one `Pipeline.sample` call with the cached sampler is timed (tracing
  included). `--keep_pipeline=DIR` keeps the trained pipeline folder.
- **peer**: `tfp.distributions.PixelCNN` in its class docstring's configuration, trained by
  `bench/peer_pixelcnn.py` for exactly the measured spn-keras training time (its budget counts
  the same way: from its first step, tracing included, to the step that exhausts it), in a
  virtual environment of its own (TensorFlow Probability needs `tf-keras`; the environment
  reuses this one's TensorFlow). It is created on first use under `--peer_env` with pip, from
  the package index.

With `--shipped`, spn-keras is not trained: the shipped pretrained `mnist28_mdu` is measured
instead, and only the peer trains, for `--minutes` (pass the shipped pipeline's training time).

`--workdir=DIR` keeps the runs in `DIR`, so that an interrupted benchmark resumes: the stages
and the peer that finished are not trained again (a stage that was cut off starts over, so
that each stage's time is measured in one piece).

Evaluation and sampling come after the training, outside the time. A peer trained for more
than `PEER_EVAL_EVERY_S` also reports its test bits/dim every `PEER_EVAL_EVERY_S` of training
(`peer.test_curve`; its clock stops meanwhile), so a long budget shows whether it had stopped
improving.

Prints one JSON object: `spn_test_bits_per_dim`, `peer_test_bits_per_dim`, `spn_sample_s`,
`peer_sample_s`, `budget_s` (the training time of each), `spn_steps` (per stage),
`peer_steps`, and the details of both.

  python bench/likelihood_vs_peer.py            # the full recipe (about 70 min), then the peer
  python bench/likelihood_vs_peer.py --quick    # CI smoke run: 1/500 of the recipe's steps
  python bench/likelihood_vs_peer.py --shipped --minutes=68    # the shipped pipeline against
                                                # the peer trained for 68 minutes
"""

import argparse
import functools
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from spn_keras import zoo  # noqa: E402
from spn_keras.cli import evaluate  # noqa: E402
from spn_keras.data import embedded  # noqa: E402
from spn_keras.presets import file_io  # noqa: E402
from spn_keras.presets import shipped_folder  # noqa: E402

ENTRY = "mnist28_mdu"
# The shipped pipeline's schedule (its model card, zoo/mnist28_mdu/README.md): stage -> (train
# steps, learning-rate boundaries, the rates after them); the rate starts at the entry's 1e-3.
RECIPE = {
    "slice_decoder": (4000, (3000, 3500), (3e-4, 1e-4)),
    "size_upscaler": (4000, (2000, 3200), (3e-4, 1e-4)),
    "depth_upscaler": (8000, (4500, 6500), (3e-4, 1e-4)),
}
QUICK_DIVISOR = 500  # --quick trains 1/500 of the recipe's steps, with decays scaled alike
PEER_SCRIPT = pathlib.Path(__file__).resolve().parent / "peer_pixelcnn.py"
PEER_EVAL_EVERY_S = 600.0
DEFAULT_PEER_ENV = pathlib.Path("~/.cache/spn_keras_bench/peer_env").expanduser()
# TensorFlow Probability 0.25 is the release that works with TensorFlow 2.21 (checked with
# pip's resolver against this environment); tf-keras must match TensorFlow's minor version.
TFP_REQUIREMENT = "tensorflow-probability==0.25.0"


def _last_json(stdout):
  lines = [line for line in stdout.splitlines() if line.startswith("{")]
  if not lines:
    raise RuntimeError(f"No JSON in the output:\n{stdout[-2000:]}")
  return json.loads(lines[-1])


def _run(command, what):
  """Runs `command`; returns its stdout, or raises with the tail of its stderr."""
  done = subprocess.run(command, capture_output=True, text=True, check=False)
  if done.returncode:
    raise RuntimeError(f"{what} failed (exit status {done.returncode}):\n"
                       f"{done.stderr[-3000:]}")
  return done.stdout


def peer_python(env_dir):
  """The Python of the peer's environment, created (with pip) when it does not exist yet."""
  python = env_dir / "bin" / "python"
  major, minor = tf.__version__.split(".")[:2]
  requirements = [TFP_REQUIREMENT, f"tf-keras~={major}.{minor}.0"]
  try:
    if not python.exists():
      _run([sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)],
           "Creating the peer's virtual environment")
      _run([str(python), "-m", "pip", "install", "--quiet", *requirements],
           f"pip install {' '.join(requirements)} (needs the package index)")
    _run([str(python), "-c", "import tensorflow_probability, tf_keras"],
         "Importing tensorflow_probability and tf_keras")
  except RuntimeError as error:
    raise SystemExit(f"The peer's environment in {env_dir} is not usable: {error}\n"
                     f"Create it by hand (python -m venv --system-site-packages {env_dir}; "
                     f"{python} -m pip install {' '.join(requirements)}) or pass "
                     "--peer_env.") from None
  return python


def run_peer(python, workdir, seconds, num_samples):
  """Trains and measures the peer on exactly spn-keras's mnist5k split."""
  data = workdir / "mnist5k.npz"
  np.savez(data, train=embedded.mnist5k_images("train"), test=embedded.mnist5k_images("test"))
  eval_every_s = PEER_EVAL_EVERY_S if seconds > PEER_EVAL_EVERY_S else 0.0
  return _last_json(_run([str(python), str(PEER_SCRIPT), f"--data={data}",
                          f"--seconds={seconds}", f"--num_samples={num_samples}",
                          f"--eval_every_seconds={eval_every_s}"],
                         "The peer (bench/peer_pixelcnn.py)"))


def scaled_recipe(divisor):
  """`RECIPE` with every step count divided by `divisor` (rounded down, at least 1)."""
  return {stage: (max(1, steps // divisor), tuple(max(1, b // divisor) for b in boundaries),
                  values)
          for stage, (steps, boundaries, values) in RECIPE.items()}


def _cached(path, compute):
  """The JSON in `path` if a previous run wrote it; else `compute()`, written to `path`."""
  if path.exists():
    return json.loads(path.read_text())
  result = compute()
  file_io.write_json_atomically(path, result)
  return result


def train_spn(workdir, recipe):
  """Trains the three stages of `ENTRY` with `spn_train`, one after the other.

  A stage whose result a previous run of the benchmark left in `workdir/stages/` is not
  trained again; a stage that a previous run left unfinished starts over from step 0, so that
  its training time is measured in one piece.

  Args:
    workdir: folder for the checkpoints (`runs/`), the trained pipeline (`pipeline/`) and the
      stages' results (`stages/`).
    recipe: stage -> (train steps, learning-rate boundaries, rates), like `RECIPE`.

  Returns:
    `(pipeline folder, {stage: steps, train_s, test bits/dim, wall seconds})`; `train_s` is
    `spn_train`'s measured training time of the stage.
  """
  pipeline_dir = workdir / "pipeline"
  (workdir / "stages").mkdir(exist_ok=True)

  def train_stage(stage, steps, boundaries, values):
    shutil.rmtree(workdir / "runs" / stage, ignore_errors=True)
    start = time.perf_counter()
    result = _last_json(_run([
        sys.executable, "-m", "spn_keras.cli.train", f"--zoo={ENTRY}", f"--stage={stage}",
        f"--model_dir={workdir / 'runs'}", f"--pipeline_dir={pipeline_dir}",
        f"--train_steps={steps}",
        f"--learning_rate_boundaries={','.join(str(b) for b in boundaries)}",
        f"--learning_rate_values={','.join(str(v) for v in values)}",
        "--precision=mixed_bfloat16", "--clip_norm=10", "--checkpoint_every=250",
        "--log_every=50"], f"spn_train --stage={stage}"))
    return {"steps": result["step"], "train_s": result["train_seconds"],
            "test_bits_per_dim": result["test_bits_per_dim"],
            "wall_s": time.perf_counter() - start}

  stages = {stage: _cached(workdir / "stages" / f"{stage}.json",
                           functools.partial(train_stage, stage, *schedule))
            for stage, schedule in recipe.items()}
  return pipeline_dir, stages


def use_workdir(workdir, settings):
  """Checks that a kept `workdir` was started with the same `settings`; records them if new."""
  workdir.mkdir(parents=True, exist_ok=True)
  path = workdir / "settings.json"
  settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
  if not path.exists():
    file_io.write_json_atomically(path, settings)
    return
  kept = json.loads(path.read_text())
  if kept != settings:
    raise SystemExit(f"--workdir={workdir} holds a run with other settings "
                     f"({json.dumps(kept)}, now {json.dumps(settings)}); pass a new folder.")


def measure_spn(pipeline_dir, num_samples):
  """Exact test bits/dim of the pipeline in `pipeline_dir`, seconds to sample from it, and
  its metadata (for the shipped pipeline: its recorded figures and training steps)."""
  figures = evaluate.evaluate(str(pipeline_dir), split="test")
  pipeline = zoo.load(ENTRY, weights=str(pipeline_dir))
  start = time.perf_counter()
  images = pipeline.sample(num_samples, seed=0)
  sample_s = time.perf_counter() - start
  if tuple(images.shape) != (num_samples, *pipeline.image_shape):
    raise RuntimeError(f"spn-keras sampled shape {tuple(images.shape)}.")
  return {
      "params": sum(model.count_params() for model in pipeline.stages.values()),
      "test_bits_per_dim": figures["bits_per_dim"]["total"],
      "test_bits_per_dim_by_stage": figures["bits_per_dim"],
      "test_images": figures["num_examples"],
      "num_samples": num_samples,
      "sample_s": sample_s,
      "metadata": pipeline.metadata,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true",
                      help=f"CI smoke run: 1/{QUICK_DIVISOR} of the recipe's steps and 2 "
                           "samples (not published).")
  parser.add_argument("--shipped", action="store_true",
                      help="Measure the shipped pretrained pipeline instead of training one; "
                           "train only the peer, for --minutes (the shipped pipeline's "
                           "training time, for an equal-time comparison).")
  parser.add_argument("--minutes", type=float, default=None,
                      help="With --shipped: the peer's training budget (default 68, the "
                           "shipped pipeline's; --quick 0.2).")
  parser.add_argument("--num_samples", type=int, default=None,
                      help="Images sampled by each model (default 16, --quick 2).")
  parser.add_argument("--keep_pipeline", type=pathlib.Path, default=None,
                      help="Without --shipped: copy the trained pipeline folder here (it must "
                           "not exist yet).")
  parser.add_argument("--workdir", type=pathlib.Path, default=None,
                      help="Keep the runs, checkpoints and finished results here (default: a "
                           "temporary folder): rerunning with the same folder and arguments "
                           "resumes, skipping the stages (and the peer) that finished.")
  parser.add_argument("--peer_env", type=pathlib.Path, default=DEFAULT_PEER_ENV,
                      help="The peer's virtual environment (created when missing).")
  args = parser.parse_args()
  num_samples = args.num_samples or (2 if args.quick else 16)
  if num_samples < 1:
    parser.error(f"--num_samples must be positive, got {num_samples}.")
  if args.shipped and args.keep_pipeline:
    parser.error("--keep_pipeline keeps a trained pipeline; --shipped trains none.")
  if not args.shipped and args.minutes is not None:
    parser.error("--minutes is the peer's budget with --shipped; without it the budget is "
                 "the measured training time of spn-keras's recipe.")
  if args.keep_pipeline and args.keep_pipeline.exists():
    parser.error(f"--keep_pipeline={args.keep_pipeline} exists already; pass a new folder.")
  minutes = args.minutes or (0.2 if args.quick else 68.0)
  if minutes <= 0:
    parser.error(f"--minutes must be positive, got {minutes}.")
  python = peer_python(args.peer_env)
  load = os.getloadavg()[0]
  with tempfile.TemporaryDirectory(prefix="likelihood_vs_peer_") as scratch:
    workdir = args.workdir or pathlib.Path(scratch)
    if args.shipped:
      use_workdir(workdir, {"shipped": True, "minutes": minutes, "num_samples": num_samples})
      seconds = minutes * 60
      spn = {"model": f"{ENTRY} as shipped in zoo/ (not trained here)",
             **measure_spn(shipped_folder(ENTRY), num_samples)}
    else:
      recipe = scaled_recipe(QUICK_DIVISOR if args.quick else 1)
      use_workdir(workdir, {"recipe": recipe, "num_samples": num_samples})
      pipeline_dir, stages = train_spn(workdir, recipe)
      seconds = sum(values["train_s"] for values in stages.values())
      spn = {"model": f"{ENTRY} (zoo entry trained from scratch with the shipped recipe: "
                      "spn_train per stage, mixed_bfloat16, batch 32)",
             "recipe": recipe, "stages": stages, **measure_spn(pipeline_dir, num_samples)}
      if args.keep_pipeline:
        shutil.copytree(pipeline_dir, args.keep_pipeline)
    peer = _cached(workdir / "peer.json",
                   functools.partial(run_peer, python, workdir, seconds, num_samples))
  which = "shipped" if args.shipped else "trained from scratch"
  print(json.dumps({
      "case": f"mnist5k: spn-keras mnist28_mdu ({which}) vs tfp.distributions.PixelCNN",
      "budget_s": seconds,
      "spn_test_bits_per_dim": spn["test_bits_per_dim"],
      "peer_test_bits_per_dim": peer["test_bits_per_dim"],
      "spn_sample_s": spn["sample_s"],
      "peer_sample_s": peer["sample_s"],
      "num_samples": num_samples,
      "spn_steps": {stage: values["steps"] for stage, values in spn.get("stages", {}).items()},
      "peer_steps": peer["steps"],
      "train_images": len(embedded.mnist5k_indices("train")),
      "test_images": spn["test_images"],
      "spn": spn,
      "peer": peer,
      "load_avg_1m": load,
  }), flush=True)


if __name__ == "__main__":
  main()
