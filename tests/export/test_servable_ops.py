import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras import zoo
from spn_keras.cli import export as export_tool
from spn_keras.export.servable_ops import check_servable
from spn_keras.export.servable_ops import must_compile_functions
from spn_keras.export.servable_ops import xla_only_ops


def _save(tmp_path, name, fn, *specs):
  """Saves `fn` (a tf.function of `specs`) as the SavedModel `<tmp_path>/<name>`."""
  module = tf.Module()
  module.fn = fn
  folder = str(tmp_path / name)
  tf.saved_model.save(module, folder,
                      signatures={"serving_default": fn.get_concrete_function(*specs)})
  return folder


def _slice_update_model(tmp_path, jit_compile=False):
  """A SavedModel whose function writes a row with `keras.ops.slice_update` (TF backend)."""
  @tf.function(jit_compile=jit_compile)
  def write_row(buffer, row, index):
    return {"buffer": keras.ops.slice_update(buffer, (index, 0), row[None])}

  return _save(tmp_path, "slice_update", write_row, tf.TensorSpec([4, 3], tf.float32),
               tf.TensorSpec([3], tf.float32), tf.TensorSpec([], tf.int32))


def test_the_check_catches_xla_dynamic_update_slice(tmp_path):
  folder = _slice_update_model(tmp_path)
  found = xla_only_ops(folder)
  assert found and {op for _, op in found} == {"XlaDynamicUpdateSlice"}
  assert all(function.startswith("__inference_write_row") for function, _ in found)
  with pytest.raises(ValueError, match=r"XlaDynamicUpdateSlice.*__inference_write_row"
                                       r"(.|\n)*TF Serving"):
    check_servable(folder)


def test_the_check_catches_a_must_compile_function(tmp_path):
  @tf.function(jit_compile=True)
  def double(x):
    return {"y": 2.0 * x}

  folder = _save(tmp_path, "must_compile", double, tf.TensorSpec([None], tf.float32))
  assert xla_only_ops(folder) == []  # ordinary ops, but compiled by XLA
  assert any(name.startswith("__inference_double") for name in must_compile_functions(folder))
  with pytest.raises(ValueError, match=r"_XlaMustCompile(.|\n)*__inference_double"):
    check_servable(folder)


def test_a_plain_graph_passes(tmp_path):
  @tf.function
  def write_row(buffer, row, index):  # the same row write, with ordinary kernels
    return {"buffer": tf.tensor_scatter_nd_update(buffer, [[index]], row[None])}

  folder = _save(tmp_path, "plain", write_row, tf.TensorSpec([4, 3], tf.float32),
                 tf.TensorSpec([3], tf.float32), tf.TensorSpec([], tf.int32))
  assert xla_only_ops(folder) == [] and must_compile_functions(folder) == []
  check_servable(folder)
  out = tf.saved_model.load(folder).signatures["serving_default"](
      buffer=tf.zeros([4, 3]), row=tf.ones([3]), index=tf.constant(2))["buffer"]
  np.testing.assert_array_equal(out, [[0] * 3, [0] * 3, [1] * 3, [0] * 3])


def test_a_folder_without_a_saved_model_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="saved_model.pb"):
    check_servable(str(tmp_path))


def test_an_export_with_an_xla_only_op_fails_and_leaves_no_version(tmp_path, monkeypatch):
  """The exporter runs the check before the version folder is committed."""
  pipeline = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.5)
  # The Python sampler's default: `slice_update` compiled by XLA. Were the exporter to trace
  # that, the export would hold must-compile functions; the check refuses it.
  from spn_keras.export import common
  monkeypatch.setattr(common, "SERVED_SAMPLER", {"method": "cached", "jit_compile": True})
  with pytest.raises(ValueError, match="TF Serving"):
    pipeline.export(str(tmp_path / "tiny"), version=1)
  assert not (tmp_path / "tiny" / "1").exists()


def _export_passes(name, tmp_path):
  """`spn_export --zoo=<name>` writes a SavedModel that passes the check."""
  summary = export_tool.export(str(tmp_path / name), zoo_name=name)
  folder = summary["export"]
  assert pathlib.Path(folder, "saved_model.pb").exists()
  assert xla_only_ops(folder) == [] and must_compile_functions(folder) == []
  check_servable(folder)


@pytest.mark.slow  # 33 s; every export in the default suite runs the same check_servable
# (write_saved_model), and tests/test_readme_journeys.py exports mnist28_mdu too
def test_the_shipped_mnist28_mdu_export_passes(tmp_path):
  zoo.load("mnist28_mdu")  # the shipped weights are here (no network)
  _export_passes("mnist28_mdu", tmp_path)


@pytest.mark.slow  # 20-40 s; the default suite checks mnist28_mdu's export, of the same stages
@pytest.mark.parametrize("name", ["photos32_mdu", "photos128_mdu"])
def test_the_shipped_rgb_pipeline_export_passes(name, tmp_path):
  zoo.load(name)
  _export_passes(name, tmp_path)
