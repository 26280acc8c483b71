"""spn_compress and spn_decompress: files through the flags, refusals that write nothing.

The codec itself is tested in tests/codec; a one-stage pipeline of 2x2 gray 2-bit images (the
`pipeline_dir` fixture of conftest.py) keeps these fast.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import pytest
import tensorflow as tf

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


def _write_pngs(folder, images):
  os.makedirs(folder, exist_ok=True)
  paths = []
  for i, image in enumerate(images):
    paths.append(os.path.join(folder, f"image{i}.png"))
    tf.io.write_file(paths[-1], tf.io.encode_png(image))
  return paths


def test_compress_then_decompress_restores_the_pngs(pipeline_dir, tmp_path, capsys):
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
  with pytest.raises(app.UsageError, match="exists .*--overwrite"):
    _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", *inputs])
  _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={packed}", "--overwrite",
                   "--noprogress", *inputs])


@pytest.mark.parametrize("bad_image, message", [
    (np.zeros((3, 2, 1), np.uint8), r"bad\.png: a 3x2 image with 1 channel\(s\); the pipeline "
     r"codes 2x2 images with 1"),
    (np.zeros((2, 2, 3), np.uint8), r"bad\.png: a 2x2 image with 3 channel"),
    (np.full((2, 2, 1), 9, np.uint8), r"bad\.png: values up to 9; the pipeline codes 2-bit"),
    (np.zeros((2, 2, 1), np.uint16), r"bad\.png: a 16-bit PNG"),
])
def test_a_wrong_image_is_refused_and_nothing_is_written(pipeline_dir, tmp_path, bad_image,
                                                         message):
  good = _write_pngs(str(tmp_path / "in"), np.zeros((1, 2, 2, 1), np.uint8))
  bad = str(tmp_path / "in" / "bad.png")
  tf.io.write_file(bad, tf.io.encode_png(bad_image))
  output_dir = tmp_path / "out"
  with pytest.raises(app.UsageError, match=message):
    _main(compress, [f"--pipeline={pipeline_dir}", f"--output_dir={output_dir}", *good, bad])
  assert not output_dir.exists() or not os.listdir(output_dir)


def test_a_corrupt_file_is_named_and_nothing_is_written(pipeline_dir, tmp_path):
  inputs = _write_pngs(str(tmp_path / "in"), np.ones((2, 2, 2, 1), np.uint8))
  summary = compress.compress_files(inputs, str(tmp_path / "packed"),
                                    pipeline_dir=pipeline_dir)
  with open(summary["files"][1]["output"], "r+b") as f:
    f.write(b"\x07")  # not the format version
  restored = tmp_path / "restored"
  with pytest.raises(app.UsageError, match=r"image1\.spn: File 1: Not an spn-keras image file"):
    _main(decompress, [f"--pipeline={pipeline_dir}", f"--output_dir={restored}",
                       *[f["output"] for f in summary["files"]]])
  assert not restored.exists()


def test_the_tools_need_inputs_an_output_dir_and_one_pipeline(pipeline_dir, tmp_path):
  for tool in (compress, decompress):
    with pytest.raises(app.UsageError, match="--output_dir is required"):
      _main(tool, [f"--pipeline={pipeline_dir}", "x.png"])
    with pytest.raises(app.UsageError, match="exactly one of --zoo"):
      _main(tool, [f"--output_dir={tmp_path}", "x.png"])
    with pytest.raises(app.UsageError, match="at least one"):
      _main(tool, [f"--pipeline={pipeline_dir}", f"--output_dir={tmp_path}"])
    with pytest.raises(app.UsageError, match="missing.png: no such file"):
      _main(tool, [f"--pipeline={pipeline_dir}", f"--output_dir={tmp_path}", "missing.png"])


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
