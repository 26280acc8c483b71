"""The model zoo's registry: `register`, `list_models`, `get`.

Built-in entries (`entries.builtin_entries`) are added the first time the registry is read;
importing a module registers nothing. Users add their own with `register`.
"""

from spn_keras.presets import pretrained_folder
from spn_keras.zoo import entries
from spn_keras.zoo.zoo_entry import ZooEntry

_REGISTRY = {}


def _registry():
  if not _REGISTRY:
    for entry in entries.builtin_entries():
      _REGISTRY[entry.name] = entry
  return _REGISTRY


def register(entry, overwrite=False):
  """Adds a `ZooEntry` under its name (refusing to replace one unless `overwrite`)."""
  if not isinstance(entry, ZooEntry):
    raise TypeError(f"`entry` must be a ZooEntry, got {type(entry).__name__}.")
  registry = _registry()
  if entry.name in registry and not overwrite:
    raise ValueError(f"A zoo entry named {entry.name!r} exists; pass overwrite=True.")
  registry[entry.name] = entry
  return entry


def list_models(pretrained=False):
  """Names of the registered entries, in registration order.

  Args:
    pretrained: only the names with trained weights (in `$SPN_KERAS_HOME/<name>` or shipped
      with the package): those `load(name)` and `from_preset` load.
  """
  names = list(_registry())
  return [name for name in names if pretrained_folder(name) is not None] if pretrained else names


def get(name):
  """The `ZooEntry` registered as `name`."""
  registry = _registry()
  if name not in registry:
    raise ValueError(f"Unknown zoo name {name!r}; registered: {', '.join(registry)}.")
  return registry[name]
