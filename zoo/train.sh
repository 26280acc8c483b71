#!/usr/bin/env bash
# Trains every stage of a shipped zoo pipeline on this machine's embedded data, in order, and
# writes the averaged weights into zoo/<name>/. Checkpoints go to $RUNS/<name>; rerunning the
# same command resumes each stage from its last checkpoint (finished stages are skipped).
#
#   bash zoo/train.sh mnist28_mdu 3000      # name, steps per stage
set -euo pipefail
name=${1:?zoo name}
steps=${2:-3000}
runs=${RUNS:-$HOME/.spn_keras_runs}
cd "$(dirname "$0")/.."
for stage in slice_decoder size_upscaler depth_upscaler; do
  python -m spn_keras.cli.train --zoo="$name" --stage="$stage" --model_dir="$runs/$name" \
    --pipeline_dir="zoo/$name" --train_steps="$steps" --precision=mixed_bfloat16 \
    --clip_norm=10 --checkpoint_every=200 --log_every=50 --sample_every="$steps"
done
