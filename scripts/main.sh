#!/usr/bin/env bash
# The README's main job: builds its own virtual environment and runs the pipeline on the
# built-in default dataset (Fashion-MNIST), printing where the report is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
source scripts/bootstrap.sh
bash scripts/ensure_data.sh
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p runs
superconverge schedule --max-lr 1.0 --steps 1000 --plot runs/one_cycle_schedule.png "$@"
