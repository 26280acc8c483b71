"""The README's Python examples run as written, and its figures are the recorded ones."""

import json
import pathlib
import re
import warnings

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_examples():
  assert PYTHON_BLOCKS, "the README has no Python example"


@pytest.mark.slow  # 17-56 s each (the shipped pipelines' XLA programs, a `fit`)
@pytest.mark.parametrize("block", PYTHON_BLOCKS,
                         ids=[f"example{i}" for i in range(len(PYTHON_BLOCKS))])
def test_readme_python_example_runs_without_warnings(block, tmp_path, monkeypatch):
  """Each ```python block runs as written (each in fresh globals: they are independent) from
  a folder that is not the checkout, and neither Keras nor this package warns (e.g. Keras's
  "shuffle=True ... will be ignored" for a `fit` on a dataset). One test per block, so that
  the test workers share them. Slow: the default suite checks the same calls on tiny
  pipelines and the shipped ones in tests/zoo/test_zoo.py."""
  monkeypatch.chdir(tmp_path)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exec(compile(block, str(README), "exec"), {})
  ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
          if re.search(r"[/\\](keras|spn_keras)[/\\]|README", w.filename)]
  assert not ours, ours


def test_readme_pretrained_table_matches_the_recorded_figures(repo_zoo):
  # Rows of the "Pretrained pipelines" table: | `name` | data | slice | size | depth | total |
  rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| \*\*([\d.]+)\*\* \|",
                    README.read_text(), re.M)
  folder, shipped = repo_zoo
  assert sorted(name for name, *_ in rows) == shipped
  for name, *figures in rows:
    metadata = json.loads((folder / name / "pipeline.json").read_text())["metadata"]
    recorded = [metadata[f"{stage}_test_bits_per_dim"] for stage in
                ("slice_decoder", "size_upscaler", "depth_upscaler")] + [
                    metadata["test_bits_per_dim"]]
    assert [float(figure) for figure in figures] == [round(value, 3) for value in recorded], name
