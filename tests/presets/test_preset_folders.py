import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest
import tensorflow as tf

from spn_keras.presets import file_io
from spn_keras.presets import preset_folders

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 16 s: builds a wheel (packaging); .ci/run installs the package too
def test_shipped_pipelines_load_from_a_built_wheel(tmp_path, repo_zoo):
  # A wheel, not the source checkout: the pipelines must travel as package data. It is built
  # from a copy, so that the checkout's build/ folder neither feeds nor receives it.
  source = tmp_path / "source"
  shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
      ".git", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench"))
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                  "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)],
                 check=True, cwd=tmp_path)
  (wheel,) = (tmp_path / "dist").glob("spn_keras-*.whl")
  site = tmp_path / "site"
  with zipfile.ZipFile(wheel) as archive:
    archive.extractall(site)
  _, shipped = repo_zoo
  assert "mnist28_mdu" in shipped
  for name in shipped:
    assert (site / "spn_keras" / "_shipped_zoo" / name / "pipeline.json").is_file()
  # A fresh interpreter that sees the unpacked wheel first, outside the checkout.
  script = (
      "import spn_keras; from spn_keras import zoo; from spn_keras.presets import shipped_folder\n"
      "print(spn_keras.__file__)\n"
      f"for name in {shipped!r}:\n"
      "  print(shipped_folder(name))\n"
      "  zoo.load(name)\n")
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=tmp_path, env={"PYTHONPATH": str(site), "HOME": str(tmp_path),
                                           "PATH": "/usr/bin:/bin"}, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = done.stdout.split()
  assert all(line.startswith(str(site)) for line in lines), lines


def test_shipped_folder_is_none_for_an_unshipped_name():
  assert preset_folders.shipped_folder("imagenet128_mdu") is None


def test_a_home_copy_shadows_the_shipped_pipeline(tmp_path, monkeypatch):
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path))
  shipped = preset_folders.shipped_folder("mnist28_mdu")
  assert preset_folders.pretrained_folder("mnist28_mdu") == shipped
  shutil.copytree(shipped, tmp_path / "mnist28_mdu")
  assert preset_folders.pretrained_folder("mnist28_mdu") == str(tmp_path / "mnist28_mdu")
  folder, sha256 = preset_folders.resolve_stage_preset("mnist28_mdu/size_upscaler", {})
  assert folder == str(tmp_path / "mnist28_mdu" / "size_upscaler")
  assert sha256 == file_io.sha256_of(os.path.join(folder, preset_folders.WEIGHTS_FILE))
  assert preset_folders.pretrained_folder("imagenet128_mdu") is None


def test_a_bucket_home_is_searched_through_tf_io_gfile(monkeypatch):
  """`SPN_KERAS_HOME` on TensorFlow's in-memory filesystem (the gfile path of `gs://`)."""
  home = "ram://spn_keras_home_test"
  monkeypatch.setenv("SPN_KERAS_HOME", home)
  shipped = preset_folders.shipped_folder("mnist28_mdu")
  for root, _, files in tf.io.gfile.walk(shipped):
    for name in files:
      relative = os.path.relpath(os.path.join(root, name), shipped)
      tf.io.gfile.makedirs(os.path.dirname(os.path.join(home, "mnist28_mdu", relative)))
      tf.io.gfile.copy(os.path.join(root, name), os.path.join(home, "mnist28_mdu", relative))
  assert preset_folders.pretrained_folder("mnist28_mdu") == f"{home}/mnist28_mdu"
  folder, _ = preset_folders.resolve_stage_preset("mnist28_mdu/depth_upscaler", {})
  assert folder == f"{home}/mnist28_mdu/depth_upscaler"


def test_a_stage_folder_outside_a_pipeline_has_no_recorded_digest(tmp_path):
  (tmp_path / "stage").mkdir()
  (tmp_path / "stage" / "config.json").write_text("{}")
  assert preset_folders.resolve_stage_preset(str(tmp_path / "stage"), {}) == (
      str(tmp_path / "stage"), None)
