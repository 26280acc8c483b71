"""Test helpers for spn-keras layers and models (used by the package's own tests)."""

from spn_keras.testing.causality import assert_causal
from spn_keras.testing.causality import dependence
from spn_keras.testing.causality import grouped_feature_ranks
from spn_keras.testing.causality import raster_ranks
from spn_keras.testing.causality import subscale_ranks
from spn_keras.testing.layer_test import run_layer_test
from spn_keras.testing.normalization import all_images
from spn_keras.testing.normalization import randomize_weights
from spn_keras.testing.normalization import total_probability
from spn_keras.testing.tiny_pipelines import MINIMAL_DECODER
from spn_keras.testing.tiny_pipelines import MINIMAL_SPN
from spn_keras.testing.tiny_pipelines import tiny_mdu_pipeline

__all__ = ["MINIMAL_DECODER", "MINIMAL_SPN", "all_images", "assert_causal", "dependence",
           "grouped_feature_ranks", "randomize_weights", "raster_ranks", "run_layer_test",
           "subscale_ranks", "tiny_mdu_pipeline", "total_probability"]
