"""What a compressed file records about the model and the machine that made it.

A file decodes only where the decoder computes bit-identical logits: the same model, and an
environment whose float rounding matches. The header records a fingerprint of the model and a
tag of the environment, so that a decode that fails can say why.
"""

import hashlib
import json
import os
import platform

import numpy as np
import tensorflow as tf

from spn_keras.codec.codec_header import ENVIRONMENT_TAG_BYTES
from spn_keras.codec.codec_header import MODEL_FINGERPRINT_BYTES
from spn_keras.version import __version__

# CPU features that change which kernels oneDNN, Eigen and numpy run (and so their rounding).
_CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                 "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8",
                 "asimd", "sve")


def _cpu_features():
  """The features of `_CPU_FEATURES` this CPU has (Linux's /proc/cpuinfo; else none)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
      text = cpuinfo.read()
  except OSError:
    return []
  flags = set()
  for line in text.splitlines():
    if line.startswith(("flags", "Features")):
      flags.update(line.split(":", 1)[1].split())
  return [feature for feature in _CPU_FEATURES if feature in flags]


def environment_description():
  """The software versions and CPU kind that decide the codec's float rounding, as text.

  The core count is part of it: kernels split their sums over the threads they run on.
  """
  return (f"spn-keras {__version__}, TensorFlow {tf.__version__}, numpy {np.__version__}, "
          f"{platform.machine()} CPU with "
          f"{' '.join(_cpu_features()) or 'no listed features'}, {os.cpu_count()} cores")


def environment_tag():
  """`ENVIRONMENT_TAG_BYTES` bytes of the SHA-256 of `environment_description()`."""
  digest = hashlib.sha256(environment_description().encode("utf-8")).digest()
  return digest[:ENVIRONMENT_TAG_BYTES]


def model_fingerprint(stages):
  """`MODEL_FINGERPRINT_BYTES` bytes of a SHA-256 over the stages' configs and weights.

  The Keras layer names are left out (a pipeline loaded twice in one process gets new ones).

  Args:
    stages: `{name: model}` in coding order.

  Returns:
    bytes.
  """
  digest = hashlib.sha256()
  for name, stage in stages.items():
    config = {key: value for key, value in stage.get_config().items() if key != "name"}
    digest.update(json.dumps([name, type(stage).__name__, config],
                             sort_keys=True, default=str).encode("utf-8"))
    for weight in stage.weights:
      digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
  return digest.digest()[:MODEL_FINGERPRINT_BYTES]
