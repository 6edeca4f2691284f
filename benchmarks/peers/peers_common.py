"""What both halves of the peers benchmark share (issue 14): the plan, the split file, the
per-run result files. NumPy only, so it imports in the project venv and in the peers venv.

* The split: ``split.py`` (project venv) writes the raw Fashion-MNIST arrays (``uint8``) and,
  per seed, the indices of the pipeline's stratified validation hold-out and training order
  to ``DATA_DIR/fashion_mnist_split.npz`` (git-ignored); :func:`load_split` gives every
  recipe the same float32 ``[0, 1]`` arrays the pipeline trains on (``uint8 / 255``; the
  first ``train_subset`` training examples, as ``train_subset`` does in the pipeline).
* One result file per (recipe, E, seed): ``OUT/peers/RECIPE-EE-seedS.json``, written
  atomically once the model is trained and tested; a rerun skips the files that exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py
import numpy as np
from common import system_info as _machine_info

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "benchmarks" / "results"
DATA_DIR = HERE / "data"
SPLIT_FILE = DATA_DIR / "fashion_mnist_split.npz"
NAME = "peers"
RUNS_SUBDIR = "peers"  # OUT/peers/<one file per run>
#: OUT/peers_timing/peers/: the timing pass (every recipe once, alone on the machine)
TIMING_SUBDIR = "peers_timing"
DEFAULT_WORK = REPO / "runs" / "peers"  # pipeline run directories (git-ignored)

BATCH_SIZE = 128
BUDGETS = (2, 4, 8)
SEEDS = (0, 1, 2)
VALIDATION_SPLIT = 0.1
#: recipe -> the environment that runs it, and what it is, for the tables
RECIPES: dict[str, dict[str, str]] = {
    "superconverge": {"venv": "project", "framework": "Keras 3 (torch backend)",
                      "label": "superconverge (range test → auto bounds → one-cycle)"},
    "keras_cosine": {"venv": "project", "framework": "Keras 3 (torch backend)",
                     "label": "Keras CosineDecay + warm-up at our range test's max LR"},
    # on the JAX backend: Keras 3.15.1's ScheduleFreeAdamW is wrong on torch (keras_side.py)
    "keras_schedulefree": {"venv": "project", "framework": "Keras 3 (jax backend)",
                           "backend": "jax", "label": "Keras ScheduleFreeAdamW (defaults)"},
    "fastai": {"venv": "peers", "framework": "PyTorch (fastai)",
               "label": "fastai lr_find (valley) → fit_one_cycle"},
    "torch_onecycle": {"venv": "peers", "framework": "PyTorch",
                       "label": "torch-lr-finder (steepest) → SGD + OneCycleLR"},
    "schedulefree_sgd": {"venv": "peers", "framework": "PyTorch (schedulefree)",
                         "label": "schedulefree SGDScheduleFree (defaults)"},
}


def recipes_of(venv: str) -> list[str]:
    return [name for name, info in RECIPES.items() if info["venv"] == venv]


# ------------------------------------------------------------------------------------ split
def split_arrays(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 y_test: np.ndarray, indices: dict[int, tuple[np.ndarray, np.ndarray]],
                 meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of the split file: raw data, per seed ``train_idx_S`` / ``val_idx_S``."""
    arrays: dict[str, np.ndarray] = {
        "x_train": np.asarray(x_train, dtype=np.uint8),
        "y_train": np.asarray(y_train, dtype=np.int32),
        "x_test": np.asarray(x_test, dtype=np.uint8),
        "y_test": np.asarray(y_test, dtype=np.int32),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    for seed, (train_idx, val_idx) in indices.items():
        arrays[f"train_idx_{seed}"] = np.asarray(train_idx, dtype=np.int64)
        arrays[f"val_idx_{seed}"] = np.asarray(val_idx, dtype=np.int64)
    return arrays


def write_split(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write the split file atomically (compressed ``.npz``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def split_meta(path: Path = SPLIT_FILE) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as f:
        return json.loads(str(f["meta"]))


def load_split(path: Path, seed: int, train_subset: int | None = None) -> dict[str, Any]:
    """``x_train, y_train, x_val, y_val, x_test, y_test`` (float32 NHWC in ``[0, 1]``, int32
    labels) for ``seed``, exactly what ``superconverge.data.load(..., seed=seed,
    train_subset=train_subset)`` gives, plus ``meta``."""
    path = Path(path)
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run benchmarks/peers/split.py (project venv)")
    with np.load(path, allow_pickle=False) as f:
        if f"train_idx_{seed}" not in f.files:
            raise SystemExit(f"{path} has no split for seed {seed}: rerun split.py --seeds ...")
        train_idx, val_idx = f[f"train_idx_{seed}"], f[f"val_idx_{seed}"]
        if train_subset is not None:
            if not 1 <= train_subset <= train_idx.size:
                raise SystemExit(f"--train-subset {train_subset} not in 1..{train_idx.size}")
            train_idx = train_idx[:train_subset]
        x_raw, y_raw = f["x_train"], f["y_train"]
        scale = np.float32(1.0 / 255.0)  # superconverge.data.splits._to_float

        def to_float(a: np.ndarray) -> np.ndarray:
            return a.astype(np.float32) * scale

        return {
            "x_train": to_float(x_raw[train_idx]), "y_train": y_raw[train_idx],
            "x_val": to_float(x_raw[val_idx]), "y_val": y_raw[val_idx],
            "x_test": to_float(f["x_test"]), "y_test": f["y_test"],
            "meta": json.loads(str(f["meta"])), "train_subset": train_subset,
        }


# ---------------------------------------------------------------------------------- results
def result_path(out_dir: Path, recipe: str, epochs: int, seed: int) -> Path:
    return Path(out_dir) / RUNS_SUBDIR / f"{recipe}-E{epochs}-seed{seed}.json"


#: the same-net step time (Keras on torch vs native PyTorch): STEP_REPEATS timings of
#: STEP_COUNT training steps each (SGD momentum 0.9, batch 128), after STEP_WARMUP steps
STEP_COUNT, STEP_REPEATS, STEP_WARMUP = 50, 3, 5


def step_time_path(out_dir: Path, framework: str) -> Path:
    return Path(out_dir) / RUNS_SUBDIR / f"step-time-{framework}.json"


def measure_step_time(args: argparse.Namespace, framework: str,
                      measure: Callable[[dict[str, Any]], list[float]],
                      versions: dict[str, str], log: Callable[[str], None] = print) -> None:
    """Once per output folder: ``measure(data)`` returns the seconds of each repeat of
    ``STEP_COUNT`` steps on seed 0's training data."""
    path = step_time_path(Path(args.out_dir), framework)
    if path.exists():
        log(f"step time {framework}: done ({path.name}), skipped")
        return
    data = load_split(Path(args.split), 0, args.train_subset)
    repeats = measure(data)
    per_step = sorted(r / STEP_COUNT for r in repeats)[len(repeats) // 2]
    atomic_write_json(path, {
        "framework": framework, "seconds_per_step": per_step,
        "repeats_seconds": repeats, "steps": STEP_COUNT, "warmup_steps": STEP_WARMUP,
        "batch_size": BATCH_SIZE, "optimizer": "SGD(lr 0.01, momentum 0.9)",
        "train_examples": len(data["y_train"]), "versions": versions,
        "system": system_info()})
    log(f"step time {framework}: {1000 * per_step:.1f} ms per step -> {path}")


def atomic_write_json(path: Path, payload: Any) -> Path:
    """The project's atomic writer (``superconverge.io``): temp file, fsync, ``os.replace``.
    The worktree is on ``PYTHONPATH`` in both venvs; ``superconverge.io`` needs no Keras."""
    from superconverge.io import atomic_write_json as write

    return write(path, payload)


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    folder = Path(out_dir) / RUNS_SUBDIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
            if not p.name.startswith("step-time-")]


def read_step_times(out_dir: Path) -> list[dict[str, Any]]:
    folder = Path(out_dir) / RUNS_SUBDIR
    return [json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("step-time-*.json"))]


def system_info() -> dict[str, Any]:
    """The benchmarks' machine record (``benchmarks/common.py``, stdlib only, so both venvs
    import it) with the thread settings this harness runs under."""
    info = _machine_info()
    info["thread_env"] = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                          if k in os.environ}
    info["loadavg_at_start"] = info["load_average"]
    return info


def worker_args(venv: str, argv: Sequence[str] | None = None,
                description: str = "") -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--recipes", nargs="+", default=recipes_of(venv), choices=recipes_of(venv))
    p.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--train-subset", type=int, default=None,
                   help="first N training examples (smoke tests); default: all 54,000")
    p.add_argument("--split", default=str(SPLIT_FILE))
    p.add_argument("--out-dir", default=str(RESULTS), help="results go to OUT/peers/")
    p.add_argument("--work-dir", default=None,
                   help="scratch (pipeline run directories); default runs/peers or OUT/work")
    args = p.parse_args(argv)
    if args.work_dir is None:
        args.work_dir = (str(DEFAULT_WORK) if Path(args.out_dir).resolve() == RESULTS
                         else str(Path(args.out_dir) / "work"))
    return args


def run_plan(args: argparse.Namespace,
             train_one: Callable[[str, int, int, dict[str, Any]], dict[str, Any]],
             versions: dict[str, str], log: Callable[[str], None] = print) -> int:
    """Train every (recipe, E, seed) of ``args`` whose result file is missing; returns how
    many were trained. ``train_one(recipe, epochs, seed, data)`` returns the record."""
    todo = [(r, e, s) for r in args.recipes for e in args.budgets for s in args.seeds]
    done = 0
    for recipe, epochs, seed in todo:
        path = result_path(Path(args.out_dir), recipe, epochs, seed)
        if path.exists():
            log(f"{recipe} E={epochs} seed={seed}: done ({path.name}), skipped")
            continue
        data = load_split(Path(args.split), seed, args.train_subset)
        started = time.perf_counter()
        record = train_one(recipe, epochs, seed, data)
        record.update(
            recipe=recipe, epochs=epochs, seed=seed,
            batch_size=record.get("batch_size", BATCH_SIZE),
            train_examples=len(data["y_train"]), val_examples=len(data["y_val"]),
            test_examples=len(data["y_test"]), framework=RECIPES[recipe]["framework"],
            total_seconds=time.perf_counter() - started, versions=versions,
            system=system_info(), finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        atomic_write_json(path, record)
        done += 1
        log(f"{recipe} E={epochs} seed={seed}: test accuracy {record['test_accuracy']:.4f}, "
            f"{record['seconds_per_epoch']:.1f} s/epoch, finder {record['lr_finder_seconds']:.1f} s"
            f" -> {path}")
    return done


def seed_everything(seed: int, extra: Iterable[Callable[[int], Any]] = ()) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    for fn in extra:
        fn(seed)
