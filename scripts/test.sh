#!/usr/bin/env bash
# The README's test command: builds its own virtual environment, then lints and runs the
# backend-independent tests once and the Keras tests on each of the three backends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck disable=SC1091
source scripts/bootstrap.sh
bash scripts/ensure_data.sh
bash scripts/postgres.sh
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0
start=$(date +%s)
ruff check superconverge tests benchmarks
python -m pytest -q -p no:cacheprovider tests/pure "$@"
for backend in ${SUPERCONVERGE_TEST_BACKENDS:-tensorflow jax torch}; do
  echo "=== Keras tests on the $backend backend"
  KERAS_BACKEND=$backend python -m pytest -q -p no:cacheprovider tests/keras "$@"
done
echo "=== pipeline and tuning tests (end to end, on the torch backend)"
KERAS_BACKEND=torch python -m pytest -q -p no:cacheprovider tests/pipeline tests/tuning "$@"
KERAS_BACKEND=torch python -m pytest -q -p no:cacheprovider tests/benchmarks "$@"
echo "=== data-parallel tests (virtual devices and two processes on 127.0.0.1)"
python -m pytest -q -p no:cacheprovider tests/distributed "$@"
echo "=== shared tuning study on PostgreSQL (a throwaway server on 127.0.0.1)"
KERAS_BACKEND=torch python -m pytest -q -p no:cacheprovider tests/postgres "$@"
echo "all test runs passed in $(( $(date +%s) - start )) s"
