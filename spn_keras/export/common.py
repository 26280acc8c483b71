"""Pieces shared by the exporters: value checks, metadata and TF Serving's folder layout.

TF Serving watches a model's base folder and serves its numbered version folders,
`<base>/<version>/saved_model.pb` plus `variables/` and `assets/`. A version folder is written
to a temporary sibling and renamed into place (`file_io.commit_folder`), so the server never
sees a half-written version (on a local disk; on a bucket the files move one by one,
`saved_model.pb` last, so a server that polls in between finds no SavedModel yet), and a
failed export never destroys the version it was to replace. The base folder may be a bucket
path (`gs://...`): all I/O goes through `tf.io.gfile`. The variables are tracked the way
`keras.export.ExportArchive` tracks them (a plain trackable root holding the TensorFlow
variables that the traced signatures read), so that the SavedModel loads in TensorFlow alone,
in TF2 (`tf.saved_model.load`) and in a TF1 session (`saved_model_cli run`), which restores
variables from the checkpoint the way TF Serving's C++ loader does.
"""

import json
import os
import tempfile

import keras
import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.export.servable_ops import check_servable
from spn_keras.presets import file_io
from spn_keras.presets.preset_folders import stage_spec
from spn_keras.version import __version__

FORMAT = "spn_keras.export/1"
METADATA_ASSET = "export.json"
# How the `sample` and `upscale` signatures sample: the cached sampler as a plain graph, not
# XLA-compiled. TF Serving runs XLA-compiled functions only behind its experimental
# `--xla_cpu_compilation_enabled` flag (tensorflow/serving#1858) and not at all on builds
# without an XLA compiler for the device (#2214); the images are the same either way.
SERVED_SAMPLER = {"method": "cached", "jit_compile": False}


def checked_values(name, images, bits):
  """Run-time check (inside a traced signature) that uint8 `images` hold `bits`-bit values.

  `check_images` validates values only eagerly; a served signature checks them when it runs,
  before anything reads them, so that out-of-range values fail with a message naming the
  input (not with the error of an embedding lookup).

  Args:
    name: the signature input's name, for the message.
    images: uint8 tensor.
    bits: values must lie in `[0, 2**bits)`.

  Returns:
    `images`, behind the check.
  """
  if bits == 8:
    return images
  with tf.control_dependencies([tf.debugging.assert_less(
      images, tf.constant(2**bits, images.dtype),
      message=f"`{name}` values must be in [0, {2**bits}) ({bits} bits)")]):
    return tf.identity(images)


def checked_temperatures(temperatures, stages):
  """Run-time checks (inside a traced signature) of a `temperatures` input, split by stage.

  The input's spec has no fixed length, so that a request with the wrong number of values
  fails here, with a message naming the stages, rather than deep in the graph (and TF
  Serving does not check a request's shapes against the signature's).

  Args:
    temperatures: float32 `(n,)` tensor.
    stages: names of the stages the signature runs, in generation order (one value each).

  Returns:
    `{stage: float32 scalar}`, behind the checks (`n == len(stages)`; each value positive and
    finite).
  """
  count = len(stages)
  checks = [
      tf.debugging.Assert(tf.equal(tf.size(temperatures), count), [
          f"`temperatures` must hold {count} value{'s' if count > 1 else ''}, one per stage "
          f"this signature runs ({', '.join(stages)})"]),
      tf.debugging.Assert(tf.reduce_all((temperatures > 0) & tf.math.is_finite(temperatures)),
                          ["`temperatures` must be positive finite numbers"]),
  ]
  with tf.control_dependencies(checks):
    temperatures = tf.identity(temperatures)
  # `gather`, not `unstack`: TensorFlow checks an `unstack` of the wrong length while it
  # specializes the graph to the call's input shapes, before the checks could run.
  return {stage: tf.gather(temperatures, i) for i, stage in enumerate(stages)}


def checked_scalar(name, value, minimum):
  """Run-time check (inside a traced signature) that the scalar input `name` is at least
  `minimum`; returns `value` behind it."""
  with tf.control_dependencies([tf.debugging.Assert(
      value >= minimum, [f"`{name}` must be at least {minimum}"])]):
    return tf.identity(value)


def export_assets(kind, stages, metadata, signatures, **fields):
  """The JSON assets of an export: `export.json` and each stage's `<stage>.config.json`.

  Args:
    kind: "pipeline" or "stage".
    stages: `{stage name: model}` exported.
    metadata: JSON-serializable dict (the pipeline's metadata: zoo name, dataset, figures).
    signatures: `{signature name: one-line description}`.
    **fields: more JSON-serializable entries of `export.json` (image shape, bits).

  Returns:
    `{file name: JSON-serializable value}` for `write_saved_model`. `export.json` holds the
    format, the zoo name (`metadata["name"]`, None when absent), the package, TensorFlow and
    Keras versions, the stages, `fields`, the signatures and the metadata; each
    `<stage>.config.json` is the stage's `config.json` of a pipeline folder.
  """
  info = {"format": FORMAT, "kind": kind, "name": metadata.get("name"),
          "spn_keras_version": __version__, "tensorflow_version": tf.__version__,
          "keras_version": keras.__version__, "stages": list(stages), **fields,
          "signatures": signatures, "metadata": metadata}
  return {METADATA_ASSET: info, **{f"{name}.config.json": stage_spec(model)
                                   for name, model in stages.items()}}


def write_saved_model(path, version, functions, default, assets, overwrite=False,
                      extra_files=None):
  """Writes traced signatures as the SavedModel `<path>/<version>` (TF Serving's layout).

  Args:
    path: the model's base folder (TF Serving's `--model_base_path`).
    version: positive int, the version folder's name.
    functions: `{signature name: tf.function with an input_signature}`.
    default: the signature also exported as `serving_default`.
    assets: `{file name: JSON-serializable value}`, written as SavedModel assets
      (`<version>/assets/<file name>`).
    overwrite: replace an existing version folder (atomically); other versions are untouched.
    extra_files: `{path relative to the version folder: bytes}`, more files of the version
      (TF Serving's warm-up records, `assets.extra/tf_serving_warmup_requests`), written
      with the SavedModel, before the version folder is moved into place; None for none.

  Returns:
    The version folder, an absolute path (or the bucket path).

  Raises:
    ValueError: `version` is not a positive int.
    FileExistsError: the version folder exists and `overwrite` is False.
  """
  check_int("version", version)
  folder = os.path.join(file_io.absolute(path), str(version))
  if tf.io.gfile.exists(folder) and not overwrite:
    raise FileExistsError(f"`{folder}` exists (version {version} of the export at `{path}`); "
                          f"pass overwrite=True (spn_export --overwrite) to replace it, or "
                          f"choose another version.")
  signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
  signatures["serving_default"] = signatures[default]

  def write(tmp_folder):
    with tempfile.TemporaryDirectory() as sources:
      root = tf.Module()
      # The tf.Variables the graphs capture, not the Keras variables wrapping them: a TF1
      # session restores exactly the tracked variables.
      root.captured_variables = list({id(v): v for function in signatures.values()
                                      for v in function.variables}.values())
      root.assets = {}
      for file_name, value in assets.items():
        source = os.path.join(sources, file_name)
        with tf.io.gfile.GFile(source, "w") as f:
          json.dump(value, f, indent=2, sort_keys=True)
        root.assets[file_name] = tf.saved_model.Asset(source)
      # Only as signatures: a tf.function attribute of `root` would be traced again for the
      # saving context, which doubles the export's time.
      tf.saved_model.save(root, tmp_folder, signatures=signatures)
    check_servable(tmp_folder)  # no op that needs XLA: TF Serving could not run it
    for relative_path, content in (extra_files or {}).items():
      target = os.path.join(tmp_folder, relative_path)
      tf.io.gfile.makedirs(os.path.dirname(target))
      with tf.io.gfile.GFile(target, "wb") as f:
        f.write(content)

  file_io.commit_folder(write, folder, overwrite, last=("saved_model.pb",))
  return folder
