"""Every tool: `--help` exits 0 and lists the shared flags it uses; a user's mistake (a flag's
value, a missing flag or file, a flag absl cannot parse) is one line, `<tool>: error: ...`,
and status 2.

The mistakes run in this process through `common.run_tool` (fast: the tools are imported once)
and, as a user starts them, in a new process through `bin/<tool>` (each start imports
TensorFlow, ~5 s: those beyond one per tool are marked slow).
"""

import os
import pathlib
import re
import subprocess
import sys

from absl import flags
import pytest

from spn_keras.cli import common
from spn_keras.cli import compress
from spn_keras.cli import decompress
from spn_keras.cli import evaluate
from spn_keras.cli import export
from spn_keras.cli import launch
from spn_keras.cli import sample
from spn_keras.cli import train
from spn_keras.cli import tune

BIN = pathlib.Path(__file__).resolve().parents[2] / "bin"
TOOLS = {"spn_train": train, "spn_eval": evaluate, "spn_sample": sample, "spn_export": export,
         "spn_compress": compress, "spn_decompress": decompress, "spn_tune": tune}
_TRAINING = ["zoo", "pipeline", "config", "stage", "dataset", "data_dir", "model_dir",
             "train_steps", "batch_size", "seed"]
# The shared flags (spn_keras/cli/stage_flags.py) each tool reads, which its --help must list;
# and some that it does not read, which it must not.
SHARED_FLAGS = {
    "spn_train": (_TRAINING, ["output", "output_dir", "progress"]),
    "spn_tune": (_TRAINING, ["output", "output_dir", "progress"]),
    "spn_eval": (["zoo", "pipeline", "stage", "dataset", "data_dir", "batch_size"],
                 ["output", "model_dir"]),
    "spn_sample": (["zoo", "pipeline", "seed", "output", "progress"], ["model_dir", "stage"]),
    "spn_export": (["zoo", "pipeline", "stage", "output", "overwrite"], ["seed", "output_dir"]),
    "spn_compress": (["zoo", "pipeline", "output_dir", "overwrite", "progress"], ["output"]),
    "spn_decompress": (["zoo", "pipeline", "output_dir", "overwrite", "progress"], ["output"]),
}
# One mistake per tool that its `main` reports, caught before anything is written.
MISTAKES = [
    ("spn_train", ["--zoo=mnist28_mdu", "--stage=slice_decoder", "--model_dir=m",
                   "--batch_size=0"], "--batch_size must be a positive int, got 0"),
    ("spn_eval", ["--zoo=no_such_model"],
     "'no_such_model' is neither a pipeline folder nor a registered zoo name"),
    ("spn_sample", ["--zoo=mnist28_mdu", "--from_bits=3"], "--from_bits goes with --upscale"),
    ("spn_export", ["--zoo=mnist28_mdu"], r"--output is required \(the export's base folder\)"),
    ("spn_compress", ["--zoo=mnist28_mdu", "--output_dir=out", "missing.png"],
     "missing.png: no such file"),
    ("spn_decompress", ["--zoo=mnist28_mdu", "--output_dir=out", "missing.spn"],
     "missing.spn: no such file"),
    ("spn_tune", ["--zoo=mnist28_mdu", "--stage=slice_decoder", "--model_dir=m",
                  "--max_trials=0"], "--max_trials must be a positive int, got 0"),
]
# The flags each tool needs before it reads the ones that name the model.
_NEEDED_FIRST = {"spn_train": ["--stage=slice_decoder", "--model_dir=m"],
                 "spn_tune": ["--stage=slice_decoder", "--model_dir=m"],
                 "spn_export": ["--output=out"], "spn_compress": ["--output_dir=out", "x.png"],
                 "spn_decompress": ["--output_dir=out", "x.spn"]}
_ZOO = r"Give exactly one of --zoo \(a zoo name\)"
_PIPELINE = r"--pipeline \(a zoo name or a pipeline folder\)"
_TWO_NAMES = rf"{_ZOO} and {_PIPELINE}: each names the model\.$"
_THREE_NAMES = (rf"{_ZOO}, {_PIPELINE} and --config \(a pipeline folder whose stage configs "
                r"define the model\): each names the model\.$")
# Every tool: --zoo and --pipeline name the model the same way; giving both, or none, is one
# line (spn_train and spn_tune also take --config, the same way).
MODEL_NAMING_MISTAKES = [
    (tool, _NEEDED_FIRST.get(tool, []) + names,
     _THREE_NAMES if tool in ("spn_train", "spn_tune") else _TWO_NAMES)
    for tool in TOOLS
    for names in (["--zoo=mnist28_mdu", "--pipeline=mnist28_mdu"], [])] + [
    (tool, _NEEDED_FIRST[tool] + ["--pipeline=mnist28_mdu", "--config=c"], _THREE_NAMES)
    for tool in ("spn_train", "spn_tune")]
# One flag per tool that absl cannot parse: a value of the wrong type, an unknown flag, a value
# missing, not one of an enum's.
PARSING_ERRORS = [
    ("spn_train", ["--strategy=gpu"], "flag --strategy=gpu: value should be one of <"),
    ("spn_eval", ["--nosuch"], "Unknown command line flag 'nosuch'"),
    ("spn_sample", ["--num_images=abc"],
     r"flag --num_images=abc: invalid literal for int\(\) with base 10: 'abc'"),
    ("spn_export", ["--version=x"], "flag --version=x: invalid literal for int"),
    ("spn_compress", ["--overwrite=maybe"], "flag --overwrite=maybe: .*Non-boolean argument"),
    ("spn_decompress", ["--output_folder=out"], "Unknown command line flag 'output_folder'"),
    ("spn_tune", ["--max_trials"], "Missing value for flag --max_trials"),
]


def _run_process(tool, args, cwd):
  """Runs `bin/<tool> args` in `cwd` as a user would (TensorFlow's log level unset)."""
  environ = {k: v for k, v in os.environ.items() if k != launch.LEVEL_VARIABLE}
  return subprocess.run([sys.executable, str(BIN / tool), *args], capture_output=True,
                        text=True, timeout=600, env=environ, cwd=cwd)


def _assert_one_error_line(tool, stderr, message):
  assert stderr.count("\n") == 1 and re.match(f"{tool}: error: {message}", stderr), stderr


# A process per tool, 4-8 s each: the default suite runs spn_train's and spn_sample's (the
# tools with the most flags); the others are slow tests.
@pytest.mark.parametrize("tool", [
    tool if tool in ("spn_train", "spn_sample") else pytest.param(tool, marks=pytest.mark.slow)
    for tool in TOOLS])
def test_help_exits_0_and_lists_the_shared_flags_the_tool_uses(tool, tmp_path):
  listed, unlisted = SHARED_FLAGS[tool]
  run = _run_process(tool, ["--help"], tmp_path)
  assert run.returncode == 0, run.stderr
  assert run.stdout.startswith(f"{tool}: ")  # the tool's docstring, not the launcher's
  flag_lines = set(re.findall(r"^ +(?:-\w+,)?--(?:\[no\])?(\w+):", run.stdout, re.M))
  assert {"zoo", "verbosity"} | set(listed) <= flag_lines, run.stdout
  assert not flag_lines & set(unlisted), run.stdout


@pytest.mark.parametrize("tool, args, message",
                         MISTAKES + PARSING_ERRORS + MODEL_NAMING_MISTAKES)
def test_run_tool_reports_a_mistake_in_one_line_with_status_2(tool, args, message, tmp_path,
                                                              monkeypatch, capsys):
  module = TOOLS[tool]
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sys, "argv", [tool, *args])
  monkeypatch.setitem(sys.modules, "__main__", module)  # as `python -m`: no launcher's help
  try:
    with pytest.raises(SystemExit) as exit_:
      common.run_tool(module.main, module)
  finally:
    flags.FLAGS.unparse_flags()
  assert exit_.value.code == 2
  _assert_one_error_line(tool, capsys.readouterr().err, message)
  assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("tool, args, message", [
    pytest.param(*case, marks=[] if case[0] == "spn_sample" else pytest.mark.slow)
    for case in PARSING_ERRORS] + [pytest.param(*case, marks=pytest.mark.slow)
                                   for case in MISTAKES])
def test_a_tools_process_reports_a_mistake_in_one_line_with_status_2(tool, args, message,
                                                                     tmp_path):
  run = _run_process(tool, args, tmp_path)
  assert run.returncode == 2, run.stderr
  _assert_one_error_line(tool, run.stderr, message)
  assert not run.stdout and not list(tmp_path.iterdir())
