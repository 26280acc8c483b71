import json
import os

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.export import write_saved_model


def _echo():
  return tf.function(lambda images: {"images": images},
                     input_signature=[tf.TensorSpec([None, 2], tf.uint8, name="images")])


def _asset(folder):
  with open(os.path.join(folder, "assets", "export.json")) as f:
    return json.load(f)


def test_versions_are_written_atomically_and_only_replaced_when_asked(tmp_path):
  folder = write_saved_model(str(tmp_path), 1, {"echo": _echo()}, "echo",
                             {"export.json": {"run": 1}})
  assert folder == str(tmp_path / "1") and _asset(folder) == {"run": 1}
  loaded = tf.saved_model.load(folder)
  assert set(loaded.signatures) == {"echo", "serving_default"}
  images = np.array([[1, 2]], np.uint8)
  np.testing.assert_array_equal(loaded.signatures["serving_default"](images=images)["images"],
                                images)

  with pytest.raises(FileExistsError, match="pass overwrite=True"):
    write_saved_model(str(tmp_path), 1, {"echo": _echo()}, "echo", {"export.json": {}})
  # A failure while writing leaves the version as it was, and no temporary folder behind.
  with pytest.raises(TypeError):
    write_saved_model(str(tmp_path), 1, {"echo": _echo()}, "echo",
                      {"export.json": {"run": object()}}, overwrite=True)
  assert os.listdir(tmp_path) == ["1"] and _asset(folder) == {"run": 1}

  write_saved_model(str(tmp_path), 1, {"echo": _echo()}, "echo", {"export.json": {"run": 2}},
                    overwrite=True)
  write_saved_model(str(tmp_path), 2, {"echo": _echo()}, "echo", {"export.json": {"run": 3}})
  assert sorted(os.listdir(tmp_path)) == ["1", "2"] and _asset(folder) == {"run": 2}


@pytest.mark.parametrize("version", [0, -1, 1.5, True, "1"])
def test_version_must_be_a_positive_int(tmp_path, version):
  with pytest.raises(ValueError, match="`version` must be a positive int"):
    write_saved_model(str(tmp_path), version, {"echo": _echo()}, "echo", {})
