"""Starts a command-line tool with TensorFlow's log lines hidden unless asked for.

On a machine without a GPU, TensorFlow writes lines such as `E0000 ... cuda_platform.cc:52]
failed call to cuInit: ...` and oneDNN notices to stderr from C++, which read like failures.
`TF_CPP_MIN_LOG_LEVEL=3` (only FATAL) hides them (2 still shows the `E` lines), but it must be
set before tensorflow is imported, and importing any tool imports tensorflow (through
`spn_keras`). Even then, the lines written while tensorflow's libraries load (`oneDNN custom
operations are on ...`, `Could not find cuda drivers ...`, absl's `WARNING: All log messages
before absl::InitializeLog() ...`) ignore the level.

So the commands (console scripts, and the `bin/` wrappers) enter here: this module imports
nothing that imports tensorflow (`spn_keras` imports its modules lazily), and `start` sets the
level, imports the tool with stderr held back, passes on what the level does not hide, and runs
the tool. A
`TF_CPP_MIN_LOG_LEVEL` set in the environment is kept as it is; absl's `--verbosity` (`-v`)
of 1 or more leaves TensorFlow's default (every line). TensorFlow's Python-side INFO lines
are the business of `common.run_tool`.

`start` also turns on TensorFlow's persistent XLA compilation cache under `$SPN_KERAS_HOME`
(`spn_keras.compilation_cache`), so that a tool's second run loads the sampling programs its
first run compiled instead of compiling them again.
"""

import contextlib
import functools
import importlib
import os
import re
import sys
import tempfile

from spn_keras import compilation_cache

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LEVEL = "3"
HELP = """
TensorFlow's log lines (start-up notices, a failed cuInit on a machine without a GPU, INFO
lines) are hidden: --verbosity=1 (-v 1) shows them; a TF_CPP_MIN_LOG_LEVEL set in the
environment is used as it is. Compiled XLA programs are kept in $SPN_KERAS_HOME/xla_cache
(SPN_KERAS_XLA_CACHE=0 turns this off).
"""

_SEVERITIES = "IWEF"  # TF_CPP_MIN_LOG_LEVEL 0, 1, 2, 3 hides those before it
# absl's C++ log prefix, e.g. `E0000 00:00:1795959486.715063    3306 cuda_platform.cc:52] `.
_LOG_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ [^\s\]]+:\d+\] ")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called"
_VERBOSITY = re.compile(r"--?(?:v|verbosity)(?:=(.*))?$")


def is_verbose(args):
  """Whether command-line arguments ask for TensorFlow's log lines: absl's `--verbosity` >= 1.

  Args:
    args: the arguments after the program name; absl's spellings are understood
      (`--verbosity=1`, `--verbosity 1`, `-v=1`, `-v 1`), the last one counts, and `--` ends
      the flags. A value that is not an int counts as absent (absl then reports the error).

  Returns:
    bool.
  """
  value = None
  args = iter(args)
  for arg in args:
    if arg == "--":
      break
    match = _VERBOSITY.match(arg)
    if match:
      value = match.group(1) if match.group(1) is not None else next(args, None)
  try:
    return int(value) >= 1
  except (TypeError, ValueError):
    return False


def tf_min_log_level(args, environ):
  """The `TF_CPP_MIN_LOG_LEVEL` that a tool runs with.

  Args:
    args: the command-line arguments after the program name.
    environ: the environment, e.g. `os.environ`.

  Returns:
    The environment's value when it has one; None (TensorFlow's default, every line) when
    `--verbosity` is 1 or more; otherwise `QUIET_LEVEL`.
  """
  if LEVEL_VARIABLE in environ:
    return environ[LEVEL_VARIABLE]
  if is_verbose(args):
    return None
  return QUIET_LEVEL


def is_hidden(line, min_log_level):
  """Whether `TF_CPP_MIN_LOG_LEVEL=min_log_level` hides a line of TensorFlow's stderr.

  Args:
    line: one line of stderr (str).
    min_log_level: int; 1 hides `I` lines and absl's notice that logging is not yet set up,
      2 also `W` lines, 3 also `E` lines. Lines not in absl's log format are never hidden.

  Returns:
    bool.
  """
  if line.startswith(_ABSL_NOTICE):
    return min_log_level >= 1
  match = _LOG_LINE.match(line)
  return bool(match) and _SEVERITIES.index(match.group(1)) < min_log_level


@contextlib.contextmanager
def _stderr_filtered(min_log_level):
  """Holds back stderr (file descriptor 2) in the block; then writes what is not hidden."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      held.seek(0)
      for line in held:
        if not is_hidden(line.decode(errors="replace"), min_log_level):
          sys.stderr.buffer.write(line)
      sys.stderr.flush()


def start(tool):
  """Runs the tool `spn_keras.cli.<tool>` (e.g. "sample") with the log level it should have.

  Sets `TF_CPP_MIN_LOG_LEVEL` (see `tf_min_log_level`) before the tool imports tensorflow,
  and holds back the lines that it would hide but that tensorflow writes at import anyway;
  turns on the XLA compilation cache (`compilation_cache.enable`).

  Args:
    tool: the module name of the tool in `spn_keras.cli`.
  """
  level = tf_min_log_level(sys.argv[1:], os.environ)
  min_log_level = 0
  if level is not None:
    os.environ[LEVEL_VARIABLE] = level
    min_log_level = int(level) if level.isdigit() else 0  # hide nothing on a value not a level
  compilation_cache.enable()
  with _stderr_filtered(min_log_level) if min_log_level else contextlib.nullcontext():
    module = importlib.import_module(f"spn_keras.cli.{tool}")
  module.run()


# The console-script entry points (setup.py).
train = functools.partial(start, "train")
evaluate = functools.partial(start, "evaluate")
sample = functools.partial(start, "sample")
export = functools.partial(start, "export")
tune = functools.partial(start, "tune")
compress = functools.partial(start, "compress")
decompress = functools.partial(start, "decompress")
