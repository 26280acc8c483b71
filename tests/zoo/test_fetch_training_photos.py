"""zoo/photos32_mdu/fetch_training_photos.sh, run against stand-ins for apt-get and dpkg-deb
(the real ones would download from the Debian mirror)."""

import hashlib
import os
import pathlib
import shutil
import subprocess

import pytest

SCRIPT = (pathlib.Path(__file__).resolve().parents[2] / "zoo" / "photos32_mdu" /
          "fetch_training_photos.sh")

# `apt-get download -q PACKAGE=VERSION` writes PACKAGE.deb; `dpkg-deb -x DEB DIR` copies the
# stand-in package tree $PACKAGES/PACKAGE into DIR.
FAKE_APT_GET = """#!/usr/bin/env bash
[[ $1 == download ]] || exit 1
echo "${3%%=*}" > "${3%%=*}.deb"
echo "$3" >> "$PACKAGES/downloads.log"
"""
FAKE_DPKG_DEB = """#!/usr/bin/env bash
[[ $1 == -x ]] || exit 1
mkdir -p "$3" && cp -r "$PACKAGES/$(cat "$2")/." "$3/"
"""


@pytest.fixture()
def fetch(tmp_path):
  """Runs a copy of the script with a list of two photos from two stand-in packages."""
  packages = tmp_path / "packages"
  contents = {"pkg-a": ("usr/share/a/one.jpg", b"first photo"),
              "pkg-b": ("usr/share/b/two.png", b"second photo")}
  rows = ["# file\tsha256\tdebian_package=version\tpath_in_package\tauthor\tlicence"]
  for package, (path, data) in contents.items():
    (packages / package / path).parent.mkdir(parents=True)
    (packages / package / path).write_bytes(data)
    rows.append(f"{package}_{path.rsplit('/', 1)[1]}\t{hashlib.sha256(data).hexdigest()}\t"
                f"{package}=1.0\t/{path}\tAn Author\tCC0-1.0")
  scripts = tmp_path / "zoo"
  scripts.mkdir()
  shutil.copy(SCRIPT, scripts)
  (scripts / "training_photos.tsv").write_text("\n".join(rows) + "\n")
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for name, text in (("apt-get", FAKE_APT_GET), ("dpkg-deb", FAKE_DPKG_DEB)):
    (bin_dir / name).write_text(text)
    (bin_dir / name).chmod(0o755)
  env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PACKAGES=str(packages))

  def run(dest):
    return subprocess.run(["bash", str(scripts / SCRIPT.name), str(dest)], env=env,
                          capture_output=True, text=True, check=False)

  return run, packages


def test_fetches_the_listed_files_and_prints_their_licences(fetch, tmp_path):
  run, packages = fetch
  result = run(tmp_path / "photos")
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "photos" / "pkg-a_one.jpg").read_bytes() == b"first photo"
  assert (tmp_path / "photos" / "pkg-b_two.png").read_bytes() == b"second photo"
  assert sorted(os.listdir(tmp_path / "photos")) == ["pkg-a_one.jpg", "pkg-b_two.png"]
  assert "pkg-a_one.jpg" in result.stdout and "CC0-1.0" in result.stdout
  assert (packages / "downloads.log").read_text().split() == ["pkg-a=1.0", "pkg-b=1.0"]
  # A second run keeps the checked files.
  before = (tmp_path / "photos" / "pkg-a_one.jpg").stat().st_mtime_ns
  assert run(tmp_path / "photos").returncode == 0
  assert (tmp_path / "photos" / "pkg-a_one.jpg").stat().st_mtime_ns == before


def test_a_changed_package_file_is_an_error(fetch, tmp_path):
  run, packages = fetch
  (packages / "pkg-b" / "usr/share/b/two.png").write_bytes(b"another photo")
  result = run(tmp_path / "photos")
  assert result.returncode == 1
  assert "pkg-b_two.png does not have the listed SHA-256 (pkg-b=1.0 changed?)" in result.stderr
  assert (tmp_path / "photos" / "pkg-a_one.jpg").read_bytes() == b"first photo"


def test_the_shipped_list_names_every_field():
  rows = [line.split("\t") for line in (SCRIPT.parent / "training_photos.tsv").read_text()
          .splitlines() if not line.startswith("#")]
  assert len(rows) == 36
  for file, sha256, package, path, author, licence in rows:
    assert len(sha256) == 64 and "=" in package and path.startswith("/usr/share/")
    assert file.rsplit(".", 1)[1] == path.rsplit(".", 1)[1] == "jpg" and author and licence
  assert len({row[0] for row in rows}) == len(rows)
