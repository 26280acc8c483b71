"""spn_export: exports a pipeline (or one of its stages) as a SavedModel for TF Serving.

  spn_export --zoo=mnist28_mdu --output=/tmp/export --version=1
  spn_export --pipeline=my_mnist --output=/tmp/export --version=2 --overwrite
  spn_export --zoo=mnist28_mdu --stage=depth_upscaler --output=/tmp/depth_upscaler

`--zoo` and `--pipeline` name the model the same way: a zoo name or a pipeline folder.
Writes TF Serving's layout, `<output>/<version>/saved_model.pb`, with the signatures
`log_prob` (also `serving_default`), `sample`, and `upscale` / `upscale_depth` where the
pipeline upscales (see `spn_keras.export.PipelineExporter`; a single `--stage` gets
`log_prob` and `sample`, see `StageExporter`), and TF Serving's warm-up records,
`<output>/<version>/assets.extra/tf_serving_warmup_requests` (one small request per signature,
replayed by the server when it loads the version; `--nowarmup` leaves them out; they need the
`serving` extra, `pip install -e ".[serving]"`). Prints JSON naming the folder. An existing
version folder is an error unless `--overwrite`.
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
import tensorflow as tf

from spn_keras.cli import common
from spn_keras.cli import stage_flags  # noqa: F401  (defines --zoo, --pipeline, --output, ...)
from spn_keras.export import StageExporter
from spn_keras.export import warmup_requests
from spn_keras.export.common import METADATA_ASSET
from spn_keras.presets.file_io import read_json

FLAGS = flags.FLAGS
flags.DEFINE_integer("version", 1, "Version folder of the export (TF Serving serves the "
                     "highest version under --output).")
flags.DEFINE_boolean("warmup", True, "Write TF Serving's warm-up records "
                     "(assets.extra/tf_serving_warmup_requests, one request per signature, "
                     "replayed at load); needs tensorflow-serving-api (the `serving` extra).")
# The shared flags this tool reads, listed by its --help.
flags.declare_key_flag("zoo")
flags.declare_key_flag("pipeline")
flags.declare_key_flag("output")
flags.declare_key_flag("stage")
flags.declare_key_flag("overwrite")


def export(output, zoo_name=None, pipeline_dir=None, version=1, overwrite=False, stage=None,
           warmup=True):
  """Exports a zoo pipeline (pretrained weights) or a pipeline folder; returns a summary.

  Args:
    output: the export's base folder; the SavedModel goes to `<output>/<version>`.
    zoo_name: `--zoo`: a registered zoo name (its pretrained weights) or a pipeline folder.
    pipeline_dir: `--pipeline`, the same; give exactly one of `zoo_name` and `pipeline_dir`.
    version: positive int, the version folder.
    overwrite: replace an existing version folder.
    stage: export this stage alone; None exports the pipeline.
    warmup: write TF Serving's warm-up records (`--warmup`).

  Returns:
    dict with `export` (the version folder), `signatures`, `stages`, `metadata`, `warmup`
    (the warm-up file, None without), `seconds`.
  """
  version_folder = os.path.join(output, str(version))
  for folder in (output, version_folder):  # before the model is loaded and traced
    if tf.io.gfile.exists(folder) and not tf.io.gfile.isdir(folder):
      raise ValueError(f"--output: `{folder}` is a file; the export needs a folder there.")
  pipeline = common.load_pipeline(zoo_name, pipeline_dir)
  start = time.perf_counter()
  if stage is None:
    folder = pipeline.export(output, version, overwrite, warmup=warmup)
  elif stage in pipeline.stages:
    folder = StageExporter(pipeline.stages[stage], stage).export(output, version, overwrite,
                                                                 pipeline.metadata, warmup)
  else:
    raise ValueError(f"`stage` must be one of {list(pipeline.stages)}, got {stage!r}.")
  info = read_json(os.path.join(folder, "assets", METADATA_ASSET), METADATA_ASSET)
  return {"export": folder, "signatures": sorted(info["signatures"]), "stages": info["stages"],
          "metadata": info["metadata"],
          "warmup": os.path.join(folder, warmup_requests.WARMUP_FILE) if warmup else None,
          "seconds": time.perf_counter() - start}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not FLAGS.output:
    raise app.UsageError("--output is required (the export's base folder).")
  common.model_name_from_flags(FLAGS.zoo, FLAGS.pipeline)
  if FLAGS.warmup:
    try:  # before the model is loaded: the records need tensorflow-serving-api's protos
      warmup_requests.serving_protos()
    except ImportError as e:
      raise app.UsageError(str(e)) from None
  try:
    summary = export(FLAGS.output, FLAGS.zoo, FLAGS.pipeline, FLAGS.version, FLAGS.overwrite,
                     FLAGS.stage, FLAGS.warmup)
  except FileExistsError as e:
    raise app.UsageError(str(e)) from None
  print(json.dumps(summary, default=str))


def run():
  """Console-script entry point."""
  common.run_tool(main, sys.modules[__name__])


if __name__ == "__main__":
  run()
