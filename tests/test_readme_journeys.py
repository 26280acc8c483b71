"""The README's command-line journeys run as written, from a folder that is not the checkout.

The shell blocks of the sections a new user follows ("Quick start", the tools in "What is
here", "Export for TF Serving", "Lossless compression") are extracted and run in order in one
temporary folder: train -> evaluate -> sample -> export -> compress -> decompress. Only what
cannot run here is changed or left out, each for a stated reason (`_SKIPPED`,
`_SUBSTITUTIONS`): a README edit that breaks a journey (a renamed flag, a wrong path, a step
that no longer follows from the one before) fails this test.

The tools are found on `PATH` as a user has them after `pip install -e .` (here as shims that
run `bin/<tool>` with this interpreter, so that the test does not depend on where pip put the
console scripts).
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.data import embedded

REPO = pathlib.Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TOOLS = ("spn_train", "spn_eval", "spn_sample", "spn_export", "spn_tune", "spn_compress",
         "spn_decompress")
SECTIONS = ("Quick start", "What is here", "Export for TF Serving", "Lossless compression")
# Commands that are not run, by their program: why.
_SKIPPED = {
    "pip": "the package is installed already",
    "python -m pytest": "the test suite itself",
    "tensorboard": "a server that runs until stopped",
    "docker": "no container runtime or TF Serving binary here",
    "curl": "needs the model server of the docker command",
    "python - <<": "a gRPC client of the model server",
}
# What a journey changes to run in minutes: (pattern, replacement, why).
_SUBSTITUTIONS = (
    (r"--train_steps=\d+", "--train_steps=2", "2 training steps prove the journey"),
)


def readme_commands(sections=SECTIONS):
  """The shell commands of the README's ```bash blocks in `sections`, in order.

  A command runs on until its quotes close (continued lines and multi-line quoted arguments
  are one command); a here-document is kept whole with its command; `a && b` is two
  commands. Comment lines are dropped; comments after a command stay (bash ignores them).

  Returns:
    list of `(section, command)`.
  """
  commands = []
  text = README.read_text()
  for section in sections:
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README has no section {section!r}"
    for block in re.findall(r"```bash\n(.*?)```", match.group(1), re.S):
      lines = iter(block.splitlines())
      for line in lines:
        if "<<'EOF'" in line:  # a here-document: the command and its lines up to EOF
          body = [line]
          for next_line in lines:
            body.append(next_line)
            if next_line.strip() == "EOF":
              break
          commands.append((section, "\n".join(body)))
          continue
        if line.lstrip().startswith("#"):
          continue
        while not _is_complete(line):
          line += "\n" + next(lines)
        commands.extend((section, part.strip()) for part in line.split(" && ") if part.strip())
  return commands


def _is_complete(command):
  """Whether a shell command's quotes are closed and its last line is not continued."""
  if command.endswith("\\"):
    return False
  try:
    shlex.split(command, comments=True)
  except ValueError:  # "No closing quotation"
    return False
  return True


def skip_reason(command):
  """Why a README command is not run here, or None when it runs."""
  for start, reason in _SKIPPED.items():
    if command.startswith(start):
      return reason
  return None


def test_readme_commands_are_extracted_and_name_the_tools():
  """What the slow journey runs: each tool the README's journeys use, in the journey's order,
  and nothing skipped without a reason."""
  commands = readme_commands()
  run = [command.split()[0] for _, command in commands if skip_reason(command) is None]
  order = [tool for tool in ("spn_sample", "spn_train", "spn_eval", "spn_export",
                             "spn_compress", "spn_decompress") if tool in run]
  assert order == ["spn_sample", "spn_train", "spn_eval", "spn_export", "spn_compress",
                   "spn_decompress"]
  assert {program for program in run if program.startswith("spn_")} <= set(TOOLS)
  skipped = {command.split()[0] for _, command in commands if skip_reason(command)}
  assert skipped == {"pip", "python", "tensorboard", "docker", "curl"}


def _digits(folder, count):
  """`count` test digits as `digit<i>.png` files in `folder` (the compression journey's input)."""
  digits = embedded.mnist5k_images("test")[:count]
  for i, digit in enumerate(digits):
    tf.io.write_file(str(folder / f"digit{i}.png"), tf.io.encode_png(digit))
  return digits


def _shims(folder):
  """A folder of `spn_*` commands that run `bin/<tool>` with this interpreter."""
  folder.mkdir()
  for tool in TOOLS:
    shim = folder / tool
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                    f"{shlex.quote(str(REPO / 'bin' / tool))} \"$@\"\n")
    shim.chmod(0o755)
  return folder


@pytest.mark.slow
def test_readme_journeys_run_as_written(tmp_path):
  work = tmp_path / "user"
  work.mkdir()
  digits = _digits(work, 3)
  environ = dict(os.environ)
  environ["PATH"] = f"{_shims(tmp_path / 'bin')}{os.pathsep}{environ['PATH']}"
  environ["SPN_KERAS_HOME"] = str(tmp_path / "home")
  environ.pop("PYTHONPATH", None)  # the installed package, as a user has it
  outputs = {}
  for section, command in readme_commands():
    if skip_reason(command):
      continue
    for pattern, replacement, _ in _SUBSTITUTIONS:
      command = re.sub(pattern, replacement, command)
    done = subprocess.run(["bash", "-c", command], cwd=work, env=environ, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, f"{section}: `{command}` failed:\n{done.stderr[-3000:]}"
    outputs[command.split()[0]] = done.stdout
  assert (work / "samples.png").is_file()
  assert (work / "my_mnist" / "pipeline.json").is_file()
  evaluation = json.loads(outputs["spn_eval"].strip().splitlines()[-1])
  assert evaluation["missing_stages"] == ["slice_decoder", "size_upscaler"]
  assert 0 < evaluation["bits_per_dim"]["depth_upscaler"] < 5
  assert list(work.glob("*/1/saved_model.pb")), "spn_export wrote no SavedModel here"
  assert json.loads((work / "images.json").read_text())["instances"]
  assert sorted(path.name for path in (work / "packed").iterdir()) == [
      "digit0.spn", "digit1.spn", "digit2.spn"]
  for i, digit in enumerate(digits):
    restored = tf.io.decode_png(tf.io.read_file(str(work / "restored" / f"digit{i}.png")))
    np.testing.assert_array_equal(restored.numpy(), digit)
