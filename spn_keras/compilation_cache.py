"""TensorFlow's persistent XLA compilation cache, kept under `$SPN_KERAS_HOME`.

Sampling runs one XLA-compiled program per stage (the cached sampler's slice step), and a
new process compiles each of them again: 16 `mnist28_mdu` digits spend most of a first call
compiling. TensorFlow can keep the compiled programs on disk
(`TF_XLA_FLAGS=--tf_xla_persistent_cache_directory=DIR`) and load them in later processes.
The command-line tools turn this on (`spn_keras.cli.launch`); in Python, call `enable()`
before the first XLA compilation (before the first `sample`), or set `TF_XLA_FLAGS` yourself.

The cache lives in `$SPN_KERAS_HOME/xla_cache/<machine>/`, one folder per CPU kind and
TensorFlow version (`machine_key`): TensorFlow's cache keys name the program and the device
type ("XLA_CPU_JIT") but not the CPU's instruction set, and a home folder may be shared by
machines with different CPUs. A cache entry is about 1.2 MB per program (3 for
`mnist28_mdu`). A `$SPN_KERAS_HOME` that is a bucket path (`gs://...`) gets no cache (XLA
writes local files); `SPN_KERAS_XLA_CACHE=0` turns it off, and a `TF_XLA_FLAGS` that already
names a cache folder is kept as it is.

This module imports nothing but the standard library: the tools call it before TensorFlow
starts.
"""

import hashlib
import importlib.metadata
import os
import platform

from spn_keras.home import spn_keras_home

FLAGS_VARIABLE = "TF_XLA_FLAGS"
CACHE_FLAG = "--tf_xla_persistent_cache_directory"
SWITCH_VARIABLE = "SPN_KERAS_XLA_CACHE"  # "0" turns the cache off
CACHE_FOLDER = "xla_cache"


def machine_key():
  """A short name for this machine's CPU kind and TensorFlow version, e.g.
  `x86_64-tf2.21.0-3f9c2a1b7d40`: the hash covers the CPU's model name and instruction-set
  flags (`/proc/cpuinfo`), which decide what code XLA generates."""
  cpu = platform.processor()
  try:
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
      lines = cpuinfo.read().split("\n\n")[0].splitlines()
    cpu = "\n".join(line for line in lines if line.startswith(("model name", "flags")))
  except OSError:
    pass
  try:
    tensorflow = importlib.metadata.version("tensorflow")
  except importlib.metadata.PackageNotFoundError:
    tensorflow = "unknown"
  digest = hashlib.sha256(cpu.encode()).hexdigest()[:12]
  return f"{platform.machine() or 'cpu'}-tf{tensorflow}-{digest}"


def cache_directory(environ=None):
  """The cache folder for this machine, or None when there is none to use.

  Args:
    environ: the environment (default `os.environ`).

  Returns:
    `$SPN_KERAS_HOME/xla_cache/<machine_key()>`; None when `SPN_KERAS_XLA_CACHE=0` or the
    home is not a local folder.
  """
  environ = os.environ if environ is None else environ
  home = spn_keras_home(environ)
  if environ.get(SWITCH_VARIABLE, "1") == "0" or "://" in home:
    return None
  return os.path.join(home, CACHE_FOLDER, machine_key())


def enable(environ=None):
  """Points TensorFlow's persistent XLA compilation cache at `cache_directory()`.

  Adds `--tf_xla_persistent_cache_directory=<folder>` to `TF_XLA_FLAGS` (creating the
  folder), unless the flags already name a cache folder or there is no folder to use.
  TensorFlow reads the flags at its first XLA compilation, so this works until then.

  Args:
    environ: the environment to change (default `os.environ`).

  Returns:
    The cache folder in use (the one the flags already named, or the new one), or None.
  """
  environ = os.environ if environ is None else environ
  flags = environ.get(FLAGS_VARIABLE, "")
  for flag in flags.split():
    if flag.startswith(CACHE_FLAG + "="):
      return flag.split("=", 1)[1] or None
  folder = cache_directory(environ)
  if folder is None:
    return None
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError:  # a read-only home: run without the cache
    return None
  environ[FLAGS_VARIABLE] = f"{flags} {CACHE_FLAG}={folder}".strip()
  return folder
