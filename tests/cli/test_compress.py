"""spn_compress and spn_decompress: files through the flags, refusals that write nothing.

The codec itself is tested in tests/codec; a one-stage pipeline of 2x2 gray 2-bit images (the
`pipeline_dir` fixture of conftest.py) keeps these fast.
"""

import json
import os
import re
import sys

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from spn_keras.cli import common
from spn_keras.cli import compress
from spn_keras.cli import decompress
from spn_keras.cli import evaluate  # noqa: F401  (the tools' flags must coexist in one process)
from spn_keras.cli import export  # noqa: F401
from spn_keras.cli import sample  # noqa: F401

FLAGS = flags.FLAGS


def _main(tool, argv):
  """Runs `tool` (the compress or decompress module) in this process with `argv`."""
  FLAGS(["tool"] + [arg for arg in argv if arg.startswith("--")])
  try:
    tool.main(["tool"] + [arg for arg in argv if not arg.startswith("--")])
  finally:
    FLAGS.unparse_flags()


@pytest.fixture
def refused(capsys, monkeypatch):
  """`refused(tool, argv, message)`: runs `tool` with `argv`, which must exit with status 2
  after printing one line, `spn_compress: error: <message>` (or spn_decompress)."""

  def check(tool, argv, message):
    name = "spn_compress" if tool is compress else "spn_decompress"
    monkeypatch.setattr(sys, "argv", [name])  # the command's name, as the console script has
    with pytest.raises(SystemExit) as exit_info:
      _main(tool, argv)
    error = capsys.readouterr().err
    assert exit_info.value.code == 2, error
    assert error.count("\n") == 1, error
    assert re.match(f"{name}: error: .*{message}", error), error

  return check


def _tree(folder):
  """`{relative path: contents}` of the files under `folder` (None for a folder)."""
  tree = {}
  for root, dirs, files in os.walk(folder):
    for name in dirs:
      tree[os.path.relpath(os.path.join(root, name), folder)] = None
    for name in files:
      with open(os.path.join(root, name), "rb") as f:
        tree[os.path.relpath(os.path.join(root, name), folder)] = f.read()
  return tree


def _write_pngs(folder, images):
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i, image in enumerate(images):
    paths.append(os.path.join(folder, f"image{i}.png"))
    tf.io.write_file(paths[-1], tf.io.encode_png(image))
  return paths


def test_compress_then_decompress_restores_the_pngs(pipeline_dir, tmp_path, capsys, refused):
  images = np.random.default_rng(0).integers(0, 4, size=(3, 2, 2, 1), dtype=np.uint8)
  inputs = _write_pngs(str(tmp_path / "in"), images)
  packed, restored = str(tmp_path / "packed"), str(tmp_path / "restored")
  _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", "--noprogress",
                   *inputs])
  summary = json.loads(capsys.readouterr().out)
  assert [f["output"] for f in summary["files"]] == [
      os.path.join(packed, f"image{i}.spn") for i in range(3)]
  assert all(f["bytes"] == os.path.getsize(f["output"]) for f in summary["files"])
  _main(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={restored}", "--noprogress",
                     *[f["output"] for f in summary["files"]]])
  summary = json.loads(capsys.readouterr().out)
  for i, entry in enumerate(summary["files"]):
    assert entry["output"] == os.path.join(restored, f"image{i}.png")
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(entry["output"])),
                                  images[i])
  before = _tree(packed)
  refused(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", *inputs],
          r"image0\.spn exists \(3 of the outputs do\); pass --overwrite")
  assert _tree(packed) == before
  _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", "--overwrite",
                   "--noprogress", *inputs])


_PNG = tf.io.encode_png(np.zeros((2, 2, 1), np.uint8)).numpy()


@pytest.mark.parametrize("bad_image, message", [
    (np.zeros((3, 2, 3), np.uint8), r"bad\.png: a 3x2 image with 3 channel\(s\); the pipeline "
     r"codes images with 1\.$"),
    (np.full((2, 2, 1), 9, np.uint8), r"bad\.png: values up to 9; the pipeline codes 2-bit"),
    (np.zeros((2, 2, 1), np.uint16), r"bad\.png: a 16-bit PNG"),
    (_PNG[:-12], r"bad\.png: not a readable image \(Invalid PNG data, size \d+\)\.$"),
    (b"", r"bad\.png: not a readable image \(Input is empty\.\)\.$"),
], ids=["channels", "depth", "16_bit", "truncated", "empty"])
def test_a_wrong_image_is_refused_and_nothing_is_written(pipeline_dir, tmp_path, refused,
                                                         bad_image, message):
  good = _write_pngs(str(tmp_path / "in"), np.zeros((1, 2, 2, 1), np.uint8))
  bad = str(tmp_path / "in" / "bad.png")
  contents = bad_image if isinstance(bad_image, bytes) else tf.io.encode_png(bad_image)
  tf.io.write_file(bad, contents)
  output_dir = tmp_path / "out"
  refused(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={output_dir}", *good, bad],
          message)
  assert not output_dir.exists()


@pytest.mark.parametrize("damage, message", [
    (lambda blob: b"\x07" + blob[1:], r"image1\.spn: File 1: Not an spn-keras image file"),
    (lambda blob: blob[:3], r"image1\.spn: File 1: The file is truncated \(3 bytes"),
    (lambda blob: blob[:1] + bytes([blob[1] ^ 4]) + blob[2:],
     r"image1\.spn: File 1: The header is damaged"),
], ids=["format", "truncated", "header"])
def test_a_corrupt_file_is_named_and_nothing_is_written(pipeline_dir, tmp_path, refused, damage,
                                                        message):
  inputs = _write_pngs(str(tmp_path / "in"), np.ones((2, 2, 2, 1), np.uint8))
  summary = compress.compress_files(inputs, str(tmp_path / "packed"),
                                    pipeline_dir=pipeline_dir)
  with open(summary["files"][1]["output"], "rb") as f:
    blob = f.read()
  with open(summary["files"][1]["output"], "wb") as f:
    f.write(damage(blob))
  restored = tmp_path / "restored"
  refused(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={restored}",
                       *[f["output"] for f in summary["files"]]], message)
  assert not restored.exists()


@pytest.mark.parametrize("tool", [compress, decompress])
def test_the_tools_need_inputs_an_output_dir_and_one_pipeline(pipeline_dir, tmp_path, refused,
                                                              tool):
  refused(tool, [f"--pipeline={pipeline_dir}", "x.png"], "--output_dir is required")
  refused(tool, [f"--output_dir={tmp_path}", "x.png"], "exactly one of --zoo")
  refused(tool, [f"--pipeline={pipeline_dir}", f"--output_dir={tmp_path}"], "at least one")
  assert not os.listdir(tmp_path)


@pytest.fixture
def pipeline_never_loaded(monkeypatch):
  """Fails the tool if it loads its pipeline: the files must be checked before any work."""

  def load_pipeline(*args, **kwargs):
    raise AssertionError("the pipeline was loaded before the files were checked")

  monkeypatch.setattr(common, "load_pipeline", load_pipeline)


def _bad_files_cases(root, suffix):
  """`{case: (inputs, output_dir, message)}` on the files that `_lay_out_files` makes."""
  good, out = f"{root}/in/good.png", f"{root}/out"
  suffix = re.escape(suffix)
  return {
      "missing_input": ([good, "missing.png"], f"{root}/new", r"missing\.png: no such file\.$"),
      "folder_input": ([good, f"{root}/in"], f"{root}/new", r"/in: a folder, not a file\.$"),
      "device_input": ([good, os.devnull], f"{root}/new", r"/dev/null: not a regular file"),
      "same_names": ([good, f"{root}/in/other/good.png"], f"{root}/new",
                     r"/in/good\.png and .*/in/other/good\.png have the same file name"),
      "output_dir_is_a_file": ([good], f"{root}/a_file",
                               r"--output_dir .*/a_file is a file, not a folder\.$"),
      "output_dir_below_a_file": ([good], f"{root}/a_file/new",
                                  r"--output_dir .*/a_file/new lies below .*/a_file, a file"),
      "output_is_a_folder": ([f"{root}/in/folder.png"], out,
                             f"/out/folder{suffix} is a folder: an output cannot replace it"),
      "output_exists": ([good], out,
                        f"/out/good{suffix} exists \\(1 of the outputs do\\); pass --overwrite"),
  }


def _lay_out_files(root, suffix):
  """Inputs in `root/in`, a file `root/a_file`, and in `root/out` an output and a folder named
  like outputs."""
  for folder in ("in/other", f"out/folder{suffix}"):
    os.makedirs(os.path.join(root, folder))
  for name, contents in (("in/good.png", _PNG), ("in/other/good.png", _PNG),
                         ("in/folder.png", _PNG), ("a_file", b"not a folder"),
                         (f"out/good{suffix}", b"an earlier output")):
    with open(os.path.join(root, name), "wb") as f:
      f.write(contents)


@pytest.mark.parametrize("tool", [compress, decompress])
@pytest.mark.parametrize("case", list(_bad_files_cases("root", ".spn")))
def test_files_are_checked_before_any_work(tmp_path, refused, pipeline_never_loaded, tool, case):
  suffix = ".spn" if tool is compress else ".png"
  _lay_out_files(str(tmp_path), suffix)
  inputs, output_dir, message = _bad_files_cases(str(tmp_path), suffix)[case]
  before = _tree(tmp_path)
  refused(tool, ["--pipeline=unused", f"--output_dir={output_dir}", *inputs], message)
  assert _tree(tmp_path) == before


def test_an_unreadable_input_is_named(pipeline_dir, tmp_path, refused, monkeypatch):
  """A read that TensorFlow refuses names the file in one line (the refusal is simulated:
  tests run as root, whom file permissions do not stop)."""
  inputs = _write_pngs(str(tmp_path / "in"), np.zeros((2, 2, 2, 1), np.uint8))
  packed = compress.compress_files(inputs, str(tmp_path / "packed"),
                                   pipeline_dir=pipeline_dir)["files"]
  gfile = tf.io.gfile.GFile

  def refusing_gfile(path, mode="r"):
    if os.path.basename(path) in ("image1.png", "image1.spn"):
      raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
    return gfile(path, mode)

  monkeypatch.setattr(tf.io.gfile, "GFile", refusing_gfile)
  output_dir = tmp_path / "out"
  refused(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={output_dir}", *inputs],
          r"/in/image1\.png: cannot be read \(.*/in/image1\.png; Permission denied\)\.$")
  refused(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={output_dir}",
                       *[f["output"] for f in packed]],
          r"/packed/image1\.spn: cannot be read \(.*/image1\.spn; Permission denied\)\.$")
  assert not output_dir.exists()


def test_a_failed_write_is_named_and_leaves_nothing(pipeline_dir, tmp_path, refused,
                                                    monkeypatch):
  inputs = _write_pngs(str(tmp_path / "in"), np.zeros((2, 2, 2, 1), np.uint8))
  gfile = tf.io.gfile.GFile

  def full_disk_gfile(path, mode="r"):
    if "w" in mode and os.path.basename(path).startswith(".image1.spn"):
      raise tf.errors.ResourceExhaustedError(None, None, f"{path}; No space left on device")
    return gfile(path, mode)

  monkeypatch.setattr(tf.io.gfile, "GFile", full_disk_gfile)
  output_dir = tmp_path / "out"
  refused(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={output_dir}",
                     "--noprogress", *inputs],
          r"/out/image1\.spn: cannot be written \(.*; No space left on device\)\.$")
  assert os.listdir(output_dir) == []  # image0.spn's temporary file is gone too


def test_bucket_paths_through_tf_io_gfile(pipeline_dir):
  """Inputs and outputs on TensorFlow's in-memory filesystem, which `gs://` paths share the
  `tf.io.gfile` code path with."""
  images = np.random.default_rng(1).integers(0, 4, size=(2, 2, 2, 1), dtype=np.uint8)
  inputs = []
  for i, image in enumerate(images):
    inputs.append(f"ram://spn_compress_test/in/image{i}.png")
    tf.io.write_file(inputs[-1], tf.io.encode_png(image))
  packed = compress.compress_files(inputs, "ram://spn_compress_test/packed",
                                   pipeline_dir=pipeline_dir)
  outputs = [f["output"] for f in packed["files"]]
  assert outputs == [f"ram://spn_compress_test/packed/image{i}.spn" for i in range(2)]
  restored = decompress.decompress_files(outputs, "ram://spn_compress_test/restored",
                                         pipeline_dir=pipeline_dir)
  for i, entry in enumerate(restored["files"]):
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(entry["output"])),
                                  images[i])
  assert not [name for name in tf.io.gfile.listdir("ram://spn_compress_test/packed")
              if ".tmp-" in name]


def test_pipeline_flag_takes_a_zoo_name(tmp_path, monkeypatch, capsys):
  """`--pipeline=mnist28_mdu` names the zoo model as `--zoo` does: its pretrained weights."""
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path / "home"))  # the shipped weights
  (digit,) = _write_pngs(str(tmp_path / "in"), np.zeros((1, 28, 28, 1), np.uint8))
  _main(compress, ["--pipeline=mnist28_mdu", f"--output_dir={tmp_path / 'packed'}",
                   "--noprogress", digit])
  (coded,) = json.loads(capsys.readouterr().out)["files"]
  assert os.path.exists(coded["output"])
  assert coded["bits_per_dim"] < 1  # a blank digit, to trained weights (random ones: ~8)


def test_images_of_any_size_and_archives(pipeline_dir, tmp_path, capsys, refused):
  """Files of images of other sizes than the pipeline's 2x2, and an archive read back."""
  rng = np.random.default_rng(2)
  odd = [rng.integers(0, 4, size=shape, dtype=np.uint8) for shape in [(3, 5, 1), (1, 1, 1)]]
  inputs = _write_pngs(str(tmp_path / "odd"), odd)
  packed, restored = str(tmp_path / "packed"), str(tmp_path / "restored")
  _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", "--noprogress",
                   *inputs])
  summary = json.loads(capsys.readouterr().out)
  assert [f["bits_per_dim"] * 15 / 8 for f in summary["files"][:1]] == [
      os.path.getsize(os.path.join(packed, "image0.spn"))]
  same = rng.integers(0, 4, size=(3, 3, 5, 1), dtype=np.uint8)
  archive = str(tmp_path / "set.spna")
  _main(compress, [f"--pipeline={pipeline_dir}", f"--archive={archive}", "--noprogress",
                   *_write_pngs(str(tmp_path / "same"), same)])
  summary = json.loads(capsys.readouterr().out)
  assert summary["archive"] == archive and summary["bytes"] == os.path.getsize(archive)
  _main(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={restored}", "--noprogress",
                     os.path.join(packed, "image0.spn"), os.path.join(packed, "image1.spn"),
                     archive])
  summary = json.loads(capsys.readouterr().out)
  assert [entry["output"] for entry in summary["files"]] == [
      os.path.join(restored, name) for name in
      ("image0.png", "image1.png", "set_0.png", "set_1.png", "set_2.png")]
  for entry, image in zip(summary["files"], [*odd, *same]):
    np.testing.assert_array_equal(tf.io.decode_png(tf.io.read_file(entry["output"])), image)
  before = _tree(tmp_path)
  refused(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={restored}", archive],
          r"/restored/set_0\.png exists \(an image of .*set\.spna\); pass "
          r"--overwrite")
  refused(compress, [f"--pipeline={pipeline_dir}", f"--archive={archive}", *inputs],
          r"/set\.spna exists; pass --overwrite to replace it\.$")
  refused(compress, [f"--pipeline={pipeline_dir}", f"--archive={tmp_path}/new.spna", *inputs],
          r"/odd/image1\.png: a 1x1 image; an archive holds images of one size, and .*"
          r"/odd/image0\.png is 3x5\.$")
  refused(compress, [f"--pipeline={pipeline_dir}", f"--archive={tmp_path}/new.spna",
                     f"--output_dir={restored}", *inputs], "Give --archive or --output_dir, "
          "not both")
  with open(archive, "rb") as f:
    blob = f.read()
  with open(archive, "wb") as f:
    f.write(blob[:-1])
  refused(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={tmp_path}/again", archive],
          r"/set\.spna: The archive is truncated or corrupt")
  with open(archive, "wb") as f:
    f.write(blob)
  assert _tree(tmp_path) == before
