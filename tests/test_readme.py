"""The README's Python examples run as written, and its figures are the recorded ones."""

import json
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_python_examples_run():
  blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
  assert blocks, "the README has no Python example"
  for block in blocks:
    exec(compile(block, str(README), "exec"), {})


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
