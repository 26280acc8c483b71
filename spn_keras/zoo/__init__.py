"""The model zoo: the paper's pipelines by name (`list_models`, `get`, `register`)."""

from spn_keras.zoo.registry import get
from spn_keras.zoo.registry import list_models
from spn_keras.zoo.registry import register
from spn_keras.zoo.zoo_entry import ZooEntry

__all__ = ["ZooEntry", "get", "list_models", "register"]
