"""TF Serving's warm-up records: written by the exports, parsed back and run as the server would.

The server reads `assets.extra/tf_serving_warmup_requests` as a TFRecord file of
`PredictionLog`s and runs each `PredictRequest` against the loaded signature; here the
records are read back with `tf.data` and run against `tf.saved_model.load`'s signatures.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from spn_keras import testing
from spn_keras.export import StageExporter
from spn_keras.export import warmup_requests
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork


@pytest.fixture(scope="module")
def pipeline():
  """MDU of 4x4 gray 8-bit images (see tests/export/test_pipeline_exporter.py)."""
  return testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.5)


def _requests(folder):
  """The `PredictRequest`s of a version folder's warm-up file, in file order."""
  path = os.path.join(folder, warmup_requests.WARMUP_FILE)
  logs = [prediction_log_pb2.PredictionLog.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(path)]
  assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
  return [log.predict_log.request for log in logs]


def _run_all(folder):
  """Runs every warm-up request against the loaded SavedModel; `{signature: outputs}`."""
  loaded = tf.saved_model.load(folder)
  outputs = {}
  for request in _requests(folder):
    name = request.model_spec.signature_name
    assert name not in outputs, f"two warm-up records for `{name}`"
    arguments = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in
                 request.inputs.items()}
    outputs[name] = {key: value.numpy() for key, value in
                     loaded.signatures[name](**arguments).items()}
  return outputs


def test_pipeline_export_writes_warmup_records_that_run_on_every_signature(pipeline, tmp_path):
  folder = pipeline.export(str(tmp_path / "export"), version=2)
  outputs = _run_all(folder)
  assert set(outputs) == {"log_prob", "sample", "upscale", "upscale_depth"}
  assert set(outputs["log_prob"]) == {f"{stage}_{unit}" for unit in ("bits_per_dim", "nats")
                                      for stage in (*pipeline.stages, "total")}
  for value in outputs["log_prob"].values():
    assert value.dtype == np.float32 and value.shape == (1,) and np.isfinite(value).all()
  for name in ("sample", "upscale", "upscale_depth"):
    images = outputs[name]["images"]
    assert images.dtype == np.uint8 and images.shape == (1, 4, 4, 1), name
  requests = {request.model_spec.signature_name: request for request in _requests(folder)}
  assert tf.make_ndarray(requests["upscale"].inputs["images"]).shape == (1, 2, 2, 1)
  assert tf.make_ndarray(requests["sample"].inputs["num_images"]) == 1


def test_stage_export_writes_warmup_records_with_conditioning(tmp_path):
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=2, bits=1, conditioning_bits=2))
  folder = StageExporter(model, "depth_upscaler").export(str(tmp_path / "stage"))
  outputs = _run_all(folder)
  assert set(outputs) == {"log_prob", "sample"}
  assert outputs["log_prob"]["bits_per_dim"].shape == (1,)
  assert outputs["sample"]["images"].dtype == np.uint8
  assert outputs["sample"]["images"].shape == (1,) + model.image_shape


def test_warmup_false_writes_no_records(tmp_path):
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=2, bits=1, conditioning_bits=2))
  folder = StageExporter(model).export(str(tmp_path / "stage"), warmup=False)
  assert os.path.exists(os.path.join(folder, "saved_model.pb"))
  assert not os.path.exists(os.path.join(folder, "assets.extra"))


def test_without_tensorflow_serving_api_the_export_says_what_to_install(pipeline, tmp_path,
                                                                        monkeypatch):
  for name in [name for name in sys.modules if name.startswith("tensorflow_serving.")]:
    monkeypatch.setitem(sys.modules, name, None)
  monkeypatch.setitem(sys.modules, "tensorflow_serving", None)
  with pytest.raises(ImportError, match=r'install the `serving` extra .*pip install -e '
                                        r'"\.\[serving\]".* or pass warmup=False'):
    pipeline.export(str(tmp_path / "export"))
  assert not os.path.exists(tmp_path / "export" / "1")


def test_example_inputs_have_a_batch_of_one():
  inputs = warmup_requests.example_inputs([
      tf.TensorSpec([None, 4, 4, 1], tf.uint8, name="images"),
      tf.TensorSpec([], tf.int32, name="num_images"),
      tf.TensorSpec([2], tf.float32, name="temperatures"),
      tf.TensorSpec([], tf.int64, name="seed")])
  assert inputs["images"].shape == (1, 4, 4, 1) and inputs["images"].dtype == np.uint8
  assert not inputs["images"].any()
  assert inputs["num_images"] == 1 and inputs["num_images"].dtype == np.int32
  np.testing.assert_array_equal(inputs["temperatures"], np.ones(2, np.float32))
  assert inputs["seed"] == 0 and inputs["seed"].dtype == np.int64
