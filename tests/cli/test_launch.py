"""The tools start quietly: TensorFlow's log lines only with --verbosity >= 1."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from spn_keras.cli import launch

BIN = pathlib.Path(__file__).resolve().parents[2] / "bin"
# Log lines in absl's format, from C++ (`E0000 00:00:1795959486.715063    3306
# cuda_platform.cc:52] ...`) or Python, and what TensorFlow says on a machine without a GPU.
_TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] (.*)$", re.M)
_TF_NOISE = re.compile(r"absl::InitializeLog|cuInit|oneDNN|cuda drivers|INFO:tensorflow")


def _environment():
  """This process's environment without the log level that tests/conftest.py sets."""
  environ = dict(os.environ)
  environ.pop(launch.LEVEL_VARIABLE, None)
  return environ


@pytest.mark.parametrize("args, verbose", [
    ([], False),
    (["--zoo=mnist28_mdu"], False),
    (["--verbosity=1"], True),
    (["--verbosity", "2", "--zoo=x"], True),
    (["-v", "1"], True),
    (["-v=-1"], False),
    (["--verbosity=0"], False),
    (["--v=3", "--verbosity=0"], False),  # the last one counts
    (["--", "--verbosity=1"], False),  # not a flag after `--`
    (["--verbosity=loud"], False),  # absl reports the error
    (["-v"], False),
])
def test_is_verbose_reads_absl_spellings_of_verbosity(args, verbose):
  assert launch.is_verbose(args) == verbose


def test_tf_min_log_level_is_quiet_unless_asked_or_set_by_the_user():
  assert launch.tf_min_log_level([], {}) == "3"
  assert launch.tf_min_log_level(["--verbosity=0"], {}) == "3"
  assert launch.tf_min_log_level(["-v", "-1"], {}) == "3"
  # --verbosity >= 1: TensorFlow's default, every line.
  assert launch.tf_min_log_level(["--verbosity=1"], {}) is None
  assert launch.tf_min_log_level(["-v", "2"], {}) is None
  # The user's level is kept, whatever --verbosity says.
  assert launch.tf_min_log_level([], {"TF_CPP_MIN_LOG_LEVEL": "0"}) == "0"
  assert launch.tf_min_log_level(["-v", "1"], {"TF_CPP_MIN_LOG_LEVEL": "3"}) == "3"


def test_is_hidden_follows_the_severity_of_a_log_line():
  info = ("I0000 00:00:1795959456.178205    2807 port.cc:153] oneDNN custom operations are "
          "on.\n")
  error = ("E0000 00:00:1795959486.715063    3306 cuda_platform.cc:52] failed call to cuInit: "
           "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")
  notice = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\n")
  assert [launch.is_hidden(line, 3) for line in (info, error, notice)] == [True, True, True]
  assert [launch.is_hidden(line, 2) for line in (info, error, notice)] == [True, False, True]
  assert [launch.is_hidden(line, 0) for line in (info, error, notice)] == [False, False, False]
  assert not launch.is_hidden("Traceback (most recent call last):\n", 3)
  assert not launch.is_hidden("FATAL Flags parsing error: flag --zoom=0\n", 3)


def test_a_real_run_is_quiet(pipeline_dir, tmp_path):
  # Exporting starts the CPU device (the cuInit line) and logs INFO lines from Python.
  run = subprocess.run([sys.executable, str(BIN / "spn_export"), f"--pipeline={pipeline_dir}",
                        f"--output={tmp_path}"],
                       capture_output=True, text=True, timeout=600, env=_environment())
  assert run.returncode == 0, run.stderr
  assert (tmp_path / "1" / "saved_model.pb").exists()
  assert not _TF_LOG_LINE.search(run.stderr) and not _TF_NOISE.search(run.stderr), run.stderr


@pytest.mark.slow  # two processes, 9 s; the default suite keeps a real run quiet (above), and
# spn_train's and spn_sample's help list --verbosity (tests/cli/test_tools.py)
def test_verbosity_1_shows_tensorflow_start_up_lines():
  # What TensorFlow writes at import on this machine, each line's message after the prefix.
  bare = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                        text=True, timeout=600, env=_environment())
  run = subprocess.run([sys.executable, str(BIN / "spn_eval"), "--helpshort", "--verbosity=1"],
                       capture_output=True, text=True, timeout=600, env=_environment())
  assert "--verbosity" in run.stdout  # and the help says what it does
  shown = _TF_LOG_LINE.findall(run.stderr)
  for message in _TF_LOG_LINE.findall(bare.stderr):
    assert message in shown


@pytest.mark.parametrize("tool, args, message", [
    ("spn_sample", ["--zoo=mnist28_mdu", "--temperatures=abc"],
     "--temperatures must be one number or one per stage"),
    ("spn_sample", ["--zoo=mnist28_mdu", "--num_images=0"], "--num_images must be a positive int"),
    ("spn_sample", ["--zoo=no_such_model"], "Unknown zoo name 'no_such_model'"),
])
def test_a_users_mistake_is_one_line_and_status_2(tool, args, message, tmp_path):
  """Three kinds of mistake, each in a new process (the other flags' checks are tested
  in-process): a flag the tool parses, an argument a check names (`ArgumentError`, reported
  as its flag) and an error of the package's own (an unknown name)."""
  run = subprocess.run([sys.executable, str(BIN / tool), *args, "--noprogress"],
                       capture_output=True, text=True, timeout=600, env=_environment(),
                       cwd=tmp_path)
  assert run.returncode == 2, run.stderr
  assert run.stderr.count("\n") == 1 and re.match(f"{tool}: error: {message}", run.stderr), (
      run.stderr)
  assert not list(tmp_path.iterdir())  # nothing written
