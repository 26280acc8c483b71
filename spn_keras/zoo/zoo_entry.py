"""`ZooEntry`: a named pipeline architecture, the data it is for, and how to train it."""

import dataclasses
import os

import tensorflow as tf

from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline
from spn_keras.presets import shipped_folder


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

  def __repr__(self):
    stages = ", ".join(self.stages)
    return f"ZooEntry({self.name!r}: {self.description} Stages: {stages}; data: {self.dataset})"

  @property
  def card(self):
    """The model card (Markdown): data and licences, recipe, figures, intended use and
    limitations. A shipped pipeline's is its folder's `README.md`; an entry without shipped
    weights gets a short card built from its fields."""
    folder = shipped_folder(self.name)
    card = None if folder is None else os.path.join(folder, "README.md")
    if card is not None and tf.io.gfile.exists(card):
      with tf.io.gfile.GFile(card, "r") as f:
        return f.read()
    weights = ("shipped with spn-keras (no card)" if folder is not None else
               f"none shipped with spn-keras; train them with `spn_train --zoo={self.name}` "
               f"(see the README)")
    return (f"# {self.name}\n\n{self.description}\n\n- Stages: {', '.join(self.stages)}\n"
            f"- Data: {self.dataset}\n- Reference: {self.reference or 'spn-keras'}\n"
            f"- Weights: {weights}.\n")

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
