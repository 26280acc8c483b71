"""What a pipeline folder may hold: the rules every reader and writer of one goes through.

A model zoo loads folders that other people made, so a pipeline folder is untrusted input: it
must never make this package read, write or delete anything outside it, nor run for ever. The
rules:

- `pipeline.json` is a dict: `"format"` is `FORMAT`, `"stages"` maps stage names from
  `STAGES` to `{"folder": name, "sha256": 64 hex digits}` (a digest is required: there is no
  way to switch the integrity check off), `"metadata"` is a dict.
- A stage folder is one plain name inside the pipeline folder (`[A-Za-z0-9_.-]+`, not `.` or
  `..`, no two stages sharing one), and neither it nor its files may be symbolic links.
- JSON files and weights files are regular files of bounded size (`MAX_JSON_BYTES`,
  `MAX_WEIGHTS_BYTES`), checked before they are read or hashed.
- Deleting a stage folder deletes only the files this package writes into one (`STAGE_FILES`)
  and then the folder if it is left empty: never through a symbolic link, never a user's file.
- A pipeline is written only into a new or empty folder, a committed pipeline folder, or a
  folder holding nothing but the leftovers of an interrupted write; never into the pipelines
  installed with the package.

Paths may be local or bucket paths (`gs://`, `ram://`): object stores have no symbolic links,
and their checks go through `tf.io.gfile`.
"""

import importlib.resources
import os
import pathlib
import re
import secrets
import stat

import tensorflow as tf

from spn_keras.presets import file_io

FORMAT = "spn_keras.pipeline/1"
WEIGHTS_FILE = "model.weights.h5"
CONFIG_FILE = "config.json"
PIPELINE_FILE = "pipeline.json"
STAGES = ("slice_decoder", "size_upscaler", "depth_upscaler")  # in generation order
STAGE_FILES = (CONFIG_FILE, WEIGHTS_FILE)  # all that this package writes into a stage folder
MAX_JSON_BYTES = 1 << 20  # a config or manifest is a few kB
# Table 4's widest stage (ImageNet 128) holds about 185M float32 parameters: 0.75 GB.
MAX_WEIGHTS_BYTES = 4 << 30

_FOLDER_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# The folders `spn_keras.pipelines.serialization` writes: a stage's name, or
# `<stage>.<8 hex digits>` while that name is in use.
_WRITTEN_FOLDER = re.compile(rf"({'|'.join(STAGES)})(\.[0-9a-f]{{8}})?")


def _is_link(path):
  return file_io.is_local(path) and os.path.islink(path)


def _children(folder):
  """The names in `folder`. (`tf.io.gfile.listdir` of an object-store prefix also lists the
  tails of its siblings' names: `a/`'s listing holds `.b` when `a.b/` exists; a glob does not.)
  """
  if file_io.is_local(folder):
    return [name.rstrip("/") for name in tf.io.gfile.listdir(folder)]
  return [os.path.basename(name.rstrip("/"))
          for name in tf.io.gfile.glob(os.path.join(folder, "*"))]


def check_folder_name(name, where):
  """Returns `name` if it is a plain folder name (`[A-Za-z0-9_.-]+`, not `.` or `..`).

  Args:
    name: the value a manifest gives as a stage's folder.
    where: what to name in the error (e.g. "`/p/pipeline.json`, stage 'slice_decoder'").

  Raises:
    ValueError: `name` is not a string, is empty, holds a separator or other characters, or
      is `.` / `..`.
  """
  if (not isinstance(name, str) or not _FOLDER_NAME.fullmatch(name)
      or name in (".", "..")):
    raise ValueError(f"{where}: the stage folder must be one plain name inside the pipeline "
                     f"folder ([A-Za-z0-9_.-]+, not '.' or '..'), got {name!r}.")
  return name


def check_manifest(spec, path):
  """Checks a parsed `pipeline.json` against the rules above; returns it.

  Args:
    spec: the parsed JSON.
    path: the pipeline folder (for messages).

  Raises:
    ValueError: naming the file and the field that breaks a rule.
  """
  where = f"`{os.path.join(path, PIPELINE_FILE)}`"
  if not isinstance(spec, dict) or spec.get("format") != FORMAT:
    raise ValueError(f"{where} is not a {FORMAT} file (a JSON object with "
                     f"\"format\": \"{FORMAT}\").")
  stages = spec.get("stages")
  if not isinstance(stages, dict):
    raise ValueError(f"{where}: \"stages\" must be an object of stage entries.")
  if not isinstance(spec.get("metadata", {}), dict):
    raise ValueError(f"{where}: \"metadata\" must be an object.")
  folders = set()
  for stage, entry in stages.items():
    if stage not in STAGES:
      raise ValueError(f"{where}: unknown stage {stage!r}; stages are {list(STAGES)}.")
    if not isinstance(entry, dict):
      raise ValueError(f"{where}: stage {stage!r} must be an object with \"folder\" and "
                       f"\"sha256\".")
    check_folder_name(entry.get("folder"), f"{where}, stage {stage!r}")
    if entry["folder"] in folders:
      raise ValueError(f"{where}: two stages share the folder {entry['folder']!r}.")
    folders.add(entry["folder"])
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
      raise ValueError(f"{where}, stage {stage!r}: \"sha256\" must be the 64 lowercase hex "
                       f"digits of the weights file's SHA-256, got {digest!r}.")
  return spec


def check_regular_file(path, what, max_bytes):
  """Checks that `path` is a regular file (not a link, folder or device) of at most
  `max_bytes`, before anything reads it.

  Args:
    path: the file.
    what: what the file is, for messages ("weights file").
    max_bytes: the largest size accepted.

  Raises:
    FileNotFoundError: nothing at `path`.
    ValueError: a symbolic link, not a regular file, or too large.
  """
  if file_io.is_local(path):
    try:
      info = os.lstat(path)
    except FileNotFoundError:
      raise FileNotFoundError(f"No {what} at `{path}`.") from None
    if stat.S_ISLNK(info.st_mode):
      raise ValueError(f"The {what} `{path}` is a symbolic link; pipeline folders may not "
                       f"hold links.")
    if not stat.S_ISREG(info.st_mode):
      raise ValueError(f"The {what} `{path}` is not a regular file.")
    size = info.st_size
  else:
    if not tf.io.gfile.exists(path):
      raise FileNotFoundError(f"No {what} at `{path}`.")
    if tf.io.gfile.isdir(path):
      raise ValueError(f"The {what} `{path}` is not a regular file.")
    size = tf.io.gfile.stat(path).length
  if size > max_bytes:
    raise ValueError(f"The {what} `{path}` holds {size:,} bytes; at most {max_bytes:,} are "
                     f"accepted.")


def read_json_file(path, what):
  """The parsed JSON file `path`, after `check_regular_file` (at most `MAX_JSON_BYTES`)."""
  check_regular_file(path, what, MAX_JSON_BYTES)
  return file_io.read_json(path, what)


def read_manifest(path):
  """The checked `pipeline.json` of the pipeline folder `path`."""
  return check_manifest(read_json_file(os.path.join(path, PIPELINE_FILE), PIPELINE_FILE), path)


def stage_folder(path, folder):
  """`path/folder` for a stage folder named in a checked manifest, refusing a link.

  Raises:
    ValueError: `folder` is not a plain name, or `path/folder` is a symbolic link.
  """
  check_folder_name(folder, f"`{path}`")
  joined = os.path.join(path, folder)
  if _is_link(joined):
    raise ValueError(f"The stage folder `{joined}` is a symbolic link; pipeline folders may "
                     f"not hold links.")
  return joined


def remove_stage_folder(path, folder):
  """Deletes the stage folder `path/folder`'s `STAGE_FILES`, then the folder if left empty.

  Nothing is deleted through a symbolic link (a link is left where it is) and no file this
  package does not write is deleted: a folder holding others stays.
  """
  check_folder_name(folder, f"`{path}`")
  joined = os.path.join(path, folder)
  if _is_link(joined) or not tf.io.gfile.isdir(joined):
    return
  for name in STAGE_FILES:
    file = os.path.join(joined, name)
    if not _is_link(file) and tf.io.gfile.exists(file) and not tf.io.gfile.isdir(file):
      tf.io.gfile.remove(file)
  if not _children(joined):
    file_io.remove_tree(joined)


def free_folder_name(path, stage, taken):
  """A name for a new folder of `stage` in `path`: the stage's name when nothing is there and
  `taken` (the names the committed manifest uses) lacks it, else `<stage>.<8 hex digits>`."""
  name = stage
  while name in taken or _exists_or_link(os.path.join(path, name)):
    name = f"{stage}.{secrets.token_hex(4)}"
  return name


def _exists_or_link(path):
  """Whether anything is at `path` (a broken link too). An object store's prefix "exists"
  for `tf.io.gfile` when only a sibling with a longer name does (`a` when `a.b/` exists), so
  there it is whatever a glob finds at or under it."""
  if file_io.is_local(path):
    return os.path.lexists(path)
  return bool(tf.io.gfile.glob(path) or tf.io.gfile.glob(os.path.join(path, "*")))


def installed_roots():
  """The folders of the pipelines installed with the package, which are never written to.

  Shipped pipelines live in the repository's top-level `zoo/`, installed as the package data
  `spn_keras._shipped_zoo` (so they load from a wheel as well as from a source checkout).
  """
  roots = []
  try:
    roots.append(str(importlib.resources.files("spn_keras._shipped_zoo")))
  except ModuleNotFoundError:
    pass
  roots.append(str(pathlib.Path(__file__).resolve().parents[2] / "zoo"))
  return roots


def check_destination(path):
  """Checks that a pipeline may be written into the folder `path`.

  Allowed: a folder that does not exist, an empty one, a committed pipeline folder whose
  manifest passes `check_manifest`, or one holding only folders this package writes (the
  leftovers of an interrupted first write). Refused: anything inside the pipelines installed
  with the package, a file, a link, and a folder holding anything else.

  Raises:
    ValueError: naming `path` and the reason.
  """
  if file_io.is_local(path):
    real = os.path.realpath(path)
    for root in installed_roots():
      root = os.path.realpath(root)
      if real == root or real.startswith(root + os.sep):
        raise ValueError(f"`{path}` is inside the pipelines installed with spn-keras "
                         f"({root}); save into a folder of your own.")
  if _is_link(path):
    raise ValueError(f"`{path}` is a symbolic link; save into a real folder.")
  if not tf.io.gfile.exists(path):
    return
  if not tf.io.gfile.isdir(path):
    raise ValueError(f"`{path}` exists and is not a folder.")
  if tf.io.gfile.exists(os.path.join(path, PIPELINE_FILE)):
    read_manifest(path)
    return
  foreign = sorted(name for name in _children(path) if not _is_leftover(path, name))
  if foreign:
    raise ValueError(f"`{path}` exists and is not a pipeline folder (it holds {foreign[:3]}"
                     f"{' ...' if len(foreign) > 3 else ''}); save into a new or empty folder.")


def _is_leftover(path, name):
  """Whether `path/name` is a stage folder this package was writing when it was stopped."""
  folder = os.path.join(path, name)
  if not _WRITTEN_FOLDER.fullmatch(name) or _is_link(folder) or not tf.io.gfile.isdir(folder):
    return False
  return all(entry in STAGE_FILES and not _is_link(os.path.join(folder, entry))
             for entry in _children(folder))
