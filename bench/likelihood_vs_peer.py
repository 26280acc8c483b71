"""Benchmark: spn-keras against `tfp.distributions.PixelCNN` on mnist5k, equal training time.

Both models train from scratch on the same 4500 `mnist5k` training digits for the same CPU
wall-time budget (`--minutes` each, default 20; they run one after the other, never side by
side), then report the exact bits/dim on the same 500 test digits and the seconds to sample
`--num_samples` (16) images.

- **spn-keras**: the `mnist28_mdu` zoo entry (14 x 14 3-bit slice decoder, S = 2 size
  upscaler, depth upscaler to 8 bits), each stage trained by `spn_train` exactly as
  `zoo/train.sh` does (mixed_bfloat16, batch 32, RMSprop 1e-3, Polyak averaging 0.999, gradient
  clipping 10) with `--max_train_seconds` stopping it. The budget is split by a fixed rule:
  1/4 for the slice decoder, 1/4 for the size upscaler, 1/2 for the depth upscaler, whose 5
  low bits hold most of the bits/dim (0.72 of the shipped pipeline's 1.08). Then `spn_eval`'s
  `evaluate` gives the exact test bits/dim of the pipeline (`Pipeline.bits_per_dim`, averaged
  weights, float32), and one `Pipeline.sample` call with the cached sampler is timed (tracing
  included).
- **peer**: `tfp.distributions.PixelCNN` in its class docstring's configuration, trained by
  `bench/peer_pixelcnn.py` in a virtual environment of its own (TensorFlow Probability needs
  `tf-keras`; the environment reuses this one's TensorFlow). It is created on first use under
  `--peer_env` with pip, from the package index.

With `--shipped`, spn-keras is not trained: the shipped pretrained `mnist28_mdu` is measured
instead, and only the peer trains, for `--minutes`; pass the shipped pipeline's training time
(about 112 minutes, from its stages' TensorBoard logs; see zoo/README.md) for the equal-time
comparison of the zoo issue.

Each budget counts from the first training step (tracing included) and ends with the step
that exhausts it. Evaluation and sampling come after, outside the budget. A peer trained for
more than `PEER_EVAL_EVERY_S` also reports its test bits/dim every `PEER_EVAL_EVERY_S` of
training (`peer.test_curve`; its clock stops meanwhile), so a long budget shows whether it had
stopped improving.

Prints one JSON object: `spn_test_bits_per_dim`, `peer_test_bits_per_dim`, `spn_sample_s`,
`peer_sample_s`, `spn_steps` (per stage), `peer_steps`, the budget, and the details of both.

  python bench/likelihood_vs_peer.py                # 20 minutes each
  python bench/likelihood_vs_peer.py --quick        # CI smoke run: 0.2 minutes each, 2 samples
  python bench/likelihood_vs_peer.py --shipped --minutes=112   # the shipped pipeline against
                                                    # the peer trained as long as it was
"""

import argparse
import json
import os
import pathlib
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
from spn_keras.zoo.loading import shipped_folder  # noqa: E402

ENTRY = "mnist28_mdu"
STAGE_SHARES = {"slice_decoder": 0.25, "size_upscaler": 0.25, "depth_upscaler": 0.5}
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


def train_spn(workdir, seconds):
  """Trains the three stages of `ENTRY` with `spn_train` in `seconds`.

  Returns:
    `(pipeline folder, {stage: budget, steps, test bits/dim, wall seconds})`.
  """
  pipeline_dir = workdir / "pipeline"
  stages = {}
  for stage, share in STAGE_SHARES.items():
    start = time.perf_counter()
    result = _last_json(_run([
        sys.executable, "-m", "spn_keras.cli.train", f"--zoo={ENTRY}", f"--stage={stage}",
        f"--model_dir={workdir / 'runs'}", f"--pipeline_dir={pipeline_dir}",
        f"--max_train_seconds={share * seconds}", "--train_steps=1000000000",
        "--precision=mixed_bfloat16", "--clip_norm=10", "--checkpoint_every=1000000000",
        "--log_every=50"], f"spn_train --stage={stage}"))
    stages[stage] = {"budget_s": share * seconds, "steps": result["step"],
                     "test_bits_per_dim": result["test_bits_per_dim"],
                     "wall_s": time.perf_counter() - start}
  return pipeline_dir, stages


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
                      help="CI smoke run: 0.2 minutes each and 2 samples (not published).")
  parser.add_argument("--minutes", type=float, default=None,
                      help="Training budget of each model (default 20, --quick 0.2).")
  parser.add_argument("--num_samples", type=int, default=None,
                      help="Images sampled by each model (default 16, --quick 2).")
  parser.add_argument("--shipped", action="store_true",
                      help="Measure the shipped pretrained pipeline instead of training one; "
                           "train only the peer, for --minutes (the shipped pipeline's "
                           "training time, for an equal-time comparison).")
  parser.add_argument("--peer_env", type=pathlib.Path, default=DEFAULT_PEER_ENV,
                      help="The peer's virtual environment (created when missing).")
  args = parser.parse_args()
  minutes = args.minutes or (0.2 if args.quick else 20.0)
  num_samples = args.num_samples or (2 if args.quick else 16)
  if minutes <= 0 or num_samples < 1:
    parser.error("--minutes and --num_samples must be positive.")
  seconds = minutes * 60
  python = peer_python(args.peer_env)
  load = os.getloadavg()[0]
  with tempfile.TemporaryDirectory(prefix="likelihood_vs_peer_") as workdir:
    workdir = pathlib.Path(workdir)
    peer = run_peer(python, workdir, seconds, num_samples)
    if args.shipped:
      spn = {"model": f"{ENTRY} as shipped in zoo/ (not trained here)",
             **measure_spn(shipped_folder(ENTRY), num_samples)}
    else:
      pipeline_dir, stages = train_spn(workdir, seconds)
      spn = {"model": f"{ENTRY} (zoo entry trained from scratch: spn_train per stage, "
                      "mixed_bfloat16, batch 32)",
             "stages": stages, **measure_spn(pipeline_dir, num_samples)}
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
