import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from spn_keras import testing
from spn_keras.export import PipelineExporter
from spn_keras.export.servable_ops import must_compile_functions
from spn_keras.export.servable_ops import xla_only_ops
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline

RUN_SIGNATURES = pathlib.Path(__file__).resolve().parent / "run_signatures.py"
TEMPERATURES = (0.99, 1.0, 1.0)
SEED = 5

# One worker runs this module: its tests share one export and one loaded copy of it.
pytestmark = pytest.mark.xdist_group("pipeline_exporter")


def _tool(name):
  """A console script installed next to this Python (`saved_model_cli` comes with TF)."""
  path = pathlib.Path(sys.executable).parent / name
  if not path.exists():
    pytest.fail(f"`{name}` is not installed next to {sys.executable}; it comes with tensorflow.")
  return str(path)


def _run(command):
  result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
  return result.stdout


@pytest.fixture(scope="module")
def pipeline():
  """Multidimensional upscaling of 4x4 gray 8-bit images: 3 bits on 2x2 slices, then 5.

  The depth upscaler has one slice (`scale=1`): a smaller graph, a faster test.
  """
  pipeline = testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.5)
  pipeline.metadata = {"name": "tiny_mdu", "dataset": "mnist5k"}
  return pipeline


@pytest.fixture(scope="module")
def exported(pipeline, tmp_path_factory):
  base = tmp_path_factory.mktemp("export") / "tiny_mdu"
  return pipeline.export(str(base), version=3, metadata={"note": "test"})


@pytest.fixture(scope="module")
def loaded(exported):
  """The export loaded once for the tests that call its signatures (each load restores and
  instantiates every signature's functions: seconds)."""
  return tf.saved_model.load(exported)


@pytest.fixture(scope="module")
def images():
  return np.random.default_rng(0).integers(0, 256, (5, 4, 4, 1), np.uint8)


def test_export_has_tf_serving_layout_and_metadata_assets(pipeline, exported):
  assert os.path.basename(exported) == "3"
  assert os.path.exists(os.path.join(exported, "saved_model.pb"))
  assets = os.path.join(exported, "assets")
  with open(os.path.join(assets, "export.json")) as f:
    info = json.load(f)
  assert info["name"] == "tiny_mdu" and info["kind"] == "pipeline"
  assert info["metadata"] == {"name": "tiny_mdu", "dataset": "mnist5k", "note": "test"}
  assert info["stages"] == ["slice_decoder", "size_upscaler", "depth_upscaler"]
  assert info["spn_keras_version"] and info["image_shape"] == [4, 4, 1] and info["bits"] == 8
  with open(os.path.join(assets, "depth_upscaler.config.json")) as f:
    spec = json.load(f)
  assert spec["class"] == "SubscalePixelNetwork"
  assert SPNConfig.from_dict(spec["config"]) == pipeline.depth_upscaler.config


def test_fresh_process_without_spn_keras_gives_the_same_figures_and_samples(
    pipeline, exported, images, tmp_path):
  inputs = {"log_prob/images": images, "sample/num_images": np.int32(3),
            "upscale/images": images[:, ::2, ::2], "upscale_depth/images": images}
  # One temperature per stage each signature runs: all three, size + depth, depth.
  for signature, temperatures in (("sample", TEMPERATURES), ("upscale", TEMPERATURES[1:]),
                                  ("upscale_depth", TEMPERATURES[2:])):
    inputs[f"{signature}/temperatures"] = np.array(temperatures, np.float32)
    inputs[f"{signature}/seed"] = np.int64(SEED)
  np.savez(tmp_path / "inputs.npz", **inputs)
  _run([sys.executable, str(RUN_SIGNATURES), exported, str(tmp_path / "inputs.npz"),
        str(tmp_path / "outputs.npz")])
  outputs = np.load(tmp_path / "outputs.npz")

  bits, nats = pipeline.bits_per_dim(images), pipeline.log_prob(images)
  for name in ("slice_decoder", "size_upscaler", "depth_upscaler", "total"):
    np.testing.assert_allclose(outputs[f"log_prob/{name}_bits_per_dim"], bits[name], atol=1e-5)
    np.testing.assert_allclose(outputs[f"log_prob/{name}_nats"], nats[name], rtol=1e-5)
  samples = outputs["sample/images"]
  assert samples.dtype == np.uint8 and samples.shape == (3, 4, 4, 1)
  np.testing.assert_array_equal(samples, pipeline.sample(3, TEMPERATURES, seed=SEED))
  np.testing.assert_array_equal(
      outputs["upscale/images"], pipeline.upscale(images[:, ::2, ::2], temperatures=TEMPERATURES,
                                                  seed=SEED))
  np.testing.assert_array_equal(
      outputs["upscale_depth/images"], pipeline.upscale(images, temperatures=TEMPERATURES,
                                                        seed=SEED))
  assert json.loads(str(outputs["export.json"]))["name"] == "tiny_mdu"


def test_sample_signature_runs_the_cached_sampler_without_xla(exported):
  """The served `sample` runs each slice as the cached sampler's program, not compiled by XLA
  (which TF Serving supports only experimentally)."""
  saved = saved_model_pb2.SavedModel()
  saved.ParseFromString(pathlib.Path(exported, "saved_model.pb").read_bytes())
  library = saved.meta_graphs[0].graph_def.library.function
  slice_programs = [f for f in library
                    if re.fullmatch(r"__inference__sample_slice_\d+", f.signature.name)]
  assert len(slice_programs) >= 3  # one per stage at least
  # No must-compile function and no op that needs XLA (the exporter's own check).
  assert xla_only_ops(exported) == [] and must_compile_functions(exported) == []


@pytest.mark.slow  # two more processes that import TensorFlow: about 20 s
def test_saved_model_cli_shows_the_signatures_and_runs_log_prob(pipeline, exported, images,
                                                                tmp_path):
  shown = _run([_tool("saved_model_cli"), "show", "--dir", exported, "--all"])
  for signature in ("log_prob", "sample", "upscale", "upscale_depth", "serving_default"):
    assert f"signature_def['{signature}']" in shown
  assert "dtype: DT_UINT8" in shown and "name: sample_num_images:0" in shown

  np.save(tmp_path / "images.npy", images)
  _run([_tool("saved_model_cli"), "run", "--dir", exported, "--tag_set", "serve",
        "--signature_def", "log_prob", "--inputs", f"images={tmp_path / 'images.npy'}",
        "--outdir", str(tmp_path / "out")])
  np.testing.assert_allclose(np.load(tmp_path / "out" / "total_bits_per_dim.npy"),
                             pipeline.bits_per_dim(images)["total"], atol=1e-5)

  # --input_exprs, as a user types it (a Python literal; the session casts it to uint8).
  typed = (np.arange(32).reshape(2, 4, 4, 1) * 7 % 256).astype(np.uint8)
  _run([_tool("saved_model_cli"), "run", "--dir", exported, "--tag_set", "serve",
        "--signature_def", "log_prob", "--input_exprs", f"images={typed.tolist()}",
        "--outdir", str(tmp_path / "exprs")])
  np.testing.assert_allclose(np.load(tmp_path / "exprs" / "total_bits_per_dim.npy"),
                             pipeline.bits_per_dim(typed)["total"], atol=1e-5)

  # In a TF1 session (the way TF Serving's C++ loader runs a signature) a wrong number of
  # temperatures fails with the signature's message.
  refused = subprocess.run(
      [_tool("saved_model_cli"), "run", "--dir", exported, "--tag_set", "serve",
       "--signature_def", "upscale_depth", "--input_exprs",
       f"images={np.zeros((1, 4, 4, 1), int).tolist()};temperatures=[1.0, 1.0, 1.0];seed=0",
       "--outdir", str(tmp_path / "refused")],
      capture_output=True, text=True, timeout=300,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert refused.returncode != 0
  assert "`temperatures` must hold 1 value, one per stage this signature runs" in refused.stderr


@pytest.mark.parametrize("signature, arguments, message", [
    ("upscale", dict(temperatures=[0.99, 1.0, 1.0]),
     r"`temperatures` must hold 2 values, one per stage this signature runs \(size_upscaler, "
     r"depth_upscaler\)"),
    ("upscale_depth", dict(temperatures=[]),
     r"`temperatures` must hold 1 value, one per stage this signature runs \(depth_upscaler\)"),
    ("sample", dict(temperatures=[1.0, 0.0, 1.0]), "`temperatures` must be positive finite"),
    ("sample", dict(temperatures=[1.0, float("nan"), 1.0]), "must be positive finite"),
    ("sample", dict(num_images=0), "`num_images` must be positive"),
    ("upscale", dict(seed=-1), "`seed` must be at least 0"),
])
def test_bad_inputs_fail_with_a_message_naming_the_input(loaded, images, signature, arguments,
                                                         message):
  """What TF Serving would answer: the signature's own checks, one readable line (the input's
  values are not dumped)."""
  inputs = {"sample": dict(num_images=2, temperatures=list(TEMPERATURES)),
            "upscale": dict(images=images[:, ::2, ::2], temperatures=[1.0, 1.0]),
            "upscale_depth": dict(images=images, temperatures=[1.0])}[signature]
  inputs = {**inputs, "seed": 0, **arguments}
  function = loaded.signatures[signature]
  with pytest.raises(tf.errors.InvalidArgumentError, match=message) as error:
    function(**{name: tf.constant(value, function.structured_input_signature[1][name].dtype)
                for name, value in inputs.items()})
  failed = [line for line in error.value.message.splitlines() if "assertion failed" in line]
  assert len(failed) == 1 and len(failed[0]) < 200, error.value.message


def test_predict_request_runs_against_the_loaded_signature(pipeline, loaded, images):
  try:
    from tensorflow_serving.apis import predict_pb2
  except ImportError:
    pytest.fail("tensorflow-serving-api is not installed; `pip install -e \".[test]\"` "
                "installs it (tensorflow-serving-api>=2.21, which keeps tensorflow 2.21).")
  request = predict_pb2.PredictRequest()
  request.model_spec.name = "tiny_mdu"
  request.model_spec.signature_name = "log_prob"
  request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
  request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # the wire

  # What the model server does with it: look up the signature, convert the tensor protos.
  signature = loaded.signatures[request.model_spec.signature_name]
  arguments = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in
               request.inputs.items()}
  response = predict_pb2.PredictResponse()
  for name, value in signature(**arguments).items():
    response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
  response = predict_pb2.PredictResponse.FromString(response.SerializeToString())

  expected = pipeline.bits_per_dim(images)
  assert set(response.outputs) == {f"{name}_{unit}" for name in expected
                                   for unit in ("bits_per_dim", "nats")}
  for name, value in expected.items():
    np.testing.assert_allclose(tf.make_ndarray(response.outputs[f"{name}_bits_per_dim"]), value,
                               atol=1e-5)


def test_an_existing_version_is_refused_before_tracing(pipeline, exported):
  exporter = PipelineExporter(pipeline)
  with pytest.raises(FileExistsError, match="overwrite=True"):
    exporter.export(os.path.dirname(exported), version=3)
  with pytest.raises(ValueError, match="`version` must be a positive int"):
    exporter.export(os.path.dirname(exported), version=0)


def test_signatures_follow_the_stages_of_the_pipeline():
  decoder = SliceDecoder(SliceDecoderConfig.tiny(image_size=2, bits=2))
  assert set(PipelineExporter(Pipeline(slice_decoder=decoder)).functions()) == {
      "log_prob", "sample"}
  depth = SubscalePixelNetwork(SPNConfig.tiny(image_size=2, bits=1, conditioning_bits=2))
  functions = PipelineExporter(Pipeline(slice_decoder=decoder, depth_upscaler=depth)).functions()
  assert set(functions) == {"log_prob", "sample", "upscale"}
  assert functions["upscale"].input_signature[0].shape == (None, 2, 2, 1)
