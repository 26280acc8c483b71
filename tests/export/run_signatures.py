"""Runs the signatures of an exported SavedModel with TensorFlow alone, as a deployment would.

  python run_signatures.py <saved model folder> <inputs.npz> <outputs.npz>

`inputs.npz` holds one array per signature input, keyed `<signature>/<input>` (0-d arrays for
scalars, with the input's dtype). Every signature named there is run once; `outputs.npz`
receives its outputs keyed `<signature>/<output>`, plus `export.json`, the text of the
metadata asset. Exits with an error if anything imported `spn_keras`: the tests start this
script in a fresh process to show that an export needs only TensorFlow.
"""

import collections
import sys

import numpy as np
import tensorflow as tf


def main(saved_model, inputs_path, outputs_path):
  loaded = tf.saved_model.load(saved_model)
  requests = collections.defaultdict(dict)
  with np.load(inputs_path) as inputs:
    for key in inputs.files:
      signature, name = key.split("/")
      requests[signature][name] = tf.constant(inputs[key])
  outputs = {"export.json": np.array(
      tf.io.read_file(loaded.assets["export.json"].asset_path).numpy().decode())}
  for signature, arguments in requests.items():
    for name, value in loaded.signatures[signature](**arguments).items():
      outputs[f"{signature}/{name}"] = value.numpy()
  if "spn_keras" in sys.modules:
    raise SystemExit("spn_keras was imported: the export must run with TensorFlow alone.")
  np.savez(outputs_path, **outputs)


if __name__ == "__main__":
  main(*sys.argv[1:])
