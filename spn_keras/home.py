"""The package's home folder, `$SPN_KERAS_HOME` (default `~/.spn_keras`).

It holds user-trained pipelines (`$SPN_KERAS_HOME/<name>`, looked for before the shipped ones:
`spn_keras.presets`) and the command-line tools' XLA compilation cache
(`spn_keras.compilation_cache`). This module imports nothing but the standard library, so that
the tools can read it before TensorFlow starts.
"""

import os

HOME_VARIABLE = "SPN_KERAS_HOME"


def spn_keras_home(environ=None):
  """`$SPN_KERAS_HOME` (a local folder or a bucket path), default `~/.spn_keras` (also when the
  variable is empty).

  Args:
    environ: the environment to read (default `os.environ`).

  Returns:
    str, with `~` expanded.
  """
  environ = os.environ if environ is None else environ
  return os.path.expanduser(environ.get(HOME_VARIABLE) or "~/.spn_keras")
