"""Stored pipelines and stages: where they live and how a stage folder is read."""

from spn_keras.presets.preset_folders import pretrained_folder
from spn_keras.presets.preset_folders import resolve_stage_preset
from spn_keras.presets.preset_folders import shipped_folder
from spn_keras.presets.preset_folders import spn_keras_home

__all__ = ["pretrained_folder", "resolve_stage_preset", "shipped_folder", "spn_keras_home"]
