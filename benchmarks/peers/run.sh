#!/usr/bin/env bash
# The peers benchmark (issue 14), in turn, never concurrently:
#   1. project venv: the split file and the Keras parameter count (split.py, once);
#   2. project venv: the Keras recipes (superconverge, keras_cosine, keras_schedulefree);
#   3. peers venv:   the PyTorch recipes (fastai, torch_onecycle, schedulefree_sgd);
#   4. the timing pass: steps 2 and 3 again for E = 2, seed 0 only, into OUT/peers_timing/
#      (its own run directories), every recipe once: the wall times of the table come from it;
#   5. project venv: peers.{json,md}, peers_accuracy.png, and the README block.
# Resumable: finished (recipe, E, seed) result files are skipped.
# The accuracy runs (steps 2-3) may share the machine with other accuracy work (each run records
# its threads and load average); the timing pass must run alone: PEERS_PHASES="accuracy" skips
# it, PEERS_PHASES="timing" runs only it (default "accuracy timing").
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

phases="${PEERS_PHASES:-accuracy timing}"
timing_out="$out/peers_timing"
timing_work="$repo/runs/peers_timing"
[[ "$(cd "$out" && pwd)" == "$repo/benchmarks/results" ]] || timing_work="$timing_out/work"

cd "$repo"
"$project_python" "$here/split.py"
if [[ " $phases " == *" accuracy "* ]]; then
  "$project_python" "$here/keras_side.py" "$@"
  "$peers_python" "$here/torch_side.py" "$@"
fi
if [[ " $phases " == *" timing "* ]]; then
  # later flags win: the user's --train-subset stays, budgets/seeds/folders are the pass's own
  timing=(--budgets 2 --seeds 0 --out-dir "$timing_out" --work-dir "$timing_work")
  "$project_python" "$here/keras_side.py" "$@" "${timing[@]}"
  "$peers_python" "$here/torch_side.py" "$@" "${timing[@]}"
fi
readme=()
[[ "$(cd "$out" && pwd)" == "$repo/benchmarks/results" ]] && readme=(--readme "$repo/README.md")
"$project_python" "$here/report.py" --out-dir "$out" "${readme[@]}"
