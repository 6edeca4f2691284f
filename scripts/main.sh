#!/usr/bin/env bash
# The README's main job: builds its own virtual environment and runs the pipeline on the
# built-in default dataset (Fashion-MNIST, simple_cnn: range test, bounds, 4 one-cycle epochs,
# a 20-epoch step-decay baseline, test, report), then prints where the report is.
# Extra arguments go to `superconverge run` (e.g. --quiet, --epochs 5, --out DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
source scripts/bootstrap.sh
bash scripts/ensure_data.sh
export TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND="${KERAS_BACKEND:-torch}"
out="runs/fashion_mnist-$(date +%Y%m%d-%H%M%S)"
superconverge run --dataset fashion_mnist --model simple_cnn --out "$out" "$@"
