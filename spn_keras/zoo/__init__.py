"""The model zoo: the paper's pipelines by name (`list_models`, `get`, `register`, `load`)."""

from spn_keras.zoo.loading import load
from spn_keras.presets import spn_keras_home
from spn_keras.zoo.registry import get
from spn_keras.zoo.registry import list_models
from spn_keras.zoo.registry import register
from spn_keras.zoo.zoo_entry import ZooEntry

__all__ = ["ZooEntry", "get", "list_models", "load", "register", "spn_keras_home"]
