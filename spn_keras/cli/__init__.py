"""Command-line tools (absl flags): `spn_train`, `spn_eval`, `spn_sample`, `spn_tune`,
`spn_export`, installed as console scripts and runnable from `bin/`; both start them through
`launch` (TensorFlow's log lines hidden unless `--verbosity=1`).

What several tools share: their flags (`stage_flags`), running a tool and its files and model
(`common`), and a stage's data and bits/dim (`evaluation`)."""
