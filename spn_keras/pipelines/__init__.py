"""Pipelines of SPN stages (multidimensional upscaling): `Pipeline`; its `StagePlan`, the
`StageStep`s that say which stage models which part of the image given which other part (the
one walk that likelihood, sampling, upscaling, training views and the codec follow); and
saving and loading pipeline folders."""

from spn_keras.pipelines.pipeline import Pipeline
from spn_keras.pipelines.pipeline import load_pipeline
from spn_keras.pipelines.serialization import load_stage
from spn_keras.pipelines.serialization import save_pipeline
from spn_keras.pipelines.serialization import save_stage

__all__ = ["Pipeline", "load_pipeline", "load_stage", "save_pipeline", "save_stage"]
