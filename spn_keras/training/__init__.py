"""Training one stage: `Trainer`, a custom loop under any `tf.distribute` strategy with
checkpoints, TensorBoard and progress lines; `TrainerConfig`, how it trains; and
`get_strategy`, the strategies by name."""

from spn_keras.training.strategies import get_strategy
from spn_keras.training.strategies import STRATEGIES
from spn_keras.training.trainer import Trainer
from spn_keras.training.trainer_config import TrainerConfig

__all__ = ["STRATEGIES", "Trainer", "TrainerConfig", "get_strategy"]
