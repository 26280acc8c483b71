"""The README's Python examples run as written, and its figures are the recorded ones."""

import json
import pathlib
import re
import warnings

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run_without_warnings(tmp_path, monkeypatch):
  """Every ```python block runs as written from a folder that is not the checkout, and
  neither Keras nor this package warns (e.g. Keras's "shuffle=True ... will be ignored" for
  a `fit` on a dataset)."""
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
  assert blocks, "the README has no Python example"
  monkeypatch.chdir(tmp_path)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for block in blocks:
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
