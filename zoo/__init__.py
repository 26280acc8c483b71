"""Pretrained pipelines shipped with spn-keras (installed as `spn_keras._shipped_zoo`)."""
