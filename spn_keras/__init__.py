"""spn-keras: Subscale Pixel Networks and Multidimensional Upscaling in Keras 3.

Public modules: `spn_keras.layers`, `spn_keras.models`, `spn_keras.pipelines`,
`spn_keras.sampling`, `spn_keras.data`, `spn_keras.training`, `spn_keras.zoo`,
`spn_keras.ops`, `spn_keras.export`, and `spn_keras.testing` (imported on demand: it is for
tests).
"""

from spn_keras import data
from spn_keras import export
from spn_keras import layers
from spn_keras import models
from spn_keras import ops
from spn_keras import pipelines
from spn_keras import sampling
from spn_keras import training
from spn_keras import zoo
from spn_keras.version import __version__

__all__ = ["data", "export", "layers", "models", "ops", "pipelines", "sampling", "training", "zoo",
           "__version__"]
