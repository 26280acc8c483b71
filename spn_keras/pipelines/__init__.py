"""Pipelines of SPN stages (multidimensional upscaling)."""

from spn_keras.pipelines.pipeline import Pipeline

__all__ = ["Pipeline"]
