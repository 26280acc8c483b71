"""The bad-input probe of issue 27: bad and hostile inputs against the public API and the CLIs.

Each case is one call that a careless or hostile user could make, and what a good outcome is:
`refuse` (an exception of this package's clear kinds whose message names the argument, flag or
file at fault) or `accept` (no error, and the result is right). The runner classifies what
happened:

- `clear`: refused with a clear error (`CLEAR_ERRORS`, or a kind the case allows) whose message
  holds every name the case expects (a CLI: exit status 2 and one line on stderr naming them);
- `accepted`: no error, and the case's check of the result passed;
- `silent`: no error where one was expected, or a wrong result, or damage done (a check of
  what must not change failed) even though an error was raised;
- `internal`: any other exception (`tf.errors.*`, `KeyError`, `AttributeError`, ...), or a
  clear kind whose message does not name what was wrong (a CLI: a traceback, another exit
  status, several lines);
- `hang`: still running after the case's time limit.

A case passes when a `refuse` case is `clear` and an `accept` case is `accepted`.

In-process cases run in a worker thread with a deadline; hang-prone ones (`isolated`: a weights
file that is a symlink to /dev/zero or a FIFO, configs that would build or allocate for ever)
run in a worker process that is killed at the deadline; CLI cases run `bin/<tool>` in a new
process. Run

  python tests/bad_input_probe.py [--skip_cli] [--only SUBSTRING]

to print one JSON line per case and a summary tally; tests/test_bad_input_probe.py runs the
same cases under pytest.
"""

import argparse
import dataclasses
import functools
import hashlib
import json
import math
import os
import pathlib
import queue
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402  (after the log level is set)

from spn_keras import codec  # noqa: E402
from spn_keras import data  # noqa: E402
from spn_keras import zoo  # noqa: E402
from spn_keras.argument_checks import ArgumentError  # noqa: E402
from spn_keras.cli import evaluate as evaluate_cli  # noqa: E402
from spn_keras.cli import evaluation as cli_evaluation  # noqa: E402
from spn_keras.codec import environment  # noqa: E402
from spn_keras.data.folder_source import folder_split  # noqa: E402
from spn_keras.models import SliceDecoder  # noqa: E402
from spn_keras.models import SliceDecoderConfig  # noqa: E402
from spn_keras.pipelines import Pipeline  # noqa: E402
from spn_keras.pipelines import serialization  # noqa: E402
from spn_keras.testing import tiny_mdu_pipeline  # noqa: E402
from spn_keras.training import TrainerConfig  # noqa: E402

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
BIN = REPOSITORY / "bin"
# Where the pipelines shipped with the package are (an editable install: the repository's).
INSTALLED_ZOO = REPOSITORY / "zoo"

# The exception kinds of this package's clear refusals (`ArgumentError` is a ValueError).
CLEAR_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, codec.CodecError,
                ArgumentError)
GOOD_OUTCOME = {"refuse": "clear", "accept": "accepted"}
OUTCOMES = ("clear", "accepted", "silent", "internal", "hang")

IMAGE_SIZE = 4  # the tiny pipeline's images: 4 x 4 gray, 3 + 5 bits
BITS = 8
LOW_BITS = 3
DEFAULT_TIMEOUT = 60.0
CLI_TIMEOUT = 240.0
WORKER_START_SECONDS = 90.0  # for a worker process to import TensorFlow and say it started


@dataclasses.dataclass
class Case:
  """One probe: a call and what a good outcome is.

  Attributes:
    id: a unique name.
    call: a zero-argument callable making the call (a CLI case: returning the
      `subprocess.CompletedProcess`).
    expect: "refuse" or "accept".
    names: substrings that the refusal's message must all hold (the argument, flag or file).
    check: optional `check(result)` raising `AssertionError` when something is wrong after the
      call: the result of an accepted call (None after a refusal), or damage done.
    also_clear: further exception types that count as clear for this case (e.g. the
      `tf.errors.InvalidArgumentError` of a range check inside a graph, `fit`).
    isolated: hang-prone: run in a worker process that is killed at the deadline.
    cli: the call runs a command-line tool.
    timeout: seconds before the case counts as hung.
  """

  id: str
  call: object
  expect: str
  names: tuple = ()
  check: object = None
  also_clear: tuple = ()
  isolated: bool = False
  cli: bool = False
  timeout: float = DEFAULT_TIMEOUT


@dataclasses.dataclass
class Outcome:
  """What a case did: `outcome` is one of `OUTCOMES`; `ok` whether it is the good one."""

  id: str
  expect: str
  outcome: str
  error: str = ""
  message: str = ""
  seconds: float = 0.0

  @property
  def ok(self):
    return self.outcome == GOOD_OUTCOME[self.expect]

  def to_json(self):
    return json.dumps({**dataclasses.asdict(self), "ok": self.ok})


# Running and classifying.
def _first_line(text, limit=400, names=()):
  """The first line of `text` holding one of `names` (else its first line), shortened."""
  lines = str(text).strip().splitlines() or [""]
  named = [line for line in lines if any(name in line for name in names)]
  return (named or lines)[0].strip()[:limit]


def _check_failure(case, result):
  """The message of `case.check(result)`'s failure, or "" when it passes (or there is none)."""
  if case.check is None:
    return ""
  try:
    case.check(result)
  except AssertionError as error:
    return f"check failed: {error}"
  except Exception as error:  # noqa: BLE001  (a broken check is a failed check)
    return f"check raised {type(error).__name__}: {_first_line(error)}"
  return ""


def classify(case, error, result):
  """`(outcome, error type, message)` of an in-process call that raised `error` (or None) or
  returned `result`."""
  if error is None:
    if case.expect == "refuse":
      return "silent", "", f"no error; returned {_first_line(repr(result), 200)}"
    failure = _check_failure(case, result)
    return ("silent" if failure else "accepted"), "", failure
  kind = type(error).__name__
  message = str(error)
  if not isinstance(error, CLEAR_ERRORS + tuple(case.also_clear)):
    return "internal", kind, _first_line(message)
  missing = [name for name in case.names if name not in message]
  if missing or not case.names:
    return "internal", kind, f"does not name {missing}: {_first_line(message)}"
  failure = _check_failure(case, None)
  if failure:
    return "silent", kind, f"refused, but {failure}"
  return "clear", kind, _first_line(message, names=case.names)


def classify_cli(case, run):
  """`(outcome, exit status, message)` of a CLI case's `subprocess.CompletedProcess`."""
  lines = run.stderr.strip().splitlines()
  if run.returncode == 0:
    if case.expect == "refuse":
      return "silent", "exit 0", f"no error; stdout {_first_line(run.stdout, 200)}"
    failure = _check_failure(case, run)
    return ("silent" if failure else "accepted"), "exit 0", failure
  status = f"exit {run.returncode}"
  if run.returncode != 2 or len(lines) != 1:
    return "internal", status, " | ".join(lines[-3:])[:600]
  missing = [name for name in case.names if name not in lines[0]]
  if missing or not case.names:
    return "internal", status, f"does not name {missing}: {lines[0]}"
  failure = _check_failure(case, None)
  if failure:
    return "silent", status, f"refused, but {failure}"
  return "clear", status, lines[0]


def run_case(case):
  """Runs one in-process or CLI case (not an isolated one) and returns its `Outcome`."""
  start = time.monotonic()
  if case.cli:
    try:
      run = case.call()
    except subprocess.TimeoutExpired:
      return Outcome(case.id, case.expect, "hang", "", f"over {case.timeout:g} s",
                     time.monotonic() - start)
    outcome, error, message = classify_cli(case, run)
    return Outcome(case.id, case.expect, outcome, error, message, time.monotonic() - start)
  box = {}

  def target():
    try:
      box["result"] = case.call()
    except BaseException as error:  # noqa: BLE001  (every error is classified)
      box["error"] = error

  thread = threading.Thread(target=target, name=f"probe-{case.id}", daemon=True)
  thread.start()
  thread.join(case.timeout)
  if thread.is_alive():
    return Outcome(case.id, case.expect, "hang", "", f"over {case.timeout:g} s",
                   time.monotonic() - start)
  outcome, error, message = classify(case, box.get("error"), box.get("result"))
  return Outcome(case.id, case.expect, outcome, error, message, time.monotonic() - start)


def run_isolated(context, cases):
  """Runs hang-prone cases in a worker process, killed (and restarted for the cases after it)
  when one overruns its deadline.

  Args:
    context: the parent's `ProbeContext` (its saved pipeline folder is the worker's template).
    cases: the isolated cases, in order.

  Returns:
    `{case id: Outcome}`.
  """
  outcomes = {}
  pending = list(cases)
  while pending:
    command = [sys.executable, __file__, "--worker", "--template", context.template,
               "--root", context.case_dir("worker"), *[case.id for case in pending]]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, start_new_session=True, env=_quiet_environment())
    lines = queue.Queue()
    threading.Thread(target=_read_outcome_lines, args=(worker.stdout, lines),
                     daemon=True).start()
    stopped = False  # a case hung, or the worker died
    try:
      try:
        started = lines.get(timeout=WORKER_START_SECONDS)  # after its imports
      except queue.Empty:
        started = None
      if started is None:
        case = pending.pop(0)
        outcomes[case.id] = Outcome(case.id, case.expect, "internal", "worker did not start",
                                    f"no worker within {WORKER_START_SECONDS:g} s")
        stopped = True
      while pending and not stopped:
        case = pending[0]
        start = time.monotonic()
        try:
          line = lines.get(timeout=case.timeout)
        except queue.Empty:
          outcomes[case.id] = Outcome(case.id, case.expect, "hang", "",
                                      f"over {case.timeout:g} s", time.monotonic() - start)
          pending.pop(0)
          stopped = True
          continue
        if line is None:  # the worker died (killed for memory, a crash) during this case
          outcomes[case.id] = Outcome(case.id, case.expect, "internal", "worker died",
                                      f"exit status {worker.wait()}")
          pending.pop(0)
          stopped = True
          continue
        fields = json.loads(line)
        del fields["ok"]
        outcomes[fields["id"]] = Outcome(**fields)
        pending = [case for case in pending if case.id != fields["id"]]
    finally:
      try:  # a worker that ran all its cases cleans up and exits
        worker.wait(timeout=0 if stopped or pending else WORKER_START_SECONDS)
      except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
  return outcomes


def _read_outcome_lines(stream, lines):
  """Puts the JSON lines of a worker's `stream` on the queue `lines` (other output, such as a
  library's notice, is skipped), then None when the stream ends."""
  for line in stream:
    if line.startswith("{"):
      lines.put(line)
  lines.put(None)


def _quiet_environment():
  """This process's environment without `TF_CPP_MIN_LOG_LEVEL`, so that a tool's launcher
  hides TensorFlow's log lines (as for a user who did not set it)."""
  environ = dict(os.environ)
  environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
  return environ


# Files and folders.
def tree_state(root):
  """`{relative path: sha256, link target, "dir" or "special"}` of everything under `root`
  (links and special files are never followed or opened)."""
  state = {}
  for folder, folders, files in os.walk(root):
    for name in folders + files:
      path = os.path.join(folder, name)
      info = os.lstat(path)
      relative = os.path.relpath(path, root)
      if stat.S_ISLNK(info.st_mode):
        state[relative] = "link -> " + os.readlink(path)
      elif stat.S_ISDIR(info.st_mode):
        state[relative] = "dir"
      elif stat.S_ISREG(info.st_mode):
        with open(path, "rb") as f:
          state[relative] = hashlib.sha256(f.read()).hexdigest()
      else:
        state[relative] = "special"
  return state


def edit_json(path, edit):
  """Rewrites the JSON file `path` with `edit(parsed)`: its return value, or the parsed value
  as `edit` changed it when it returns None."""
  with open(path) as f:
    parsed = json.load(f)
  edited = edit(parsed)
  with open(path, "w") as f:
    json.dump(parsed if edited is None else edited, f)


def write_png(path, image):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(tf.io.encode_png(image).numpy())


def gray_images(count, seed=0, size=IMAGE_SIZE):
  return np.random.default_rng(seed).integers(0, 256, (count, size, size, 1), np.uint8)


def names_in_split(split, count, prefix="image"):
  """`count` file names `<prefix><i>.png` that `folder_split` puts in `split`."""
  names = []
  index = 0
  while len(names) < count:
    name = f"{prefix}{index}.png"
    if folder_split(name) == split:
      names.append(name)
    index += 1
  return names


@dataclasses.dataclass
class World:
  """A case's folder: a copy of the saved tiny pipeline, and beside it someone else's folder
  (a valid copy of a stage and a file of theirs) that nothing may read or change."""

  case: str
  pipeline: str
  victim: str

  def stage(self, name="slice_decoder"):
    return os.path.join(self.pipeline, name)

  def manifest(self):
    return os.path.join(self.pipeline, "pipeline.json")

  def config(self, stage="slice_decoder"):
    return os.path.join(self.stage(stage), "config.json")

  def weights(self, stage="slice_decoder"):
    return os.path.join(self.stage(stage), "model.weights.h5")


class ProbeContext:
  """Shared, lazily made resources of the cases: a temporary folder, the tiny pipeline and its
  saved folder, gray image folders.

  Args:
    template: a saved pipeline folder to use instead of saving one (a worker process gets its
      parent's).
    root: the folder to work in (made when first needed, deleted by `close`); None: a new
      temporary folder. A worker process works in a folder of its parent's, which the parent
      deletes even when it had to kill the worker.
  """

  def __init__(self, template=None, root=None):
    self._root = root
    self._lock = threading.Lock()
    if template is not None:
      self.__dict__["template"] = template
    self._count = 0

  @property
  def root(self):
    if self._root is None:
      self._root = tempfile.mkdtemp(prefix="bad_input_probe_")
    os.makedirs(self._root, exist_ok=True)
    return self._root

  def close(self):
    if self._root is not None:
      shutil.rmtree(self._root, ignore_errors=True)
      self._root = None

  def case_dir(self, name):
    """A new empty folder for one call of a case."""
    with self._lock:
      self._count += 1
      path = os.path.join(self.root, f"{name}.{self._count}")
    os.makedirs(path)
    return path

  @functools.cached_property
  def pipeline(self):
    """The tiny 4 x 4 gray MDU pipeline (3 + 5 bits), with weights far from Keras's initial
    ones (a worker process loads its parent's saved copy)."""
    if "template" in self.__dict__:
      return Pipeline.load(self.template)
    return tiny_mdu_pipeline(IMAGE_SIZE, low_bits=LOW_BITS, high_bits=BITS - LOW_BITS,
                             depth_scale=1, stddev=0.5)

  @functools.cached_property
  def template(self):
    """The pipeline saved as a folder (never changed: cases work on copies)."""
    path = os.path.join(self.root, "template")
    self.pipeline.save(path, metadata={"name": "probe"})
    return path

  def world(self, name, edit_manifest=None, edit_config=None, alter=None):
    """A `World` for one call of case `name`.

    Args:
      name: the case id.
      edit_manifest: an `edit_json` edit of the copy's `pipeline.json`, or None.
      edit_config: an `edit_json` edit of its slice decoder's `config.json`, or None.
      alter: a function of the `World` that changes it further, or None.
    """
    case = self.case_dir(name)
    world = World(case, os.path.join(case, "pipeline"), os.path.join(case, "victim"))
    shutil.copytree(self.template, world.pipeline, symlinks=True)
    # The slice decoder first: a refusal about its folder or files then comes before the other
    # stages are built (a fraction of a second each).
    edit_json(world.manifest(), lambda spec: spec.update(stages=dict(sorted(
        spec["stages"].items(), key=lambda item: item[0] != "slice_decoder"))))
    shutil.copytree(world.stage(), world.victim)
    with open(os.path.join(world.victim, "thesis.txt"), "w") as f:
      f.write("years of work")
    if edit_manifest is not None:
      edit_json(world.manifest(), edit_manifest)
    if edit_config is not None:
      edit_json(world.config(), edit_config)
    if alter is not None:
      alter(world)
    return world

  @functools.cached_property
  def gray_folder(self):
    """A folder of 4 x 4 gray PNGs: 6 of the train split, 2 of the test split."""
    path = os.path.join(self.root, "gray_pngs")
    names = names_in_split("train", 6) + names_in_split("test", 2)
    for name, image in zip(names, gray_images(len(names))):
      write_png(os.path.join(path, name), image)
    return path

  @functools.cached_property
  def gray_tfrecords(self):
    """A `tfrecord:` folder of 4 x 4 gray images: 5 train, 3 test."""
    path = os.path.join(self.root, "gray_tfrecords")
    data.write_tfrecords(gray_images(5, seed=1), path, split="train")
    data.write_tfrecords(gray_images(3, seed=2), path, split="test")
    return path

  @functools.cached_property
  def gray_photos(self):
    """A `crops:` folder: two 200 x 200 gray photos, one of each split."""
    path = os.path.join(self.root, "gray_photos")
    for split in ("train", "test"):
      write_png(os.path.join(path, names_in_split(split, 1, "photo")[0]),
                gray_images(1, seed=3, size=200)[0])
    return path

  @functools.cached_property
  def fit_stage(self):
    """A compiled tiny slice decoder of 2 x 2 gray 3-bit images, for `fit`."""
    stage = SliceDecoder(SliceDecoderConfig.tiny(image_size=2, bits=3))
    stage.compile(optimizer="sgd", seed=0)
    return stage

  def header(self, fingerprint=None):
    """The bytes of a well-formed compressed file's header for the tiny pipeline (or
    `fingerprint`), followed by a few payload bytes."""
    if fingerprint is None:
      fingerprint = environment.model_fingerprint(dict(self.pipeline.stages))
    header = codec.CodecHeader(model_fingerprint=fingerprint,
                               environment_tag=environment.environment_tag(),
                               image_shape=(IMAGE_SIZE, IMAGE_SIZE, 1), pixels_crc=0)
    return header.to_bytes() + b"\x01\x02\x03\x04"


# Cases.
def _guarded(context, case_id, action, guard="case", expect="refuse", names=("pipeline.json",),
             isolated=False, **world_options):
  """A case on a hostile `World`: `action(world)` must be refused (or accepted) and change
  nothing under `guard` ("case": the whole case folder; "victim": the folder beside)."""
  state = {}

  def call():
    world = context.world(case_id, **world_options)
    state["world"] = world
    state["before"] = tree_state(getattr(world, guard))
    return action(world)

  def check(_):
    world = state["world"]
    after = tree_state(getattr(world, guard))
    changed = sorted(set(after.items()) ^ set(state["before"].items()))
    assert not changed, f"{guard} folder changed: {changed[:4]}"

  return Case(case_id, call, expect, tuple(names), check=check, isolated=isolated)


def _link(target, path):
  """Replaces `path` (a file or folder) by a symbolic link to `target`."""
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path)
  elif os.path.lexists(path):
    os.remove(path)
  os.symlink(target, path)


def _replace_with_fifo(path):
  os.remove(path)
  os.mkfifo(path)


def _replace_with_folder(path):
  os.remove(path)
  os.makedirs(path)


def _flip_byte(path, offset=-100):
  with open(path, "r+b") as f:
    f.seek(offset, os.SEEK_END)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 1]))


_DELETE = object()  # a value of `_stage_entry`: delete the field


def _stage_entry(field, value, stage="slice_decoder"):
  """An `edit_json` edit setting `field` of a stage's manifest entry (`_DELETE`: deleting it)."""

  def edit(spec):
    if value is _DELETE:
      del spec["stages"][stage][field]
    else:
      spec["stages"][stage][field] = value

  return edit


def _config_field(field, value, nested=None):
  """An `edit_json` edit setting a config field (of its `nested` part, e.g. "embedder")."""

  def edit(spec):
    target = spec["config"] if nested is None else spec["config"][nested]
    target[field] = value

  return edit


def _load(world):
  return Pipeline.load(world.pipeline)


def _zoo_load(world):
  return zoo.load(world.pipeline)


def _from_preset(world):
  return Pipeline.from_preset(world.pipeline)


def _save_over(context):
  return lambda world: context.pipeline.save(world.pipeline, overwrite=True)


def _save_stage_into(context):
  return lambda world: serialization.save_pipeline_stage(world.pipeline, "slice_decoder",
                                                         context.pipeline.slice_decoder)


def pipeline_folder_cases(context):
  """Hostile pipeline folders: traversal, absolute paths, `.`, symlinks, foreign folders."""
  cases = []
  loaders = {"load": _load, "zoo_load": _zoo_load, "from_preset": _from_preset}
  for name, loader in loaders.items():
    cases.append(_guarded(context, f"folder_traversal_{name}", loader,
                          edit_manifest=_stage_entry("folder", "../victim")))
  writers = {"save_overwrite": _save_over(context),
             "save_pipeline_stage": _save_stage_into(context)}
  for name, writer in writers.items():
    cases.append(_guarded(context, f"folder_traversal_{name}", writer,
                          edit_manifest=_stage_entry("folder", "../victim")))

  def absolute_victim(world):
    edit_json(world.manifest(), _stage_entry("folder", world.victim))

  cases += [
      _guarded(context, "folder_absolute_load", _load, alter=absolute_victim),
      _guarded(context, "folder_absolute_save_overwrite", _save_over(context),
               alter=absolute_victim),
      _guarded(context, "folder_dot_save_overwrite", _save_over(context),
               edit_manifest=_stage_entry("folder", "."),
               alter=lambda world: pathlib.Path(world.pipeline, "notes.txt").write_text("mine")),
      _guarded(context, "folder_dot_load", _load, edit_manifest=_stage_entry("folder", ".")),
      _guarded(context, "folder_dotdot_load", _load, edit_manifest=_stage_entry("folder", "..")),
      _guarded(context, "folder_nested_path_load", _load,
               edit_manifest=_stage_entry("folder", "slice_decoder/../slice_decoder")),
      _guarded(context, "folder_not_a_string_load", _load,
               edit_manifest=_stage_entry("folder", 7)),
      _guarded(context, "folder_missing_key_load", _load,
               edit_manifest=_stage_entry("folder", _DELETE)),
      _guarded(context, "folder_shared_by_two_stages_load", _load,
               edit_manifest=_stage_entry("folder", "slice_decoder", stage="size_upscaler")),
      _guarded(context, "stage_folder_symlink_load", _load, names=("slice_decoder",),
               alter=lambda world: _link(world.victim, world.stage())),
      # Writing over a pipeline whose stage folder is a link: the link goes, its target stays.
      _guarded(context, "stage_folder_symlink_save_overwrite", _save_over(context),
               guard="victim", expect="accept",
               alter=lambda world: _link(world.victim, world.stage())),
      _guarded(context, "weights_file_symlink_load", _load, names=("model.weights.h5",),
               alter=lambda world: _link(os.path.join(world.victim, "model.weights.h5"),
                                         world.weights())),
  ]

  def foreign_folder(world):
    """Turns the pipeline folder into a user's folder that merely holds a `slice_decoder/`."""
    os.remove(world.manifest())
    for stage in ("size_upscaler", "depth_upscaler"):
      shutil.rmtree(world.stage(stage))
    pathlib.Path(world.stage(), "my_results.csv").write_text("1,2,3")

  cases += [
      _guarded(context, "save_overwrite_into_foreign_folder", _save_over(context),
               names=("pipeline",), alter=foreign_folder),
      _guarded(context, "save_overwrite_into_folder_with_a_file", _save_over(context),
               names=("pipeline",),
               alter=lambda world: (shutil.rmtree(world.pipeline), os.makedirs(world.pipeline),
                                    pathlib.Path(world.pipeline, "a.txt").write_text("mine"))),
      _guarded(context, "save_into_a_regular_file", _save_over(context), names=("pipeline",),
               alter=lambda world: (shutil.rmtree(world.pipeline),
                                    pathlib.Path(world.pipeline).write_text("mine"))),
      _guarded(context, "save_into_a_symlinked_folder", _save_over(context), names=("pipeline",),
               alter=lambda world: _link(world.victim, world.pipeline)),
  ]

  def into_installed_zoo(write):
    """Saving into a new folder inside the shipped pipelines; a folder made is removed."""
    target = INSTALLED_ZOO / f"probe_{os.getpid()}_{write.__name__}"

    def call():
      try:
        return write(str(target))
      finally:
        shutil.rmtree(target, ignore_errors=True)

    return call

  def save_pipeline(path):
    context.pipeline.save(path)

  def save_stage(path):
    serialization.save_pipeline_stage(path, "slice_decoder", context.pipeline.slice_decoder)

  cases += [
      Case("save_into_installed_zoo", into_installed_zoo(save_pipeline), "refuse",
           names=(str(INSTALLED_ZOO),)),
      Case("save_pipeline_stage_into_installed_zoo", into_installed_zoo(save_stage), "refuse",
           names=(str(INSTALLED_ZOO),)),
  ]
  return cases


def manifest_cases(context):
  """Damaged or hostile `pipeline.json` and `config.json` files."""
  config_name = ("config.json",)
  return [
      _guarded(context, "sha256_null", _load, edit_manifest=_stage_entry("sha256", None)),
      _guarded(context, "sha256_null_changed_weights", _load,
               edit_manifest=_stage_entry("sha256", None),
               alter=lambda world: _flip_byte(world.weights())),
      _guarded(context, "sha256_missing", _load, edit_manifest=_stage_entry("sha256", _DELETE)),
      _guarded(context, "sha256_too_short", _load, edit_manifest=_stage_entry("sha256", "abc")),
      _guarded(context, "weights_changed_one_byte", _load, names=("model.weights.h5",),
               alter=lambda world: _flip_byte(world.weights())),
      _guarded(context, "manifest_is_a_list", _load, edit_manifest=lambda spec: [spec]),
      _guarded(context, "manifest_is_not_json", _load,
               alter=lambda world: pathlib.Path(world.manifest()).write_text("{not json")),
      _guarded(context, "manifest_wrong_format", _load,
               edit_manifest=lambda spec: spec.update(format="other/9")),
      _guarded(context, "manifest_extra_stage", _load,
               edit_manifest=lambda spec: spec["stages"].update(
                   discriminator=dict(spec["stages"]["slice_decoder"]))),
      _guarded(context, "manifest_stages_a_list", _load,
               edit_manifest=lambda spec: spec.update(stages=list(spec["stages"]))),
      _guarded(context, "manifest_is_a_folder", _load,
               alter=lambda world: _replace_with_folder(world.manifest())),
      _guarded(context, "manifest_over_a_mebibyte", _load,
               edit_manifest=lambda spec: spec["metadata"].update(padding="x" * (2 << 20))),
      _guarded(context, "config_without_config", _load, names=config_name,
               edit_config=lambda spec: spec.pop("config")),
      _guarded(context, "config_unknown_class", _load, names=config_name,
               edit_config=lambda spec: spec.update({"class": "os.system"})),
      _guarded(context, "config_unknown_field", _load, names=config_name,
               edit_config=_config_field("evil", 1)),
      _guarded(context, "config_layers_a_string", _load, names=("pixelcnn_layers",),
               edit_config=_config_field("pixelcnn_layers", "3")),
      _guarded(context, "config_channels_true", _load, names=("channels",),
               edit_config=_config_field("channels", True)),
      _guarded(context, "config_bits_9", _load, names=("bits",),
               edit_config=_config_field("bits", 9)),
      _guarded(context, "weights_file_missing", _load, names=("model.weights.h5",),
               alter=lambda world: os.remove(world.weights())),
  ]


def resource_cases(context):
  """Folders that would make the package build, allocate or read for ever."""
  return [
      _guarded(context, "config_pixelcnn_layers_1e6", _zoo_load, names=("pixelcnn_layers",),
               isolated=True, edit_config=_config_field("pixelcnn_layers", 10**6)),
      _guarded(context, "config_image_size_1e6", _zoo_load, names=("image_size",),
               isolated=True, edit_config=_config_field("image_size", 10**6)),
      _guarded(context, "config_attention_channels_1e9", _zoo_load,
               names=("attention_channels",), isolated=True,
               edit_config=_config_field("attention_channels", 10**9)),
      _guarded(context, "config_embedder_conv_channels_1e9", _zoo_load,
               names=("conv_channels",), isolated=True,
               alter=lambda world: edit_json(world.config("size_upscaler"), _config_field(
                   "conv_channels", 10**9, nested="embedder"))),
      _guarded(context, "config_scale_1000", _zoo_load, names=("scale",), isolated=True,
               alter=lambda world: edit_json(world.config("size_upscaler"),
                                             _config_field("scale", 1000))),
      _guarded(context, "weights_symlink_to_dev_zero", _zoo_load, names=("model.weights.h5",),
               isolated=True, alter=lambda world: _link("/dev/zero", world.weights())),
      _guarded(context, "weights_file_a_fifo", _zoo_load, names=("model.weights.h5",),
               isolated=True, alter=lambda world: _replace_with_fifo(world.weights())),
      _guarded(context, "config_symlink_to_dev_zero", _zoo_load, names=("config.json",),
               isolated=True, alter=lambda world: _link("/dev/zero", world.config())),
      _guarded(context, "weights_path_a_folder", _zoo_load, names=("model.weights.h5",),
               alter=lambda world: _replace_with_folder(world.weights())),
  ]


def zoo_cases(context):
  """`zoo.load` and `from_preset` arguments."""

  def random_weights(pipeline):
    assert pipeline.metadata.get("weights") == "random", pipeline.metadata
    trained = context.pipeline.slice_decoder.weights
    loaded = pipeline.slice_decoder.weights
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(trained, loaded)), (
        "weights=None returned the trained weights")

  return [
      Case("zoo_load_folder_weights_none", lambda: zoo.load(context.template, weights=None),
           "accept", check=random_weights),
      Case("zoo_load_folder_weights_bogus", lambda: zoo.load(context.template, weights="bogus"),
           "refuse", names=("`weights`",)),
      Case("zoo_load_not_a_string", lambda: zoo.load(123), "refuse",
           names=("`name_or_folder`",)),
      Case("zoo_load_unknown_name", lambda: zoo.load("no_such_model"), "refuse",
           names=("no_such_model",)),
      Case("from_preset_unknown", lambda: Pipeline.from_preset("no_such_preset_name"),
           "refuse", names=("no_such_preset_name",)),
  ]


def sampling_cases(context):
  """Seeds, temperatures, batch sizes and options of `Pipeline.sample` and `upscale`, and of
  a stage's `sample`."""
  pipeline = lambda: context.pipeline  # noqa: E731  (built when a case runs)
  seed_name = ("`seed`",)
  temperatures_name = ("`temperatures",)  # `temperatures` or `temperatures[1]`
  cases = []
  for case_id, seed in [("seed_float", 1.5), ("seed_text", "abc"), ("seed_list", [1, 2, 3]),
                        ("seed_2_pow_70", 2**70), ("seed_2_pow_63", 2**63), ("seed_negative", -1),
                        ("seed_true", True)]:
    cases.append(Case(f"sample_{case_id}",
                      functools.partial(lambda s: pipeline().sample(1, seed=s), seed),
                      "refuse", names=seed_name))
  for case_id, temperatures in [("text_digits", "123"), ("nan", math.nan),
                                ("too_few", [1.0, 1.0]), ("a_text_among", [1.0, "a", 1.0]),
                                ("unknown_stage", {"bogus": 1.0})]:
    cases.append(Case(f"sample_temperatures_{case_id}",
                      functools.partial(lambda t: pipeline().sample(1, temperatures=t),
                                        temperatures),
                      "refuse", names=temperatures_name))
  for case_id, num_images in [("zero", 0), ("float", 2.5), ("text", "4")]:
    cases.append(Case(f"sample_num_images_{case_id}",
                      functools.partial(lambda n: pipeline().sample(n), num_images),
                      "refuse", names=("`num_images`",)))
  # Were the memory check missing, this would allocate for ever: a process that can be killed.
  cases.append(Case("sample_num_images_1e9", lambda: pipeline().sample(10**9), "refuse",
                    names=("`num_images`",), isolated=True))

  def sampled(images):
    images = np.asarray(images)
    assert images.shape == (1, IMAGE_SIZE, IMAGE_SIZE, 1) and images.dtype == np.uint8, (
        images.shape, images.dtype)

  def same_as_seed_3(images):
    expected = context.fit_stage.sample(1, seed=3, method="naive")
    assert np.array_equal(np.asarray(images), np.asarray(expected)), "not seed 3's images"

  slice_shape = (1, IMAGE_SIZE // 2, IMAGE_SIZE // 2, 1)
  cases += [
      Case("sample_compute_dtype_banana",
           lambda: pipeline().sample(1, compute_dtype="banana"), "refuse",
           names=("`compute_dtype`",)),
      Case("sample_method_fast", lambda: pipeline().sample(1, method="fast"), "refuse",
           names=("`method`",)),
      Case("sample_numpy_temperature_and_seed",
           lambda: pipeline().sample(1, temperatures=np.float32(0.9), seed=np.int64(3),
                                     method="naive"),
           "accept", check=sampled),
      Case("stage_sample_numpy_seed",
           lambda: context.fit_stage.sample(1, seed=np.int64(3), method="naive"), "accept",
           check=same_as_seed_3),
      Case("stage_sample_seed_float", lambda: context.fit_stage.sample(1, seed=1.5), "refuse",
           names=seed_name),
      Case("stage_sample_seed_pair_too_large",
           lambda: context.fit_stage.sample(1, seed=(1, 2**70)), "refuse", names=seed_name),
      Case("upscale_wrong_shape",
           lambda: pipeline().upscale(np.zeros((1, 3, 3, 1), np.uint8)), "refuse",
           names=("`images`",)),
      Case("upscale_input_bits_9",
           lambda: pipeline().upscale(np.zeros(slice_shape, np.uint8), input_bits=9), "refuse",
           names=("`input_bits`",)),
      Case("upscale_float_images",
           lambda: pipeline().upscale(np.zeros(slice_shape, np.float32)), "refuse",
           names=("`images`",)),
      Case("log_prob_values_out_of_range",
           lambda: pipeline().log_prob(np.full((1, IMAGE_SIZE, IMAGE_SIZE, 1), 300, np.int32)),
           "refuse", names=("`images`",)),
  ]
  return cases


def training_cases(context):
  """`fit` on values out of range, and `TrainerConfig` fields."""

  def fit(images):
    return lambda: context.fit_stage.fit(images, batch_size=len(images), epochs=1, verbose=0)

  # Inside `fit` (a graph) the range check is an assert with the same message.
  in_graph = (tf.errors.InvalidArgumentError,)
  cases = [
      Case("fit_value_9_in_3_bits", fit(np.full((2, 2, 2, 1), 9, np.int32)), "refuse",
           names=("`images`",), also_clear=in_graph),
      Case("fit_value_negative", fit(np.full((2, 2, 2, 1), -1, np.int32)), "refuse",
           names=("`images`",), also_clear=in_graph),
      Case("fit_float_images", fit(np.zeros((2, 2, 2, 1), np.float32)), "refuse",
           names=("`images`",), also_clear=in_graph),
  ]
  fields = [
      ("learning_rate", "nan", math.nan), ("learning_rate", "infinite", math.inf),
      ("learning_rate", "zero", 0.0), ("learning_rate", "text", "0.1"),
      ("clip_norm", "negative", -1.0), ("clip_norm", "zero", 0.0),
      ("learning_rate_boundaries", "decreasing", (10, 5)),
      ("learning_rate_boundaries", "repeated", (5, 5)),
      ("learning_rate_values", "nan", (math.nan, 1e-4)),
      ("global_batch_size", "zero", 0), ("global_batch_size", "true", True),
      ("ema_momentum", "one", 1.0),
  ]
  schedule = dict(learning_rate_boundaries=(10, 20), learning_rate_values=(1e-4, 1e-5))
  for field, case_id, value in fields:
    values = dict(model_dir="/tmp/never_written", train_steps=10)
    if field == "learning_rate_values":
      values.update(schedule)
    elif field == "learning_rate_boundaries":
      values["learning_rate_values"] = schedule["learning_rate_values"]
    values[field] = value
    cases.append(Case(f"trainer_config_{field}_{case_id}",
                      functools.partial(TrainerConfig, **values), "refuse",
                      names=(f"`{field}`",)))
  return cases


def codec_cases(context):
  """`codec.compress` and `codec.decompress` arguments and damaged files."""
  pipeline = lambda: context.pipeline  # noqa: E731
  images = lambda count, bits=BITS: np.random.default_rng(0).integers(  # noqa: E731
      0, 2**bits, (count, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)

  def depth_conditioning_for_one():
    depth = pipeline().depth_upscaler
    return codec.compress(depth, images(2, depth.bits), conditioning=images(1, LOW_BITS))

  def flipped_fingerprint():
    header = bytearray(context.header())
    header[1] ^= 0x01  # one bit of the model fingerprint
    return codec.decompress(pipeline(), [bytes(header)])

  return [
      Case("compress_conditioning_for_fewer_images", depth_conditioning_for_one, "refuse",
           names=("`conditioning`",)),
      Case("compress_depth_stage_without_conditioning",
           lambda: codec.compress(pipeline().depth_upscaler, images(1, BITS - LOW_BITS)),
           "refuse", names=("`conditioning`",)),
      Case("compress_float_images",
           lambda: codec.compress(pipeline(), images(1).astype(np.float32)), "refuse",
           names=("`images`",)),
      Case("compress_wrong_channel_count",  # any height and width is coded (tiled)
           lambda: codec.compress(pipeline(), np.zeros((1, 5, 5, 3), np.uint8)), "refuse",
           names=("`images`",)),
      Case("compress_empty_image",
           lambda: codec.compress(pipeline(), np.zeros((1, 0, 5, 1), np.uint8)), "refuse",
           names=("`images`",)),
      Case("compress_values_out_of_range",
           lambda: codec.compress(pipeline().slice_decoder, np.full((1, 2, 2, 1), 9, np.uint8)),
           "refuse", names=("`images`",)),
      Case("decompress_bytes_not_a_list",
           lambda: codec.decompress(pipeline(), context.header()), "refuse",
           names=("`files`",)),
      Case("decompress_a_string", lambda: codec.decompress(pipeline(), "abc"), "refuse",
           names=("`files`",)),
      Case("decompress_list_of_ints", lambda: codec.decompress(pipeline(), [123]), "refuse",
           names=("`files[0]`",)),
      Case("decompress_flipped_fingerprint_bit", flipped_fingerprint, "refuse",
           names=("File 0", "damaged")),
      Case("decompress_truncated_header",
           lambda: codec.decompress(pipeline(), [context.header()[:5]]), "refuse",
           names=("File 0", "truncated")),
      Case("decompress_another_models_file",
           lambda: codec.decompress(pipeline(), [context.header(fingerprint=b"\0\0\0\0")]),
           "refuse", names=("File 0", "another model")),
      Case("decompress_empty_file", lambda: codec.decompress(pipeline(), [b""]), "refuse",
           names=("File 0",)),
  ]


def data_cases(context):
  """Gray pipelines on `folder:`, `tfrecord:` and `crops:` data, and images of another size."""

  def evaluation_of(count):
    def check(result):
      assert result["num_examples"] == count, result
      assert all(math.isfinite(value) for value in result["bits_per_dim"].values()), result
    return check

  def evaluate(spec, split="train", **options):
    return lambda: evaluate_cli.evaluate(context.template, spec(), split, batch_size=4,
                                         **options)

  def first_training_batch(stage, spec):
    """The first batch that `spn_train` would train `stage` on, from `spec()`."""

    def call():
      dataset_fn = cli_evaluation.train_dataset_fn(context.pipeline, stage, spec(), 2)
      return next(iter(dataset_fn(tf.distribute.InputContext())))

    return call

  def batch_of(shape, keys):
    def check(batch):
      assert sorted(batch) == sorted(keys), sorted(batch)
      assert all(tuple(batch[key].shape) == shape for key in keys), {
          key: batch[key].shape for key in batch}
    return check

  def folder_with_one_5x5():
    path = os.path.join(context.case_dir("gray_5x5"), "pngs")
    shutil.copytree(context.gray_folder, path)
    bad = os.path.join(path, names_in_split("train", 1, "wrong_size")[0])
    write_png(bad, gray_images(1, size=5)[0])
    return f"folder:{path}"

  return [
      Case("evaluate_gray_folder", evaluate(lambda: f"folder:{context.gray_folder}"), "accept",
           check=evaluation_of(6)),
      Case("evaluate_gray_folder_stage",
           evaluate(lambda: f"folder:{context.gray_folder}", "test", stage="slice_decoder"),
           "accept", check=evaluation_of(2)),
      # Every example of the split once, as for the whole pipeline: 6 images, batches of 4.
      Case("evaluate_stage_on_train_split_counts_every_example",
           evaluate(lambda: f"folder:{context.gray_folder}", stage="size_upscaler"), "accept",
           check=evaluation_of(6)),
      Case("evaluate_gray_tfrecord", evaluate(lambda: f"tfrecord:{context.gray_tfrecords}",
                                              "test"), "accept", check=evaluation_of(3)),
      Case("evaluate_gray_crops",
           evaluate(lambda: f"crops:{context.gray_photos}@{IMAGE_SIZE}", "test",
                    max_examples=4), "accept", check=evaluation_of(4)),
      Case("train_data_gray_folder",
           first_training_batch("slice_decoder", lambda: f"folder:{context.gray_folder}"),
           "accept", check=batch_of((2, 2, 2, 1), ["images"])),
      Case("train_data_gray_crops",
           first_training_batch("depth_upscaler",
                                lambda: f"crops:{context.gray_photos}@{IMAGE_SIZE}"),
           "accept", check=batch_of((2, IMAGE_SIZE, IMAGE_SIZE, 1), ["images", "conditioning"])),
      Case("evaluate_folder_with_an_image_of_another_size", evaluate(folder_with_one_5x5),
           "refuse", names=("wrong_size",)),
      Case("evaluate_missing_folder",
           evaluate(lambda: "folder:/nonexistent/probe_images"), "refuse",
           names=("/nonexistent/probe_images",)),
      Case("make_dataset_batch_size_zero",
           lambda: data.make_dataset(f"folder:{context.gray_folder}", batch_size=0), "refuse",
           names=("`batch_size`",)),
      Case("make_dataset_channels_2",
           lambda: data.make_dataset(f"folder:{context.gray_folder}", channels=2), "refuse",
           names=("`channels`",)),
  ]


class _ToolRun:
  """A zero-argument callable running `bin/<tool> args` in a new folder of the context (its
  working folder, `cwd`); an arg may be a function of that folder, called when the case runs.
  """

  def __init__(self, context, tool, args, timeout=CLI_TIMEOUT):
    self.context = context
    self.tool = tool
    self.args = args
    self.timeout = timeout
    self.cwd = None

  def __call__(self):
    self.cwd = self.context.case_dir(self.tool)
    argv = [arg(self.cwd) if callable(arg) else arg for arg in self.args]
    return subprocess.run([sys.executable, str(BIN / self.tool), *argv], capture_output=True,
                          text=True, timeout=self.timeout, env=_quiet_environment(),
                          cwd=self.cwd)

  def wrote_none_of(self, *names):
    """A check that none of `names` exists in the working folder after a refusal."""

    def check(run):
      if run is None:
        written = [name for name in names if os.path.lexists(os.path.join(self.cwd, name))]
        assert not written, f"written despite the error: {written}"

    return check


def cli_cases(context):
  """About fifteen mistakes with the command-line tools: one line, exit status 2, nothing
  written."""
  template = lambda cwd: context.template  # noqa: E731
  gray = lambda cwd: f"folder:{context.gray_folder}"  # noqa: E731

  def flag(name, value):
    return lambda cwd: f"--{name}={value(cwd) if callable(value) else value}"

  def refused(case_id, tool, args, names, *written):
    run = _ToolRun(context, tool, args)
    return Case(case_id, run, "refuse", names=names, check=run.wrote_none_of(*written),
                cli=True, timeout=run.timeout)

  def accepted(case_id, tool, args, check):
    def parse(run):
      check(json.loads(run.stdout.strip().splitlines()[-1]))
    run = _ToolRun(context, tool, args)
    return Case(case_id, run, "accept", check=parse, cli=True, timeout=run.timeout)

  def sample(*extra):
    return [flag("pipeline", template), "--noprogress", *extra]

  def train(*extra):
    return [flag("config", template), "--stage=slice_decoder", flag("dataset", gray),
            "--train_steps=1", "--checkpoint_every=1", "--log_every=1", "--model_dir=model",
            *extra]

  def hostile(cwd):
    world = context.world("cli_hostile", edit_manifest=_stage_entry("folder", "../victim"))
    return f"--pipeline={world.pipeline}"

  def is_random(summary):
    assert summary["metadata"].get("weights") == "random", summary["metadata"]

  def counted(summary):
    assert summary["num_examples"] == 6, summary

  def a_file(name, content=b"mine"):
    def make(cwd):
      pathlib.Path(cwd, name).write_bytes(content)
      return os.path.join(cwd, name)
    return make

  def a_folder(cwd):
    os.makedirs(os.path.join(cwd, "a_folder.png"))
    return os.path.join(cwd, "a_folder.png")

  def gray_png(cwd):
    return os.path.join(context.gray_folder, sorted(os.listdir(context.gray_folder))[0])

  pipeline = flag("pipeline", template)
  out = "--output_dir=out"
  return [
      refused("cli_sample_temperatures_abc", "spn_sample", sample("--temperatures=abc"),
              ("--temperatures",), "samples.png"),
      refused("cli_sample_upscale_missing_file", "spn_sample", sample("--upscale=missing.png"),
              ("missing.png",), "samples.png"),
      refused("cli_sample_seed_negative", "spn_sample", sample("--seed=-1"), ("--seed",),
              "samples.png"),
      refused("cli_sample_num_images_1e9", "spn_sample", sample("--num_images=1000000000"),
              ("num_images",), "samples.png"),
      accepted("cli_sample_weights_random_of_a_folder", "spn_sample",
               sample("--weights=random", "--num_images=1", "--method=naive"), is_random),
      refused("cli_train_batch_size_0", "spn_train", train("--batch_size=0"),
              ("--batch_size",), "model"),
      refused("cli_train_learning_rate_nan", "spn_train", train("--learning_rate=nan"),
              ("--learning_rate",), "model"),
      refused("cli_train_clip_norm_negative", "spn_train", train("--clip_norm=-1"),
              ("--clip_norm",), "model"),
      refused("cli_train_boundaries_decreasing", "spn_train",
              train("--learning_rate_boundaries=10,5", "--learning_rate_values=0.1,0.01"),
              ("--learning_rate_boundaries",), "model"),
      # Finite but diverging: stopped at the first non-finite step, nothing saved.
      refused("cli_train_diverging_learning_rate", "spn_train",
              train("--learning_rate=1e38", "--pipeline_dir=pipeline"), ("learning",),
              "pipeline"),
      refused("cli_eval_hostile_manifest", "spn_eval", [hostile, flag("dataset", gray)],
              ("pipeline.json",)),
      accepted("cli_eval_gray_folder", "spn_eval",
               [pipeline, flag("dataset", gray), "--split=train"], counted),
      refused("cli_export_output_is_a_file", "spn_export",
              [pipeline, flag("output", a_file("export_target"))], ("export_target",)),
      refused("cli_compress_a_folder", "spn_compress", [pipeline, out, a_folder],
              ("a_folder.png",), "out"),
      refused("cli_compress_output_dir_a_file", "spn_compress",
              [pipeline, flag("output_dir", a_file("out.txt")), gray_png], ("out.txt",)),
      refused("cli_decompress_a_folder", "spn_decompress", [pipeline, out, a_folder],
              ("a_folder.png",), "out"),
      refused("cli_decompress_garbage_file", "spn_decompress",
              [pipeline, out, a_file("garbage.spn", b"\x02garbage")], ("garbage.spn",),
              "out"),
  ]


def all_cases(context):
  """Every case of the probe, in the order they run."""
  cases = (pipeline_folder_cases(context) + manifest_cases(context) + resource_cases(context)
           + zoo_cases(context) + sampling_cases(context) + training_cases(context)
           + codec_cases(context) + data_cases(context) + cli_cases(context))
  ids = [case.id for case in cases]
  duplicates = sorted({case_id for case_id in ids if ids.count(case_id) > 1})
  if duplicates:
    raise ValueError(f"Duplicate case ids: {duplicates}.")
  return cases


def run_all(context, cases, print_fn=print):
  """Runs `cases` (isolated ones in a worker process), printing each `Outcome` as a JSON line
  as soon as it is known; returns `{case id: Outcome}` in the cases' order."""
  isolated = [case for case in cases if case.isolated]
  outcomes = {}
  for case in cases:
    if not case.isolated:
      outcomes[case.id] = run_case(case)
      print_fn(outcomes[case.id].to_json())
  for case_id, outcome in run_isolated(context, isolated).items() if isolated else ():
    outcomes[case_id] = outcome
    print_fn(outcome.to_json())
  return {case.id: outcomes[case.id] for case in cases}


def tally(outcomes):
  """`{"tally": {outcome: count}, "total": n, "not_ok": [ids]}` of `Outcome`s."""
  counts = {name: 0 for name in OUTCOMES}
  for outcome in outcomes:
    counts[outcome.outcome] += 1
  return {"tally": counts, "total": len(outcomes),
          "not_ok": [outcome.id for outcome in outcomes if not outcome.ok]}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("ids", nargs="*", help="case ids to run (default: all)")
  parser.add_argument("--only", default="", help="run the cases whose id holds this")
  parser.add_argument("--skip_cli", action="store_true", help="skip the command-line cases")
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--template", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--root", default=None, help=argparse.SUPPRESS)
  options = parser.parse_args(argv)
  context = ProbeContext(template=options.template, root=options.root)
  try:
    cases = [case for case in all_cases(context)
             if (not options.ids or case.id in options.ids) and options.only in case.id
             and not (options.skip_cli and case.cli)]
    if options.worker:  # run the given (isolated) cases here, one JSON line each
      print(json.dumps({"started": options.ids}), flush=True)
      for case in cases:
        print(run_case(dataclasses.replace(case, timeout=None)).to_json(), flush=True)
      return 0
    outcomes = run_all(context, cases, print_fn=lambda line: print(line, flush=True))
    summary = tally(outcomes.values())
    print(json.dumps(summary))
    counts = summary["tally"]
    print(f"{counts['clear']} clear, {counts['accepted']} accepted, {counts['silent']} silent, "
          f"{counts['hang']} hung, {counts['internal']} internal; "
          f"{len(summary['not_ok'])} of {summary['total']} not as expected", file=sys.stderr)
    return 1 if summary["not_ok"] else 0
  finally:
    context.close()


if __name__ == "__main__":
  sys.exit(main())
