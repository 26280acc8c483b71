"""The package version, read by setup.py and exported as `spn_keras.__version__`."""

__version__ = "0.1.0"
