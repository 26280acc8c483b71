"""Shared pytest setup: quiet TensorFlow logs, deterministic seeds, the repository's zoo."""

import os
import pathlib
import shutil
import tempfile
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tools started by tests keep no compiled programs in the user's home
# (tests/test_compilation_cache.py gives them a home of their own).
os.environ.setdefault("SPN_KERAS_XLA_CACHE", "0")


# One persistent XLA cache per test run, shared by its worker processes: tests that compile the
# same program (the same tiny stage and batch shape) compile it once. The run's main process
# makes a fresh private folder (`mkdtemp`) and removes it at the end; its xdist workers, started
# after this file is imported, find it in `_CACHE_VARIABLE`. TensorFlow reads TF_XLA_FLAGS at
# its first XLA compilation, done below; the variable is then taken out of the environment, so
# that the tools tests start keep their own settings. A TF_XLA_FLAGS given by the user wins.
_CACHE_VARIABLE = "SPN_KERAS_TESTS_XLA_CACHE"
_XLA_FLAGS = os.environ.get("TF_XLA_FLAGS")
if _XLA_FLAGS is None:
  if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ[_CACHE_VARIABLE] = tempfile.mkdtemp(prefix="spn_keras_tests_xla_")
  _folder = os.environ[_CACHE_VARIABLE]
  os.environ["TF_XLA_FLAGS"] = f"--tf_xla_persistent_cache_directory={_folder}"

import keras  # noqa: E402  (after the log level is set)
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

if _XLA_FLAGS is None:
  tf.function(lambda: tf.constant(0) + 1, jit_compile=True, autograph=False)()
  del os.environ["TF_XLA_FLAGS"]


@pytest.hookimpl(trylast=True)  # after xdist has stopped the workers
def pytest_sessionfinish(session):
  """The run's main process removes the run's XLA cache."""
  if _XLA_FLAGS is None and not hasattr(session.config, "workerinput"):
    shutil.rmtree(os.environ[_CACHE_VARIABLE], ignore_errors=True)


SEED = 1234
tf.random.set_seed(SEED)  # when the process starts: see below


@pytest.fixture(autouse=True)
def _seed_and_float32_policy():
  """Python's, numpy's and Keras's generators start every test from `SEED`.

  TensorFlow's global seed is set when a process starts (above; `Trainer` and tests that call
  `keras.utils.set_random_seed` set it again, for the tests that follow), not per test: besides
  the seed, `tf.random.set_seed` clears TensorFlow's caches of instantiated functions and
  kernels, so every test that calls functions traced or loaded by a module-scoped fixture
  instantiated them all again (4-5 s for an exported pipeline's signature). The package seeds
  what it draws (stateless ops, `Trainer`'s own `keras.utils.set_random_seed`), and no test
  compares draws of TensorFlow's unseeded stateful random ops across tests.
  """
  with mock.patch.object(tf.random, "set_seed"):
    keras.utils.set_random_seed(SEED)
  keras.config.set_dtype_policy("float32")
  yield
  keras.config.set_dtype_policy("float32")


@pytest.fixture(params=["local", "ram"])
def storage_root(request, tmp_path):
  """A fresh local folder, or one on TensorFlow's in-memory filesystem (`ram://`, whose
  `tf.io.gfile` code path `gs://` buckets share)."""
  if request.param == "local":
    return str(tmp_path)
  folder = f"ram://storage_root/{request.node.name}"
  if tf.io.gfile.exists(folder):
    tf.io.gfile.rmtree(folder)
  return folder


@pytest.fixture
def repo_zoo():
  """`(the repository's zoo/ folder, sorted names of the pipelines shipped in it)`."""
  folder = pathlib.Path(__file__).resolve().parents[1] / "zoo"
  return folder, sorted(path.name for path in folder.iterdir()
                        if (path / "pipeline.json").is_file())
