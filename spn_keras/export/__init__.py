"""SavedModel export of pipelines and stages for TF Serving (TF Serving's folder layout)."""

from spn_keras.export.common import write_saved_model
from spn_keras.export.pipeline_exporter import PipelineExporter
from spn_keras.export.stage_exporter import StageExporter

__all__ = ["PipelineExporter", "StageExporter", "write_saved_model"]
