"""The XLA compilation cache: where it goes, when it is off, and that a tool uses it."""

import os
import pathlib
import subprocess
import sys

import pytest

from spn_keras import compilation_cache
from spn_keras.cli import launch

BIN = pathlib.Path(__file__).resolve().parents[1] / "bin"


def test_enable_adds_the_machine_folder_under_the_home_to_tf_xla_flags(tmp_path):
  environ = {"SPN_KERAS_HOME": str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_auto_jit=0"}
  folder = compilation_cache.enable(environ)
  assert folder == str(tmp_path / "xla_cache" / compilation_cache.machine_key())
  assert os.path.isdir(folder)
  assert environ["TF_XLA_FLAGS"] == (f"--tf_xla_auto_jit=0 "
                                     f"--tf_xla_persistent_cache_directory={folder}")


def test_enable_keeps_a_cache_folder_the_flags_already_name(tmp_path):
  environ = {"SPN_KERAS_HOME": str(tmp_path),
             "TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/elsewhere"}
  assert compilation_cache.enable(environ) == "/elsewhere"
  assert environ["TF_XLA_FLAGS"] == "--tf_xla_persistent_cache_directory=/elsewhere"
  assert not (tmp_path / "xla_cache").exists()


@pytest.mark.parametrize("environ", [
    {"SPN_KERAS_XLA_CACHE": "0"},
    {"SPN_KERAS_HOME": "gs://bucket/pipelines"},
])
def test_no_cache_when_switched_off_or_the_home_is_a_bucket(environ, tmp_path):
  environ.setdefault("SPN_KERAS_HOME", str(tmp_path))
  assert compilation_cache.cache_directory(environ) is None
  assert compilation_cache.enable(environ) is None
  assert "TF_XLA_FLAGS" not in environ


def test_a_home_that_cannot_hold_the_cache_runs_without_it(tmp_path):
  home = tmp_path / "a_file"
  home.write_text("not a folder")
  environ = {"SPN_KERAS_HOME": str(home)}
  assert compilation_cache.enable(environ) is None
  assert "TF_XLA_FLAGS" not in environ


def test_machine_key_names_the_machine_and_tensorflow_and_is_stable():
  key = compilation_cache.machine_key()
  assert "-tf2." in key
  assert key == compilation_cache.machine_key()


def test_the_tools_do_not_import_tensorflow_to_enable_the_cache():
  """`launch` enables the cache before any tool imports TensorFlow (its flags must be set
  before the first compilation; the log level before the import)."""
  code = ("import sys; from spn_keras.cli import launch; "
          "print('tensorflow' in sys.modules)")
  done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                        check=True)
  assert done.stdout.strip() == "False"
  assert launch.compilation_cache is compilation_cache


@pytest.mark.slow
def test_a_second_run_loads_the_compiled_programs_and_samples_the_same_images(tmp_path):
  """Two `spn_sample` processes with one home: the first writes one compiled program per
  stage it samples, the second loads them (no new entry) and writes the same grid."""
  environ = {key: value for key, value in os.environ.items()
             if key not in (compilation_cache.SWITCH_VARIABLE, compilation_cache.FLAGS_VARIABLE,
                            launch.LEVEL_VARIABLE)}
  environ["SPN_KERAS_HOME"] = str(tmp_path / "home")
  grids, entries = [], []
  for run in range(2):
    output = tmp_path / f"grid{run}.png"
    subprocess.run([sys.executable, str(BIN / "spn_sample"), "--zoo=mnist28_mdu",
                    "--weights=random", "--num_images=2", f"--output={output}",
                    "--progress=false"], env=environ, check=True, capture_output=True)
    grids.append(output.read_bytes())
    entries.append(sorted(os.listdir(compilation_cache.cache_directory(environ))))
  assert len(entries[0]) == 3  # slice decoder, size upscaler, depth upscaler
  assert entries[1] == entries[0]
  assert grids[1] == grids[0]
