import numpy as np
import tensorflow as tf

from spn_keras import testing
from spn_keras.codec import environment
from spn_keras.version import __version__


def test_fingerprint_follows_weights_and_configs_not_layer_names(tmp_path):
  pipeline = testing.tiny_mdu_pipeline(4, stddev=0.3)
  fingerprint = environment.model_fingerprint(pipeline.stages)
  assert len(fingerprint) == 4
  pipeline.save(str(tmp_path / "tiny"))
  for _ in range(2):  # loaded twice: the second load's Keras layer names differ
    reloaded = type(pipeline).load(str(tmp_path / "tiny"))
    assert environment.model_fingerprint(reloaded.stages) == fingerprint
  weights = reloaded.depth_upscaler.get_weights()
  weights[0] = weights[0] + 1e-6
  reloaded.depth_upscaler.set_weights(weights)
  assert environment.model_fingerprint(reloaded.stages) != fingerprint
  other = testing.tiny_mdu_pipeline(4, low_bits=2, high_bits=6, stddev=0.3)
  assert environment.model_fingerprint(other.stages) != fingerprint


def test_environment_names_the_versions_and_has_a_short_tag():
  description = environment.environment_description()
  assert f"spn-keras {__version__}" in description
  assert f"TensorFlow {tf.__version__}" in description
  assert f"numpy {np.__version__}" in description
  assert environment.environment_tag() == environment.environment_tag()
  assert len(environment.environment_tag()) == 2
