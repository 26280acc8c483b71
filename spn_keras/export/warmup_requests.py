"""TF Serving's warm-up records: one small `PredictionLog` per signature of an export.

TF Serving replays `<version>/assets.extra/tf_serving_warmup_requests` (a TFRecord file of
`tensorflow.serving.PredictionLog`s) when it loads a version, before the version serves: the first
real request then finds the signatures' graphs initialized and their kernels created, instead of
paying for it. A record that fails stops the version from loading, so every record must run
(tests/export/test_warmup_requests.py runs them). The records are built from the signatures' input
signatures alone (nothing is traced): every input gets a batch of 1 (`num_images` 1), zero images,
temperatures of 1 and seed 0; the exporter gives the inputs whose size the signature leaves open
(the number of temperatures).

The protos come from `tensorflow-serving-api`, the optional `serving` extra of the package
(`pip install -e ".[serving]"`).
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

# Where TF Serving looks for the records, relative to the version folder.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


def serving_protos():
  """TF Serving's request protos, from tensorflow-serving-api (the `serving` extra).

  Returns:
    `(predict_pb2, prediction_log_pb2)`, the modules of `tensorflow_serving.apis`.

  Raises:
    ImportError: tensorflow-serving-api is not installed; the message says to install the
      `serving` extra or to export with `warmup=False` (`spn_export --nowarmup`).
  """
  try:
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_log_pb2
  except ImportError as error:
    raise ImportError(
        "Writing TF Serving's warm-up records (`warmup=True`, spn_export --warmup) needs "
        "tensorflow-serving-api: install the `serving` extra (`pip install -e \".[serving]\"` "
        "or `pip install \"spn-keras[serving]\"`), or pass warmup=False (spn_export "
        f"--nowarmup) to export without them. ({error})") from error
  return predict_pb2, prediction_log_pb2


def example_inputs(input_signature):
  """A small request for a signature: its inputs with a batch of 1.

  Args:
    input_signature: the signature's `tf.TensorSpec`s, each named after its input.

  Returns:
    `{input name: numpy array}`: dimensions of unknown size are 1; uint8 inputs (images,
    conditioning) are zeros, `num_images` is 1, other integers (the seed) are 0, and floats
    (temperatures) are 1.
  """
  inputs = {}
  for spec in input_signature:
    shape = [1 if size is None else size for size in spec.shape]
    dtype = spec.dtype.as_numpy_dtype
    one = spec.dtype.is_floating or spec.name == "num_images"
    inputs[spec.name] = (np.ones if one else np.zeros)(shape, dtype)
  return inputs


def prediction_logs(functions, inputs=None):
  """One `PredictionLog` per signature, holding a `PredictRequest` of `example_inputs`.

  Args:
    functions: `{signature name: tf.function with an input_signature}` (an exporter's
      `functions()`); `serving_default` is not needed (it is one of the others).
    inputs: `{signature name: {input name: numpy array}}`, values that replace those of
      `example_inputs` (inputs of open size, such as `temperatures (None,)`); None for none.

  Returns:
    list of `tensorflow.serving.PredictionLog`, in the order of `functions`; each request's
    `model_spec.signature_name` is its signature (the model name is left empty: TF Serving
    replays the records on the version it loads, whatever it is served as).

  Raises:
    ImportError: tensorflow-serving-api is not installed (the message says what to do).
  """
  predict_pb2, prediction_log_pb2 = serving_protos()
  logs = []
  for name, function in functions.items():
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = name
    values = {**example_inputs(function.input_signature), **(inputs or {}).get(name, {})}
    for input_name, value in values.items():
      request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
    logs.append(prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)))
  return logs


def warmup_file(functions, inputs=None):
  """The warm-up file of an export, for `write_saved_model(..., extra_files=...)`.

  Args:
    functions: `{signature name: tf.function with an input_signature}`.
    inputs: `{signature name: {input name: numpy array}}` replacing `example_inputs`' values.

  Returns:
    `{WARMUP_FILE: bytes}`: the TFRecord file (`tf.io.TFRecordWriter`) of `prediction_logs`.

  Raises:
    ImportError: tensorflow-serving-api is not installed (the message says what to do).
  """
  logs = prediction_logs(functions, inputs)
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "records")
    with tf.io.TFRecordWriter(path) as writer:
      for log in logs:
        writer.write(log.SerializeToString())
    with tf.io.gfile.GFile(path, "rb") as f:
      return {WARMUP_FILE: f.read()}
