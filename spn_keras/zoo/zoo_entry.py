"""`ZooEntry`: a named pipeline architecture, the data it is for, and how to train it."""

import dataclasses

from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline


@dataclasses.dataclass(frozen=True)
class ZooEntry:
  """A registered pipeline (timm-style registry entry; vit_jax-style config).

  Attributes:
    name: registry name, e.g. "imagenet128_mdu".
    description: one line: the paper setting and what the stages do.
    dataset: the `spn_keras.data.make_dataset` spec it is trained and evaluated on.
    stages: `{stage name: SliceDecoderConfig or SPNConfig}` for "slice_decoder",
      "size_upscaler" and/or "depth_upscaler".
    batch_size: global training batch size (Table 4 for the paper's entries).
    learning_rate: initial learning rate.
    learning_rate_boundaries: steps at which the rate changes (piecewise constant).
    learning_rate_values: the rates after each boundary.
    ema_momentum: Polyak averaging momentum (Table 4: 0.9999).
    reference: where the setting comes from (paper table, or this package's own).
  """

  name: str
  description: str
  dataset: str
  stages: dict
  batch_size: int
  learning_rate: float
  learning_rate_boundaries: tuple = ()
  learning_rate_values: tuple = ()
  ema_momentum: float = 0.9999
  reference: str = ""

  def build_stage(self, stage):
    """The stage `stage` with fresh random weights."""
    if stage not in self.stages:
      raise ValueError(f"`stage` must be one of {list(self.stages)} for {self.name}, "
                       f"got {stage!r}.")
    config = self.stages[stage]
    cls = SliceDecoder if isinstance(config, SliceDecoderConfig) else SubscalePixelNetwork
    model = cls(config)
    model.build()
    return model

  def build_pipeline(self):
    """The whole pipeline with fresh random weights."""
    return Pipeline(**{stage: self.build_stage(stage) for stage in self.stages})
