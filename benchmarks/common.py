"""Shared plumbing of the benchmark scripts: one subprocess per Keras backend, machine facts,
and results written atomically as JSON + Markdown under benchmarks/results/."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BACKENDS = ("torch", "tensorflow", "jax")

logger = logging.getLogger(__name__)


def system_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "cpu": cpu,
            "platform": platform.platform(),
            # 1/5/15-minute load: a timing is only meaningful on a quiet machine
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def run_worker(script: Path, backend: str, args: Sequence[str], timeout: int = 3600) -> Any:
    """Run ``script --worker ARGS`` under ``KERAS_BACKEND=backend``; its last stdout line is
    the JSON result."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, str(script), "--worker", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} on {backend} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's ρ of two paired sequences; 0 where either side is constant (a signal that
    scores everything the same ranks nothing)."""
    from scipy.stats import spearmanr

    if len(set(a)) < 2 or len(set(b)) < 2:
        return 0.0
    return float(spearmanr(a, b).statistic)


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def split_forwarded_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``OWN -- FORWARDED``: a script's own flags, and the flags it forwards to another
    benchmark's parser (e.g. the ``lr_selection.py`` run whose stored results it reads)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def write_results(
    name: str, payload: dict[str, Any], markdown: Sequence[str], out_dir: Path = RESULTS
) -> None:
    """``out_dir/NAME.json`` and ``out_dir/NAME.md``, each written atomically."""
    from superconverge.io import atomic_write_json, atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / f"{name}.json", payload)
    atomic_write_text(out_dir / f"{name}.md", "\n".join(markdown) + "\n")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``PATH.lock`` for the block: processes that
    read-merge-write the same results file (several invocations of one benchmark running side
    by side) take turns, so none writes over another's newly added runs."""
    import fcntl

    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


def merge_runs(ours: list[dict[str, Any]], on_disk: list[dict[str, Any]],
               key: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """``on_disk``'s runs, then ours that it lacks (by ``key``); ours win where both have one."""
    mine = {key(r): r for r in ours}
    merged = [mine.pop(key(r), r) for r in on_disk]
    return merged + [r for r in ours if key(r) in mine]


def economy_baselines(path: str | Path | None, model: str,
                      settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The step-decay baseline rows for ``model`` in an ``epoch_economy.json``, as written
    there, when that file's settings equal ``settings`` (any of ``dataset``,
    ``train_examples``, ``validation_examples``, ``batch_size``, ``weight_decay``,
    ``baseline_lr``, ``augment``; ``train_examples`` is per model there); ``[]`` when the file
    is absent, ``"none"`` or made with other settings (logged). Training is deterministic on
    this machine, so a baseline of the same seed and settings is the same model: another
    benchmark may reuse it instead of training it again."""
    if not path or str(path).lower() == "none" or not Path(path).exists():
        return []
    from superconverge.io import read_json

    payload = read_json(path)
    theirs = dict(payload.get("settings", {}))
    theirs["train_examples"] = (theirs.get("train_examples") or {}).get(model)
    mismatch = [key for key, ours in settings.items() if theirs.get(key) != ours]
    if mismatch:
        logger.info("%s: settings differ (%s); nothing reused", path, ", ".join(mismatch))
        return []
    required = ("test_accuracy", "val_accuracy", "wall_time", "epochs", "seed")
    return [row for row in payload.get("runs", [])
            if row.get("model") == model and row.get("variant") == "baseline"
            and all(row.get(k) is not None for k in required)]


def run_is_finished(run_dir: Path, stage: str = "evaluate") -> bool:
    """A benchmark's pipeline run directory has finished (``stage``, by default its
    ``evaluate``, is done)."""
    from superconverge.io import read_json
    from superconverge.pipeline.rundir import RunDirectory

    state = RunDirectory(run_dir).state
    return state.exists() and bool(read_json(state)["stages"].get(stage, {}).get("done"))


def geometric_interval(ratios: list[float]) -> tuple[float, float, float]:
    """Geometric mean of ``ratios`` and its 95 % t-interval (of the mean log ratio)."""
    import math
    import statistics

    from scipy import stats as scipy_stats

    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), float("nan"), float("nan")
    half = scipy_stats.t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def replace_block(path: Path, start: str, end: str, lines: Sequence[str], what: str) -> None:
    """Replace the lines between the markers ``start`` and ``end`` of the Markdown file
    ``path`` with ``lines`` (atomically); a file without the block stops with a message
    saying where ``what`` belongs."""
    from superconverge.io import atomic_write_text

    text = Path(path).read_text(encoding="utf-8")
    if start not in text or end not in text or text.index(start) > text.index(end):
        raise SystemExit(f"{path} has no '{start}' ... '{end}' block to replace; add the two "
                         f"lines where {what} belongs")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, head + start + "\n" + "\n".join(lines) + "\n" + end + tail)


def write_table_and_readme(out_dir: Path, table: str, image: str,
                           render: Callable[[str], list[str]],
                           readme: Path | None = None,
                           update: Callable[[Path, list[str]], None] | None = None) -> list[str]:
    """Write ``OUT/table`` from ``render(image)`` and, with ``readme``, replace its block by
    ``update(readme, render(path of OUT/image relative to the README))``; returns the lines."""
    from superconverge.io import atomic_write_text

    lines = render(image)
    atomic_write_text(Path(out_dir) / table, "\n".join(lines) + "\n")
    if readme is not None and update is not None:
        relative = os.path.relpath(Path(out_dir) / image, Path(readme).resolve().parent)
        update(Path(readme), render(Path(relative).as_posix()))
    return lines
