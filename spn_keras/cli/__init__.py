"""Command-line tools (absl flags): `spn_train`, `spn_eval`, installed as console scripts."""
