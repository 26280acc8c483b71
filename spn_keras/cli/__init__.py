"""Command-line tools (absl flags): `spn_train`, `spn_eval`, `spn_sample`, `spn_tune`,
installed as console scripts and runnable from `bin/`."""
