"""spn-keras: Subscale Pixel Networks and Multidimensional Upscaling in Keras 3.

Public modules: `spn_keras.layers`, `spn_keras.models`, `spn_keras.pipelines`, `spn_keras.codec`,
`spn_keras.sampling`, `spn_keras.data`, `spn_keras.training`, `spn_keras.zoo`,
`spn_keras.ops`, `spn_keras.export`, and `spn_keras.testing` (imported on demand: it is for
tests).

Beside them: the command-line tools (`spn_keras.cli`), the stored pipelines' folders
(`spn_keras.presets`), and modules that the packages share: argument checks, JSON configs,
the home folder, XLA's compilation cache, image grids (`visualization`) and the version.

The modules are imported on first use (`spn_keras.zoo` imports TensorFlow then), so that the
command-line tools can set TensorFlow's log level before TensorFlow starts
(`spn_keras.cli.launch`).
"""

import importlib

from spn_keras.version import __version__

__all__ = ["codec", "data", "export", "layers", "models", "ops", "pipelines", "sampling",
           "training", "zoo", "__version__"]


def __getattr__(name):
  """Imports the public module `name` on first access (PEP 562)."""
  if name in __all__:
    return importlib.import_module(f"spn_keras.{name}")
  raise AttributeError(f"module 'spn_keras' has no attribute {name!r}")


def __dir__():
  return sorted(__all__)
