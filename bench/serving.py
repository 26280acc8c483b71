"""Benchmark: the signatures of `spn_export --zoo=mnist28_mdu` served by TensorFlow alone: load,
first and second call, cold and after TF Serving's warm-up records, and request sizes.

Exports the shipped pipeline into a temporary folder (`bin/spn_export`, with its warm-up
records), then, per signature, runs two fresh processes that never import `spn_keras` (as a
server would, TensorFlow alone; a process that imports it fails):

- cold: `load_s` (seconds of `tf.saved_model.load`), `first_call_s`, `second_call_s` (one
  call of the signature on the benchmark's request, then the same call again);
- warm: the same load, then every record of `assets.extra/tf_serving_warmup_requests`
  replayed against its signature as TF Serving does when it loads a version
  (`warmup_replay_s`), then `warm_first_call_s` and `warm_second_call_s`. The goal (issue 29)
  is `warm_first_over_second` = `warm_first_call_s / warm_second_call_s` at most 2.

The request of a signature is its warm-up request with a batch of `--batch_size` (random
images of the pipeline's bits; `num_images` = batch): the warm-up records hold a batch of 1, so
the timed calls are not the replayed ones. `rest_request_bytes` is the body of TF Serving's
REST predict call for it (`{"signature_name": ..., "inputs": {...}}`, the README's curl
examples), `grpc_request_bytes` its serialized `PredictRequest`. Needs tensorflow-serving-api
(`pip install -e ".[bench]"` or `".[serving]"`).

Prints one JSON object per signature.

Usage: python bench/serving.py [--quick] [--batch_size=4] [--signatures=log_prob,sample]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

REPO = pathlib.Path(__file__).resolve().parents[1]
ZOO = "mnist28_mdu"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# One signature in a fresh process: argv = saved model, signature, inputs.npz, warm (0/1).
# Prints one JSON object of seconds.
_SERVE_PROGRAM = """
import json, os, sys, time
import numpy as np
import tensorflow as tf
folder, name, inputs_path, warm = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with np.load(inputs_path) as inputs:
  arguments = {key: tf.constant(inputs[key]) for key in inputs.files}
times = {}
start = time.perf_counter()
loaded = tf.saved_model.load(folder)
times["load_s"] = time.perf_counter() - start
if warm:
  from tensorflow_serving.apis import prediction_log_pb2
  start = time.perf_counter()
  for record in tf.data.TFRecordDataset(os.path.join(folder, sys.argv[5])):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    outputs = loaded.signatures[request.model_spec.signature_name](**{
        key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()})
    [value.numpy() for value in outputs.values()]
  times["warmup_replay_s"] = time.perf_counter() - start
signature = loaded.signatures[name]
for call in ("first_call_s", "second_call_s"):
  start = time.perf_counter()
  [value.numpy() for value in signature(**arguments).values()]
  times[call] = time.perf_counter() - start
if "spn_keras" in sys.modules:
  raise SystemExit("spn_keras was imported: the export must run with TensorFlow alone.")
print(json.dumps(times))
"""


def _environment():
  return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _run(command, cwd):
  """Runs a process; its stdout (raises with its stderr when it fails)."""
  done = subprocess.run(command, env=_environment(), cwd=cwd, capture_output=True, text=True,
                        check=False)
  if done.returncode:
    raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stderr[-3000:]}")
  return done.stdout


def warmup_requests(folder):
  """`{signature: PredictRequest}` of a version folder's warm-up records."""
  requests = {}
  for record in tf.data.TFRecordDataset(os.path.join(folder, WARMUP_FILE)):
    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
    requests[request.model_spec.signature_name] = request
  return requests


def benchmark_inputs(warmup_request, batch_size, bits, rng):
  """The timed request of a signature: its warm-up request with a batch of `batch_size`.

  Args:
    warmup_request: the signature's `PredictRequest` among the warm-up records (batch 1).
    batch_size: images per request.
    bits: the pipeline's bits; images are random in `[0, 2**bits)`.
    rng: numpy Generator.

  Returns:
    `{input name: numpy array}`: uint8 inputs `(batch_size, ...)`, `num_images` =
    `batch_size`, the other inputs (temperatures, seed) as in the warm-up request.
  """
  inputs = {}
  for name, proto in warmup_request.inputs.items():
    value = tf.make_ndarray(proto)
    if value.dtype == np.uint8:
      value = rng.integers(0, 2**bits, (batch_size,) + value.shape[1:], np.uint8)
    elif name == "num_images":
      value = np.array(batch_size, value.dtype)
    inputs[name] = value
  return inputs


def request_sizes(signature, inputs):
  """Bytes of one call's request: TF Serving's REST JSON body and the gRPC `PredictRequest`."""
  body = json.dumps({"signature_name": signature,
                     "inputs": {name: value.tolist() for name, value in inputs.items()}})
  request = predict_pb2.PredictRequest()
  request.model_spec.name = ZOO
  request.model_spec.signature_name = signature
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
  return len(body.encode()), len(request.SerializeToString())


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true",
                      help="CI smoke run: batch 1, log_prob and upscale_depth only")
  parser.add_argument("--batch_size", type=int, default=4)
  parser.add_argument("--signatures", default=None,
                      help="Comma-separated signatures to measure (default: all).")
  args = parser.parse_args()
  batch_size = 1 if args.quick else args.batch_size
  wanted = args.signatures.split(",") if args.signatures else (
      ["log_prob", "upscale_depth"] if args.quick else None)
  rng = np.random.default_rng(0)
  with tempfile.TemporaryDirectory() as scratch:
    scratch = pathlib.Path(scratch)
    start = time.perf_counter()
    summary = json.loads(_run([sys.executable, str(REPO / "bin" / "spn_export"), f"--zoo={ZOO}",
                               f"--output={scratch / 'export'}"], scratch).splitlines()[-1])
    export_s = time.perf_counter() - start
    folder = summary["export"]
    with open(os.path.join(folder, "assets", "export.json")) as f:
      bits = json.load(f)["bits"]
    requests = warmup_requests(folder)
    names = [name for name in requests if wanted is None or name in wanted]
    unknown = sorted(set(wanted or ()) - set(requests))
    if unknown:
      raise SystemExit(f"--signatures: {unknown} are not signatures of the export "
                       f"({sorted(requests)}).")
    for name in names:
      inputs = benchmark_inputs(requests[name], batch_size, bits, rng)
      inputs_path = scratch / f"{name}.npz"
      np.savez(inputs_path, **inputs)
      serve = [sys.executable, "-c", _SERVE_PROGRAM, folder, name, str(inputs_path)]
      cold = json.loads(_run(serve + ["0"], scratch).splitlines()[-1])
      warm = json.loads(_run(serve + ["1", WARMUP_FILE], scratch).splitlines()[-1])
      rest_bytes, grpc_bytes = request_sizes(name, inputs)
      print(json.dumps({
          "case": f"spn_export --zoo={ZOO}",
          "signature": name,
          "batch_size": batch_size,
          "export_s": export_s,
          "load_s": cold["load_s"],
          "first_call_s": cold["first_call_s"],
          "second_call_s": cold["second_call_s"],
          "warm_load_s": warm["load_s"],
          "warmup_replay_s": warm["warmup_replay_s"],
          "warm_first_call_s": warm["first_call_s"],
          "warm_second_call_s": warm["second_call_s"],
          "warm_first_over_second": warm["first_call_s"] / warm["second_call_s"],
          "rest_request_bytes": rest_bytes,
          "grpc_request_bytes": grpc_bytes,
      }), flush=True)


if __name__ == "__main__":
  main()
