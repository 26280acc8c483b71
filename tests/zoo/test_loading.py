import pathlib
import shutil
import subprocess
import sys
import zipfile

from spn_keras.zoo import loading

REPO = pathlib.Path(__file__).resolve().parents[2]


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
      "import spn_keras; from spn_keras import zoo; from spn_keras.zoo import loading\n"
      "print(spn_keras.__file__)\n"
      f"for name in {shipped!r}:\n"
      "  print(loading.shipped_folder(name))\n"
      "  zoo.load(name)\n")
  done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                        cwd=tmp_path, env={"PYTHONPATH": str(site), "HOME": str(tmp_path),
                                           "PATH": "/usr/bin:/bin"}, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  lines = done.stdout.split()
  assert all(line.startswith(str(site)) for line in lines), lines


def test_shipped_folder_is_none_for_an_unshipped_name():
  assert loading.shipped_folder("imagenet128_mdu") is None
