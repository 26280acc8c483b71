"""Pieces shared by the command-line tools: running one (its `--help` and one-line errors),
checking its input and output files, and resolving the model its flags name.

A stage's data and bits/dim are in `spn_keras.cli.evaluation`.
"""

import json
import os
import stat
import sys

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from spn_keras import zoo
from spn_keras.argument_checks import ArgumentError
from spn_keras.cli import launch
from spn_keras.pipelines import serialization
from spn_keras.presets import file_io
from spn_keras.presets import folder_rules
from spn_keras.presets.preset_folders import pipeline_stage_folders


def run_tool(main, module):
  """`app.run(main)`, with `--help` describing `module` however the tool was started.

  absl's `--help` shows the docstring and key flags of `__main__`, which is a launcher (a
  `bin/` wrapper, installed as the command) unless the tool runs with `python -m`; this gives
  the launcher `module`'s docstring and key flags first, and `--verbosity`, which decides
  there whether TensorFlow's log lines show (`launch.HELP`).

  Python-side INFO lines (TensorFlow's, through absl logging: e.g. "Function `_log_prob`
  contains input name(s) ... with unsupported characters" while exporting) are hidden too
  unless `--verbosity` is 1 or more: absl would show them from 0, its default.

  The help flags exit with status 0, and a flag absl cannot parse (`--num_images=abc`, an
  unknown flag) is a user's mistake like the others: one line, status 2 (`_parse_flags`).

  Args:
    main: the tool's `main(argv)`.
    module: the tool's module object (`sys.modules[__name__]`).
  """
  launcher = sys.modules["__main__"]
  if launcher is not module:
    launcher.__doc__ = module.__doc__ + launch.HELP
    for flag in flags.FLAGS.get_key_flags_for_module(module) + [flags.FLAGS["verbosity"]]:
      flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)

  def quiet_main(argv):
    verbose = flags.FLAGS.verbosity >= 1
    if not verbose:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(argv)
    except app.UsageError as error:
      exit_with_error(str(error))
    except USER_ERRORS as error:
      if verbose:  # -v 1: the whole traceback, for a bug report
        raise
      exit_with_error(user_error_message(error))

  app.run(quiet_main, flags_parser=_parse_flags)


def _parse_flags(argv):
  """`run_tool`'s flags parser for `app.run`: `flags.FLAGS(argv)`, with a tool's exits.

  absl's own parser prints "FATAL Flags parsing error: <message>" and a hint to stderr and
  exits with status 1, and its help flags (`--help`, `--helpshort`, `--helpfull`,
  `--helpxml`) exit with status 1 after printing the help: here a parsing error is
  `<tool>: error: <message>` and status 2 (`exit_with_error`), and help exits with 0.

  Args:
    argv: the command line, program name first.

  Returns:
    The program name and the arguments that are not flags, for `main`.
  """
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:  # e.g. "flag --num_images=abc: invalid literal for int() ..."
    exit_with_error(str(error))
  except SystemExit as exit_:
    if exit_.code == 1:  # a help flag, the only one that exits with 1 while parsing
      sys.exit(0)
    raise


# The errors that a user's input (flags, files, folders) causes, which a tool reports in one
# line (the traceback shows with --verbosity=1): this package's checks raise the first five;
# TensorFlow raises the others about files and data.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError,
               NotADirectoryError, PermissionError, tf.errors.NotFoundError,
               tf.errors.PermissionDeniedError, tf.errors.InvalidArgumentError,
               tf.errors.FailedPreconditionError)


def user_error_message(error):
  """One line for a `USER_ERRORS` error: an `ArgumentError` about an argument that a flag of
  the same name sets names the flag (`--num_images must be ...`); a TensorFlow error keeps
  its first line, without the function and op that raised it (`{{function_node ...}}` before
  it, `[Op:...]` after it): e.g. "x.png; Is a directory"."""
  if isinstance(error, ArgumentError) and error.name in flags.FLAGS:
    return flag_error_message(error.name, error)
  message = error.message if isinstance(error, tf.errors.OpError) else str(error)
  line = (message.strip().splitlines() or [type(error).__name__])[0].split(" [Op:")[0]
  if line.startswith("{{function_node"):  # the traced function that raised it
    line = line.split("}}", 1)[-1].strip()
  return line


def flag_error_message(flag, error):
  """`--<flag> must be <what error.expected says>, got <value>.` for an `ArgumentError` about
  the argument that `--<flag>` sets ("or None" left out: a flag that is given is not None)."""
  expected = error.expected.removesuffix(" or None")
  return f"--{flag} must be {expected}, got {error.value!r}."


def exit_with_error(message):
  """Prints `<tool>: error: <message>` (one line) to stderr and exits with status 2."""
  tool = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "spn-keras"
  print(f"{tool}: error: {' '.join(message.split())}", file=sys.stderr)
  sys.exit(2)


def progress_silenced(flag_values):
  """Whether `--verbosity` was set below 0, which silences the tools' progress lines and bars
  (`--noprogress` also turns off the sampling and coding bars) (absl's
  default, -1, becomes 0 under `app.run` unless given, but stays -1 when a tool's `main` runs
  in-process)."""
  return flag_values["verbosity"].present and flag_values.verbosity < 0


def convert_files_main(convert, argv):
  """The `main` of a tool that turns input files into `--output_dir` files with a pipeline.

  Checks the flags (a model: `model_name_from_flags`; an `--output_dir`), runs
  `convert(inputs, output_dir, zoo_name, pipeline_dir, overwrite, progress)` on the
  positional arguments, and prints the summary it returns as JSON. A user's mistake (a flag,
  or `convert`'s `ValueError`s and `OSError`s: a missing, unreadable or undecodable input,
  an existing output, a file of another pipeline) prints one line and exits with status 2
  (`exit_with_error`).

  Args:
    convert: the tool's function (`spn_compress`'s `compress_files`, ...).
    argv: the arguments absl passes to `main`.

  Raises:
    SystemExit: status 2, after the line that says what was wrong.
  """
  flag_values = flags.FLAGS
  try:
    model_name_from_flags(flag_values.zoo, flag_values.pipeline)
    if not flag_values.output_dir:
      raise app.UsageError("--output_dir is required.")
    summary = convert(argv[1:], flag_values.output_dir, flag_values.zoo, flag_values.pipeline,
                      flag_values.overwrite,
                      flag_values.progress and not progress_silenced(flag_values))
  except (app.UsageError, ValueError, OSError) as error:
    exit_with_error(user_error_message(error))
  print(json.dumps(summary))


def checked_output_paths(inputs, output_dir, suffix, overwrite=False):
  """Checks a tool's input files and `output_dir` before any work; names each input's output.

  An input's output is `<output_dir>/<its file name without extension><suffix>`. Every input
  must be an existing regular file (not a folder, device or pipe); `output_dir` must be a
  folder or not exist yet below one; no two inputs may share an output; no output may be a
  folder, nor exist unless `overwrite`.

  Args:
    inputs: the input paths (local, or `tf.io.gfile` paths such as `gs://...`).
    output_dir: the folder for the outputs (`--output_dir`).
    suffix: the outputs' extension, e.g. ".spn".
    overwrite: whether existing outputs may be replaced (`--overwrite`).

  Returns:
    `{input: output path}`.

  Raises:
    ValueError: naming the file or folder that is wrong.
    FileExistsError: an output exists and `overwrite` is False.
  """
  for path in inputs:
    if not tf.io.gfile.exists(path):
      raise ValueError(f"{path}: no such file.")
    if tf.io.gfile.isdir(path):
      raise ValueError(f"{path}: a folder, not a file.")
    # Local only (buckets hold objects): `os.stat` follows a link to what it names.
    if file_io.is_local(path) and not stat.S_ISREG(os.stat(path).st_mode):
      raise ValueError(f"{path}: not a regular file (a device or a pipe).")
  folder = output_dir  # the nearest folder that exists decides where outputs can go
  while folder and not tf.io.gfile.exists(folder) and os.path.dirname(folder) != folder:
    folder = os.path.dirname(folder)
  if folder and tf.io.gfile.exists(folder) and not tf.io.gfile.isdir(folder):
    where = "is" if folder == output_dir else f"lies below {folder},"
    raise ValueError(f"--output_dir {output_dir} {where} a file, not a folder.")
  inputs_by_output = {}
  for path in inputs:
    output = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + suffix)
    if output in inputs_by_output:
      raise ValueError(f"{inputs_by_output[output]} and {path} have the same file name: both "
                       f"would be written to {output}.")
    if tf.io.gfile.isdir(output):
      raise ValueError(f"{output} is a folder: an output cannot replace it.")
    inputs_by_output[output] = path
  _refuse_existing_outputs(inputs_by_output, overwrite)
  return {path: output for output, path in inputs_by_output.items()}


def _refuse_existing_outputs(paths, overwrite):
  """Raises FileExistsError if any of `paths` exists and `overwrite` is False."""
  existing = [path for path in paths if tf.io.gfile.exists(path)]
  if existing and not overwrite:
    raise FileExistsError(f"{existing[0]} exists ({len(existing)} of the outputs do); pass "
                          f"--overwrite to replace them.")


def read_input_file(path):
  """The bytes of the input file `path` (checked first by `checked_output_paths`).

  Raises:
    ValueError: naming the file, when TensorFlow cannot read it (permissions, I/O error).
  """
  try:
    with tf.io.gfile.GFile(path, "rb") as f:
      return f.read()
  except tf.errors.OpError as error:
    raise ValueError(f"{path}: cannot be read ({user_error_message(error)}).") from None


def write_outputs(contents, overwrite=False):
  """Writes several files all or none: no file is left half-written, none replaced in vain.

  Every target is checked first; then all files are written to temporary names beside their
  targets, and only when all are written are they renamed into place. A failed write removes
  the temporary files and leaves every target as it was. Paths go through `tf.io.gfile`, so
  bucket paths (`gs://...`) work too.

  Args:
    contents: `{path: bytes}`.
    overwrite: replace existing files; otherwise an existing target is an error.

  Raises:
    FileExistsError: a target exists and `overwrite` is False (nothing is written).
    OSError: naming the target, when a file cannot be written (nothing is written).
  """
  _refuse_existing_outputs(contents, overwrite)
  temporary = {}
  try:
    for path, content in contents.items():
      tf.io.gfile.makedirs(os.path.dirname(path) or ".")
      temporary[path] = file_io.temporary_sibling(path)
      with tf.io.gfile.GFile(temporary[path], "wb") as f:
        f.write(content)
  except BaseException as error:
    for tmp in temporary.values():
      if tf.io.gfile.exists(tmp):
        tf.io.gfile.remove(tmp)
    if isinstance(error, tf.errors.OpError):
      raise OSError(f"{path}: cannot be written ({user_error_message(error)}).") from None
    raise
  for path, tmp in temporary.items():
    tf.io.gfile.rename(tmp, path, overwrite=True)


# What each flag that names the model takes, for `model_name_from_flags`'s message.
_MODEL_FLAGS = {"zoo": "a zoo name", "pipeline": "a zoo name or a pipeline folder",
                "config": "a pipeline folder whose stage configs define the model"}


def model_name_from_flags(zoo=None, pipeline=None, **others):
  """The model that a tool's flags name: the value of the one flag given among `--zoo`,
  `--pipeline` and the tool's `others` (`config` for `spn_train` and `spn_tune`).

  Every tool names its model this way: `--zoo=NAME` or `--pipeline=NAME_OR_FOLDER` (a registered
  zoo name, a local pipeline folder or a bucket path), resolved like `spn_keras.zoo.load`
  (`load_pipeline`, `resolve_architecture`).

  Args:
    zoo: the value of `--zoo`, None when it was not given.
    pipeline: the value of `--pipeline`, None when it was not given.
    **others: the values of the tool's other flags that name the model (`config=...`).

  Returns:
    The name or folder given.

  Raises:
    app.UsageError: none of the flags, or more than one, was given (one line naming them).
  """
  values = {"zoo": zoo, "pipeline": pipeline, **others}
  given = [value for value in values.values() if value is not None]
  if len(given) != 1:
    described = [f"--{name} ({_MODEL_FLAGS.get(name, 'a model')})" for name in values]
    raise app.UsageError(f"Give exactly one of {', '.join(described[:-1])} and "
                         f"{described[-1]}: each names the model.")
  return given[0]


def check_model_name(name_or_folder):
  """Raises ValueError unless `name_or_folder` is a registered zoo name or an existing folder
  (local or a bucket path): the one line a user sees for a name that is neither."""
  registered = zoo.list_models()
  if name_or_folder not in registered and not tf.io.gfile.isdir(name_or_folder):
    raise ValueError(f"{name_or_folder!r} is neither a pipeline folder nor a registered zoo "
                     f"name ({', '.join(registered)}).")


def load_pipeline(zoo_name=None, pipeline_dir=None):
  """The pipeline that `--zoo` or `--pipeline` names, loaded like `spn_keras.zoo.load`.

  Args:
    zoo_name: the value of `--zoo`: a registered zoo name (its pretrained weights) or a
      pipeline folder; None when not given.
    pipeline_dir: the value of `--pipeline`, the same; give exactly one of the two.

  Returns:
    The `Pipeline`, with its `metadata`.

  Raises:
    app.UsageError: both or neither given (`model_name_from_flags`).
    ValueError: a name that is neither registered nor a folder (`check_model_name`).
  """
  name_or_folder = model_name_from_flags(zoo_name, pipeline_dir)
  check_model_name(name_or_folder)
  return zoo.load(name_or_folder)


def resolve_architecture(name_or_folder):
  """The `ZooEntry` registered as `name_or_folder`, or an entry built from the stage configs
  of the pipeline folder `name_or_folder` (its metadata gives the name, dataset, batch size
  and learning rate). Names are resolved before folders, as `spn_keras.zoo.load` does.

  Raises:
    ValueError: `name_or_folder` is neither a registered name nor a folder.
  """
  check_model_name(name_or_folder)
  if name_or_folder in zoo.list_models():
    return zoo.get(name_or_folder)
  config = name_or_folder
  stages = {name: serialization.read_stage_config(folder)
            for name, (folder, _) in pipeline_stage_folders(config).items()}
  metadata = serialization.read_pipeline_json(config).get("metadata", {})
  return zoo.ZooEntry(name=metadata.get("name", os.path.basename(os.path.normpath(config))),
                      description=metadata.get("description", ""),
                      dataset=metadata.get("dataset", ""), stages=stages,
                      batch_size=metadata.get("batch_size", 32),
                      learning_rate=metadata.get("learning_rate", 1e-4))


def resolve_stage(name_or_folder, stage, dataset=None):
  """Resolves the model and data flags of a tool that trains one stage; builds nothing.

  Args:
    name_or_folder: a zoo name or a pipeline folder (`--zoo`, `--pipeline` or `--config`:
      `model_name_from_flags`), as in `resolve_architecture`.
    stage: the stage's name, e.g. "slice_decoder".
    dataset: a `make_dataset` spec, or None for the entry's own.

  Returns:
    `(entry, dataset)`: the `ZooEntry` (`entry.build_pipeline()` gives the pipeline with random
    weights that supplies the stage's view of the data and the full image's dimensions; a tool
    checks its other flags first) and the dataset spec.

  Raises:
    app.UsageError: `stage` is not a stage of the pipeline, or no dataset is known.
  """
  entry = resolve_architecture(name_or_folder)
  if stage not in entry.stages:
    names = [name for name in folder_rules.STAGES if name in entry.stages]
    raise app.UsageError(f"--stage must be one of {names} for {entry.name}.")
  dataset = dataset or entry.dataset
  if not dataset:
    raise app.UsageError("--dataset is required (the pipeline names none).")
  return entry, dataset
