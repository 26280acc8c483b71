"""Flags of more than one tool, defined once: those of the tools that train one stage
(`spn_train`, `spn_tune`), and the few that `spn_eval`, `spn_sample` and `spn_export` share.

absl keeps one flag registry per process and raises `DuplicateFlagError` when a second module
defines a name again, so the tools import these definitions instead of defining their own;
all tools can then be imported in the same process (tests, notebooks). Importing this module
defines the flags; each tool adds only the flags that are its own.
"""

from absl import app
from absl import flags

from spn_keras.argument_checks import ArgumentError
from spn_keras.cli import common
from spn_keras.pipelines.pipeline import STAGES
from spn_keras.training.trainer_config import PRECISIONS
from spn_keras.training.trainer_config import TrainerConfig

# `TrainerConfig` fields that a flag of another name sets.
_FLAG_OF_FIELD = {"global_batch_size": "batch_size"}

flags.DEFINE_string("zoo", None, "The model: a registered zoo name (spn_keras.zoo."
                    "list_models()), or a pipeline folder; the same as --pipeline.")
flags.DEFINE_string("config", None, "spn_train, spn_tune: a pipeline folder whose stage "
                    "configs define the model to train (as --pipeline=FOLDER).")
flags.DEFINE_enum("stage", None, list(STAGES), "Stage to train (spn_train, spn_tune), to "
                  "evaluate alone (spn_eval) or to export alone (spn_export).")
flags.DEFINE_string("dataset", None, "make_dataset spec; default: the zoo entry's dataset.")
flags.DEFINE_string("data_dir", None, "TFDS data folder.")
flags.DEFINE_string("model_dir", None, "Folder for checkpoints and TensorBoard events "
                    "(spn_tune: the tuner's project, one trial_<id>/ folder per trial).")
flags.DEFINE_integer("train_steps", 1000, "Total training steps (spn_tune: per trial).")
flags.DEFINE_integer("batch_size", None, "Global batch size; default: the entry's.")
flags.DEFINE_float("clip_norm", None, "Global gradient-norm clipping.")
flags.DEFINE_enum("precision", "float32", list(PRECISIONS), "Dtype policy.")
flags.DEFINE_integer("checkpoint_every", 100, "Steps between checkpoints.")
flags.DEFINE_integer("log_every", 10, "Steps between training summaries and progress lines "
                     "(spn_train also writes one at least every 30 s).")
flags.DEFINE_integer("seed", 0, "Seed of the initial weights, the data order and the target "
                     "slices: the same seed, the same run (float32, one device).")
flags.DEFINE_bool("jit_compile", False, "Compile each training step with XLA (what a TPU "
                  "does; spn_train, spn_tune).")
flags.DEFINE_string("pipeline", None, "The model, named as --zoo names it (give one of the "
                    "two): a zoo name (its pretrained weights) or a pipeline folder (local or a "
                    "bucket path), resolved like spn_keras.zoo.load. spn_eval evaluates it (a "
                    "folder may lack stages), spn_sample samples or upscales with it, spn_export "
                    "exports it, spn_compress and spn_decompress code with it; spn_train and "
                    "spn_tune train a stage of its architecture (a folder's stage configs, as "
                    "--config), from random weights.")
flags.DEFINE_string("output_dir", None, "spn_compress, spn_decompress: the folder the "
                    "outputs go to (one per input, named after it).")
flags.DEFINE_bool("overwrite", False, "Replace existing outputs (spn_export: the version "
                  "folder; spn_compress, spn_decompress: the files).")
flags.DEFINE_bool("progress", True, "Show a progress bar over the stages' slices (spn_sample, "
                  "spn_compress, spn_decompress).")
flags.DEFINE_string("output", None, "spn_sample: the PNG file for the grid of images (default "
                    "samples.png); spn_export: the export's base folder, written as "
                    "<output>/<version>/saved_model.pb.")


def trainer_config(**fields):
  """`TrainerConfig(**fields)`, for a tool whose flags set the fields.

  Returns:
    The `TrainerConfig`.

  Raises:
    app.UsageError: a field is refused; the one-line message names the flag that sets it
      (`--batch_size` for `global_batch_size`) and its accepted range.
  """
  try:
    return TrainerConfig(**fields)
  except ArgumentError as error:
    flag = _FLAG_OF_FIELD.get(error.name, error.name)
    raise app.UsageError(common.flag_error_message(flag, error)) from None
