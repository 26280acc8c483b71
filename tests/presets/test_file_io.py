import os

import pytest
import tensorflow as tf

from spn_keras.presets import file_io

def _write(path, text):
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(text)


def _read(path):
  with tf.io.gfile.GFile(path, "r") as f:
    return f.read()


def test_absolute_leaves_urls_alone():
  assert file_io.absolute("gs://bucket/x") == "gs://bucket/x"
  assert file_io.absolute("x") == os.path.abspath("x")
  assert file_io.is_local("/tmp/x") and not file_io.is_local("ram://x")


def test_atomic_json_and_sha256(storage_root):
  path = os.path.join(storage_root, "a", "value.json")
  tf.io.gfile.makedirs(os.path.dirname(path))
  file_io.write_json_atomically(path, {"b": 1, "a": [2]})
  assert file_io.read_json(path, "value") == {"a": [2], "b": 1}
  assert tf.io.gfile.listdir(os.path.dirname(path)) == ["value.json"]  # no temporary left
  assert len(file_io.sha256_of(path)) == 64
  with pytest.raises(FileNotFoundError, match="No thing at"):
    file_io.read_json(os.path.join(storage_root, "missing.json"), "thing")
  _write(os.path.join(storage_root, "bad.json"), "{")
  with pytest.raises(ValueError, match="not valid JSON"):
    file_io.read_json(os.path.join(storage_root, "bad.json"), "thing")


def test_commit_folder_replaces_and_keeps_the_old_folder_when_writing_fails(storage_root):
  target = os.path.join(storage_root, "target")
  _write(os.path.join(target, "kept"), "old")

  def failing_write(folder):
    _write(os.path.join(folder, "half"), "new")
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError, match="disk full"):
    file_io.commit_folder(failing_write, target, overwrite=True)
  assert tf.io.gfile.listdir(target) == ["kept"]
  assert tf.io.gfile.listdir(storage_root) == ["target"]
  with pytest.raises(FileExistsError, match="overwrite=True"):
    file_io.commit_folder(failing_write, target, overwrite=False)
  file_io.commit_folder(lambda folder: _write(os.path.join(folder, "new"), "x"), target,
                        overwrite=True)
  assert tf.io.gfile.listdir(target) == ["new"]
  assert tf.io.gfile.listdir(storage_root) == ["target"]
