"""spn_export: a pipeline folder through the flags, one stage alone, existing versions.

The SavedModels themselves are checked in tests/export; here a one-stage pipeline (the
`pipeline_dir` fixture of conftest.py) keeps the exports fast.
"""

import json
import os
import sys

from absl import app
from absl import flags
import pytest

from spn_keras.cli import evaluate  # noqa: F401  (the tools' flags must coexist in one process)
from spn_keras.cli import export
from spn_keras.cli import sample  # noqa: F401

FLAGS = flags.FLAGS


def _main(argv):
  """Runs `spn_export` in this process with `argv` flags."""
  FLAGS(["spn_export"] + argv)
  try:
    export.main(["spn_export"])
  finally:
    FLAGS.unparse_flags()


def test_spn_export_writes_a_pipeline_folder_and_refuses_an_existing_version(
    pipeline_dir, tmp_path, capsys):
  output = str(tmp_path / "export")
  _main([f"--pipeline={pipeline_dir}", f"--output={output}", "--version=2"])
  summary = json.loads(capsys.readouterr().out)
  assert summary["export"] == os.path.join(output, "2")
  assert os.path.exists(os.path.join(output, "2", "saved_model.pb"))
  assert summary["signatures"] == ["log_prob", "sample", "serving_default"]
  assert summary["stages"] == ["slice_decoder"] and summary["metadata"]["name"] == "tiny"
  assert summary["warmup"] == os.path.join(output, "2", "assets.extra",
                                           "tf_serving_warmup_requests")
  assert os.path.getsize(summary["warmup"]) > 0
  with pytest.raises(app.UsageError, match="--overwrite"):
    _main([f"--pipeline={pipeline_dir}", f"--output={output}", "--version=2"])


def test_spn_export_exports_one_stage(pipeline_dir, tmp_path):
  summary = export.export(str(tmp_path / "stage"), pipeline_dir=pipeline_dir,
                          stage="slice_decoder")
  with open(os.path.join(summary["export"], "assets", "export.json")) as f:
    assert json.load(f)["kind"] == "stage"
  assert summary["stages"] == ["slice_decoder"] and summary["metadata"]["name"] == "tiny"
  assert summary["signatures"] == ["log_prob", "sample", "serving_default"]
  with pytest.raises(ValueError, match="`stage` must be one of"):
    export.export(str(tmp_path / "stage"), pipeline_dir=pipeline_dir, stage="size_upscaler")


def test_spn_export_needs_an_output_and_one_pipeline(pipeline_dir):
  with pytest.raises(app.UsageError, match="--output is required"):
    _main([f"--pipeline={pipeline_dir}"])
  with pytest.raises(app.UsageError, match="exactly one of --zoo"):
    _main(["--zoo=mnist28_mdu", f"--pipeline={pipeline_dir}", "--output=/tmp/unused"])


def test_an_output_that_is_a_file_is_refused_before_loading(pipeline_dir, tmp_path, monkeypatch):
  monkeypatch.setattr(export.common, "load_pipeline",
                      lambda *args: pytest.fail("loaded before checking --output"))
  target = tmp_path / "target"
  target.write_text("mine")
  with pytest.raises(ValueError, match="--output: `.*target` is a file"):
    export.export(str(target), pipeline_dir=pipeline_dir)
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "1").write_text("mine too")
  with pytest.raises(ValueError, match="--output: `.*out/1` is a file"):
    export.export(str(tmp_path / "out"), pipeline_dir=pipeline_dir)
  assert target.read_text() == "mine" and (tmp_path / "out" / "1").read_text() == "mine too"


def test_nowarmup_leaves_out_the_warmup_records(pipeline_dir, tmp_path, capsys):
  output = str(tmp_path / "export")
  _main([f"--pipeline={pipeline_dir}", f"--output={output}", "--nowarmup"])
  summary = json.loads(capsys.readouterr().out)
  assert summary["warmup"] is None
  assert os.path.exists(os.path.join(output, "1", "saved_model.pb"))
  assert not os.path.exists(os.path.join(output, "1", "assets.extra"))


def test_warmup_without_tensorflow_serving_api_is_a_usage_error_before_loading(
    pipeline_dir, tmp_path, monkeypatch):
  monkeypatch.setattr(export.common, "load_pipeline",
                      lambda *args: pytest.fail("loaded before checking the serving protos"))
  for name in [name for name in sys.modules if name.startswith("tensorflow_serving.")]:
    monkeypatch.setitem(sys.modules, name, None)
  monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
  with pytest.raises(app.UsageError, match=r"install the `serving` extra.*--nowarmup"):
    _main([f"--pipeline={pipeline_dir}", f"--output={tmp_path / 'export'}"])
  assert not os.path.exists(tmp_path / "export")
