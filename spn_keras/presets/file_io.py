"""File operations on local paths and on any filesystem TensorFlow knows (`gs://`, `ram://`).

Everything the package reads or writes at a user-given path goes through `tf.io.gfile` here or
in an API built on it (`tf.train.CheckpointManager`, `tf.summary`, Keras `save_weights`), so a
bucket path works wherever a local one does.

Object stores have no atomic rename of a folder (renaming one copies its objects one by one),
so commits are single files: a file is written under a temporary name and renamed (one object
appears whole); a pipeline folder's commit is its `pipeline.json`, written last
(`spn_keras.pipelines.serialization`). `commit_folder` moves a whole folder into place: one
atomic rename on a local disk, file by file elsewhere, a named commit file last.
"""

import hashlib
import json
import os
import secrets

import tensorflow as tf


def is_local(path):
  """Whether `path` is a local path rather than a URL such as `gs://bucket/x`."""
  return "://" not in str(path)


def absolute(path):
  """`path` made absolute (and `~` expanded) when local; a URL as it is."""
  path = str(path)
  return os.path.abspath(os.path.expanduser(path)) if is_local(path) else path


def temporary_sibling(path, kind="tmp"):
  """A fresh name beside `path`: `<parent>/.<name>.<kind>-<random hex>`."""
  parent, name = os.path.split(str(path).rstrip("/"))
  return os.path.join(parent, f".{name}.{kind}-{secrets.token_hex(4)}")


def write_file_atomically(path, contents):
  """Writes `contents` (bytes or str) to `path` through a temporary file and a rename, so that
  `path` is never seen partial (on an object store the object appears whole)."""
  tmp = temporary_sibling(path)
  try:
    with tf.io.gfile.GFile(tmp, "wb" if isinstance(contents, bytes) else "w") as f:
      f.write(contents)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)


def write_json_atomically(path, value):
  """Writes `value` as JSON to `path` with `write_file_atomically`."""
  write_file_atomically(path, json.dumps(value, indent=2, sort_keys=True))


def read_json(path, what):
  """The parsed JSON file `path`; `what` names it in errors.

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: the file is not valid JSON.
  """
  try:
    with tf.io.gfile.GFile(path, "r") as f:
      text = f.read()
  except tf.errors.NotFoundError:
    raise FileNotFoundError(f"No {what} at `{path}`.") from None
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"`{path}` is not valid JSON: {e}") from None


def sha256_of(path):
  """Hex sha256 of a file."""
  digest = hashlib.sha256()
  with tf.io.gfile.GFile(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def remove_tree(path):
  """Deletes the folder `path` and everything in it, if it exists."""
  if tf.io.gfile.exists(path):
    try:
      tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError:  # an emptied folder's leftover entry (`ram://`)
      pass


def move_tree(source, destination, last=()):
  """Moves the folder `source` to `destination` (which must not hold files).

  A local folder is renamed (atomic). Elsewhere a folder is a name prefix (an object store
  renames object by object), so the files are moved one by one, those named in `last`
  after all others: a reader that waits for one of them sees the folder complete.
  """
  if is_local(source):
    tf.io.gfile.rename(source, destination)
    return
  # `ram://` (the in-memory filesystem the tests use for buckets) lists `a.extra/...` under a
  # folder `a` too, as `.extra`: only names that exist are files.
  files = [(root, name) for root, _, names in tf.io.gfile.walk(source) for name in names
           if tf.io.gfile.exists(os.path.join(root, name))]
  for root, name in sorted(files, key=lambda file: file[1] in last):
    relative = os.path.join(root, name)[len(source):].lstrip("/")
    target = os.path.join(destination, relative)
    tf.io.gfile.makedirs(os.path.dirname(target))
    tf.io.gfile.rename(os.path.join(root, name), target, overwrite=True)
  remove_tree(source)


def commit_folder(write, path, overwrite, last=()):
  """Calls `write(tmp_folder)`, then moves the folder to `path` (replacing it if allowed).

  The new folder is written beside `path` under a temporary name; a failure in `write` leaves
  `path` as it was. An existing `path` (with `overwrite`) is moved aside first and deleted
  once the new one is in place, or moved back if that move fails. On a local disk the move
  is one atomic rename; on a bucket it goes file by file (`move_tree`), the files named in
  `last` (e.g. `saved_model.pb`) last.

  Raises:
    FileExistsError: `path` exists and `overwrite` is False.
  """
  path = absolute(path).rstrip("/")
  if tf.io.gfile.exists(path) and not overwrite:
    raise FileExistsError(f"`{path}` exists; pass overwrite=True to replace it.")
  tf.io.gfile.makedirs(os.path.dirname(path))
  new = temporary_sibling(path)
  try:
    write(new)
    old = None
    if tf.io.gfile.exists(path):
      old = temporary_sibling(path, "old")
      move_tree(path, old)
    try:
      move_tree(new, path, last)
    except BaseException:
      if old is not None:
        remove_tree(path)
        move_tree(old, path)
      raise
    if old is not None:
      remove_tree(old)
  finally:
    remove_tree(new)
