"""spn-keras: Subscale Pixel Networks and Multidimensional Upscaling in Keras 3.

Public modules: `spn_keras.layers`, `spn_keras.ops`, `spn_keras.testing`.
"""

from spn_keras import layers
from spn_keras import ops
from spn_keras.version import __version__

__all__ = ["layers", "ops", "__version__"]
