import os

import pytest
import tensorflow as tf

from spn_keras.presets import file_io

ROOTS = ["local", "ram://file_io_test"]


@pytest.fixture(params=ROOTS)
def root(request, tmp_path):
  """A local folder, or a folder on TensorFlow's in-memory filesystem (gfile, as `gs://`)."""
  if request.param == "local":
    return str(tmp_path)
  folder = f"{request.param}/{request.node.name}"
  file_io.remove_tree(folder)
  return folder


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


def test_atomic_json_and_sha256(root):
  path = os.path.join(root, "a", "value.json")
  tf.io.gfile.makedirs(os.path.dirname(path))
  file_io.write_json_atomically(path, {"b": 1, "a": [2]})
  assert file_io.read_json(path, "value") == {"a": [2], "b": 1}
  assert tf.io.gfile.listdir(os.path.dirname(path)) == ["value.json"]  # no temporary left
  assert len(file_io.sha256_of(path)) == 64
  with pytest.raises(FileNotFoundError, match="No thing at"):
    file_io.read_json(os.path.join(root, "missing.json"), "thing")
  _write(os.path.join(root, "bad.json"), "{")
  with pytest.raises(ValueError, match="not valid JSON"):
    file_io.read_json(os.path.join(root, "bad.json"), "thing")


def test_commit_folder_replaces_and_keeps_the_old_folder_when_writing_fails(root):
  target = os.path.join(root, "target")
  _write(os.path.join(target, "kept"), "old")

  def failing_write(folder):
    _write(os.path.join(folder, "half"), "new")
    raise RuntimeError("disk full")

  with pytest.raises(RuntimeError, match="disk full"):
    file_io.commit_folder(failing_write, target, overwrite=True)
  assert tf.io.gfile.listdir(target) == ["kept"] and tf.io.gfile.listdir(root) == ["target"]
  with pytest.raises(FileExistsError, match="overwrite=True"):
    file_io.commit_folder(failing_write, target, overwrite=False)
  file_io.commit_folder(lambda folder: _write(os.path.join(folder, "new"), "x"), target,
                        overwrite=True)
  assert tf.io.gfile.listdir(target) == ["new"] and tf.io.gfile.listdir(root) == ["target"]
