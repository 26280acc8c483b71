"""Training: a custom loop under any `tf.distribute` strategy, with checkpoints and TensorBoard."""

from spn_keras.training.strategies import get_strategy
from spn_keras.training.strategies import STRATEGIES
from spn_keras.training.trainer import Trainer
from spn_keras.training.trainer import TrainerConfig

__all__ = ["STRATEGIES", "Trainer", "TrainerConfig", "get_strategy"]
