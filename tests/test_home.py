import os
import subprocess
import sys

import pytest

from spn_keras import presets
from spn_keras import zoo
from spn_keras.home import HOME_VARIABLE
from spn_keras.home import spn_keras_home


def test_the_variable_is_spn_keras_home():
  assert HOME_VARIABLE == "SPN_KERAS_HOME"


def test_default_is_dot_spn_keras_in_the_users_home(monkeypatch, tmp_path):
  monkeypatch.delenv(HOME_VARIABLE, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  assert spn_keras_home() == os.path.join(str(tmp_path), ".spn_keras")


@pytest.mark.parametrize("value, expected", [
    ("/data/spn", "/data/spn"),
    ("relative/home", "relative/home"),  # as given: not made absolute
    ("~/models", "{HOME}/models"),
    ("~", "{HOME}"),
    ("gs://bucket/spn_keras", "gs://bucket/spn_keras"),  # a bucket path is kept as it is
    ("ram://home", "ram://home"),
])
def test_the_variable_is_the_home_with_tilde_expanded(value, expected, monkeypatch, tmp_path):
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.setenv(HOME_VARIABLE, value)
  assert spn_keras_home() == expected.format(HOME=tmp_path)


def test_the_environment_is_read_at_each_call(monkeypatch, tmp_path):
  monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "a"))
  assert spn_keras_home() == str(tmp_path / "a")
  monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "b"))
  assert spn_keras_home() == str(tmp_path / "b")


def test_a_given_environment_is_read_instead_of_the_process_one(monkeypatch, tmp_path):
  """`compilation_cache` passes the environment a tool will start with."""
  monkeypatch.setenv(HOME_VARIABLE, "/process/home")
  monkeypatch.setenv("HOME", str(tmp_path))
  assert spn_keras_home({HOME_VARIABLE: "/given/home"}) == "/given/home"
  assert spn_keras_home({}) == os.path.join(str(tmp_path), ".spn_keras")  # not the process's


def test_the_presets_and_the_zoo_use_this_home(monkeypatch, tmp_path):
  monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))
  assert presets.spn_keras_home is zoo.spn_keras_home is spn_keras_home
  assert zoo.spn_keras_home() == str(tmp_path)


def test_reading_the_home_does_not_start_tensorflow():
  """The tools read it before they set TensorFlow's log level."""
  script = ("import sys; import spn_keras.home as home; home.spn_keras_home(); "
            "print(sorted(name for name in ('tensorflow', 'keras', 'numpy') "
            "if name in sys.modules))")
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={**os.environ, HOME_VARIABLE: "/x"})
  assert result.stdout.strip() == "[]"


def test_an_empty_variable_means_the_default(monkeypatch, tmp_path):
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.setenv(HOME_VARIABLE, "")
  assert spn_keras_home() == os.path.join(str(tmp_path), ".spn_keras")
