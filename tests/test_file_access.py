"""No module of the package reads or writes a user-given path without `tf.io.gfile`.

Paths may be bucket paths (`gs://...`), which only `tf.io.gfile` (and the APIs built on it)
reaches: Python's `open`, `os` file functions, `shutil` and `pathlib`'s file methods would fail
on them or, worse, create a local folder named `gs:`. The few calls that remain touch paths the
package owns, listed here with the reason.
"""

import ast
import pathlib

import spn_keras

PACKAGE = pathlib.Path(spn_keras.__file__).parent
BANNED_OS = {"makedirs", "mkdir", "rename", "replace", "remove", "unlink", "rmdir", "listdir",
             "scandir", "walk"}
BANNED_OS_PATH = {"exists", "isdir", "isfile", "getsize"}
BANNED_PATH_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes", "mkdir",
                       "is_file", "is_dir", "iterdir", "glob", "unlink", "rename"}
# module -> why its remaining calls are not on user-given paths.
ALLOWED = {
    "codec/environment.py": "reads /proc/cpuinfo (the CPU's features)",
    "compilation_cache.py": "XLA's compilation cache is a local folder (a bucket home gets "
                            "none) named after /proc/cpuinfo's CPU",
    "testing/layer_test.py": "a test helper's own temporary folder",
}


def _file_calls(tree):
  """`(line, call)` of every banned file access in a module's syntax tree."""
  found = []
  for node in ast.walk(tree):
    if not isinstance(node, ast.Call):
      continue
    function = node.func
    if isinstance(function, ast.Name) and function.id == "open":
      found.append((node.lineno, "open"))
    elif isinstance(function, ast.Attribute):
      owner = ast.unparse(function.value)
      if owner == "os" and function.attr in BANNED_OS:
        found.append((node.lineno, f"os.{function.attr}"))
      elif owner == "os.path" and function.attr in BANNED_OS_PATH:
        found.append((node.lineno, f"os.path.{function.attr}"))
      elif owner == "shutil":
        found.append((node.lineno, f"shutil.{function.attr}"))
      elif function.attr in BANNED_PATH_METHODS and owner not in ("tf.io.gfile", "self"):
        found.append((node.lineno, f"{owner}.{function.attr}"))
  return found


def test_no_module_touches_files_outside_tf_io_gfile():
  offenders = []
  for path in sorted(PACKAGE.rglob("*.py")):
    relative = path.relative_to(PACKAGE).as_posix()
    if relative in ALLOWED:
      continue
    for line, call in _file_calls(ast.parse(path.read_text())):
      offenders.append(f"{relative}:{line}: {call}")
  assert not offenders, "\n".join(offenders)


def test_the_check_finds_what_it_looks_for():
  source = ("import os, shutil\nopen('x')\nos.makedirs('d')\nos.path.exists('d')\n"
            "shutil.rmtree('d')\npathlib.Path('x').write_text('y')\ntf.io.gfile.exists('x')\n")
  assert [call for _, call in _file_calls(ast.parse(source))] == [
      "open", "os.makedirs", "os.path.exists", "shutil.rmtree", "pathlib.Path('x').write_text"]
