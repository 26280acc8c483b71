"""Test helpers for spn-keras layers and models (used by the package's own tests)."""

from spn_keras.testing.causality import assert_causal
from spn_keras.testing.causality import dependence
from spn_keras.testing.causality import grouped_feature_ranks
from spn_keras.testing.causality import raster_ranks
from spn_keras.testing.causality import subscale_ranks
from spn_keras.testing.layer_test import run_layer_test

__all__ = ["assert_causal", "dependence", "grouped_feature_ranks", "raster_ranks",
           "run_layer_test", "subscale_ranks"]
