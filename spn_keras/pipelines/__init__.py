"""Pipelines of SPN stages (multidimensional upscaling)."""

from spn_keras.pipelines.pipeline import Pipeline
from spn_keras.pipelines.pipeline import load_pipeline
from spn_keras.pipelines.serialization import load_stage
from spn_keras.pipelines.serialization import save_pipeline
from spn_keras.pipelines.serialization import save_stage

__all__ = ["Pipeline", "load_pipeline", "load_stage", "save_pipeline", "save_stage"]
