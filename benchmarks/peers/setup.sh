#!/usr/bin/env bash
# Creates the peers venv (benchmarks/peers/.venv, git-ignored) for the issue-14 comparison:
# PyTorch + torchvision, fastai, torch-lr-finder, schedulefree, numpy, matplotlib.
# The project's own environment is untouched. Idempotent: a venv that already satisfies the
# lock file is left alone.
#
#   bash benchmarks/peers/setup.sh            # install from requirements.lock when present
#   bash benchmarks/peers/setup.sh --relock   # resolve the top-level pins afresh, rewrite the lock
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$here/.venv}"
lock="$here/requirements.lock"
python="${PEERS_PYTHON:-python3}"
# Top-level requirements; everything else comes in as their dependencies (pinned in the lock).
top=(torch==2.14.1 torchvision==0.29.1 fastai torch-lr-finder schedulefree numpy matplotlib)

relock=0
[[ "${1:-}" == "--relock" ]] && relock=1

if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"

installed_ok() {
  # True when every pin of the lock file is installed at exactly that version.
  [[ -f "$lock" ]] || return 1
  "$py" - "$lock" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line or "==" not in line:
        continue
    name, want = line.split("==", 1)
    name = name.split("[", 1)[0]
    try:
        have = version(name)
    except PackageNotFoundError:
        bad.append(f"{name} missing")
        continue
    if have.split("+", 1)[0] != want.split("+", 1)[0]:
        bad.append(f"{name} {have} != {want}")
sys.exit(1 if bad else 0)
PY
}

if [[ $relock -eq 0 ]] && installed_ok; then
  echo "peers venv up to date ($venv)"
  exit 0
fi

if [[ $relock -eq 0 && -f "$lock" ]]; then
  "$py" -m pip install --quiet -r "$lock" 2> >(grep -v '^WARNING: Location' >&2)
else
  "$py" -m pip install --quiet "${top[@]}" 2> >(grep -v '^WARNING: Location' >&2)
  {
    echo "# Exact versions installed by benchmarks/peers/setup.sh --relock ($(date -u +%Y-%m-%d), $("$py" -V))."
    echo "# Top level: ${top[*]}"
    "$py" -m pip freeze --exclude-editable | grep -v -E '^(pip|setuptools|wheel)=='
  } > "$lock"
  echo "wrote $lock"
fi
"$py" -c "import torch, torchvision, fastai, torch_lr_finder, schedulefree, numpy, matplotlib; print('peers venv ok: torch', torch.__version__, 'torchvision', torchvision.__version__, 'fastai', fastai.__version__)"
