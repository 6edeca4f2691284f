#!/usr/bin/env bash
# The peers benchmark (issue 14), in turn, never concurrently:
#   1. project venv: the split file and the Keras parameter count (split.py, once);
#   2. project venv: the Keras recipes (superconverge, keras_cosine, keras_schedulefree);
#   3. peers venv:   the PyTorch recipes (fastai, torch_onecycle, schedulefree_sgd);
#   4. project venv: peers.{json,md}, peers_accuracy.png, and the README block.
# Resumable: finished (recipe, E, seed) result files are skipped.
#
#   bash benchmarks/peers/setup.sh && bash benchmarks/peers/run.sh
#   bash benchmarks/peers/run.sh --budgets 1 --seeds 0 --train-subset 512 --out-dir /tmp/peers-smoke
#
# Arguments go to both training halves (--budgets, --seeds, --train-subset, --out-dir,
# --work-dir). With --out-dir other than benchmarks/results the README is left alone.
# PROJECT_PYTHON (default .venv/bin/python) and PEERS_PYTHON (default
# benchmarks/peers/.venv/bin/python) choose the interpreters. Run it on a quiet machine:
# the wall times are part of the result.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
project_python="${PROJECT_PYTHON:-$repo/.venv/bin/python}"
peers_python="${PEERS_PYTHON:-$here/.venv/bin/python}"
[[ -x "$peers_python" ]] || { echo "no peers venv at $peers_python: run benchmarks/peers/setup.sh" >&2; exit 2; }
[[ -x "$project_python" ]] || { echo "no project venv at $project_python: set PROJECT_PYTHON" >&2; exit 2; }
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=torch TF_CPP_MIN_LOG_LEVEL=3

out="$repo/benchmarks/results"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ "${args[$i]}" == "--out-dir" ]] && out="${args[$((i + 1))]}"
done

cd "$repo"
"$project_python" "$here/split.py"
"$project_python" "$here/keras_side.py" "$@"
"$peers_python" "$here/torch_side.py" "$@"
readme=()
[[ "$(cd "$out" && pwd)" == "$repo/benchmarks/results" ]] && readme=(--readme "$repo/README.md")
"$project_python" "$here/report.py" --out-dir "$out" "${readme[@]}"
