"""Shared pytest setup: quiet TensorFlow logs and deterministic seeds."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (after the log level is set)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_float32_policy():
  keras.utils.set_random_seed(1234)
  keras.config.set_dtype_policy("float32")
  yield
  keras.config.set_dtype_policy("float32")
