"""Benchmarks that several invocations run side by side merge their runs instead of writing
over each other's (``common.exclusive`` + ``common.merge_runs``, used by recipe_ablation.py)."""

from __future__ import annotations

import json
import multiprocessing
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from common import exclusive, merge_runs


def _key(run):
    return (run["variant"], run["seed"])


def test_merge_keeps_the_other_writers_runs_and_prefers_ours():
    on_disk = [{"variant": "a", "seed": 0, "v": 1}, {"variant": "b", "seed": 0, "v": 2}]
    ours = [{"variant": "a", "seed": 0, "v": 10}, {"variant": "c", "seed": 1, "v": 3}]
    merged = merge_runs(ours, on_disk, _key)
    assert merged == [{"variant": "a", "seed": 0, "v": 10}, {"variant": "b", "seed": 0, "v": 2},
                      {"variant": "c", "seed": 1, "v": 3}]
    assert merge_runs([], on_disk, _key) == on_disk


def _writer(path: str, seed: int) -> None:
    # a stale in-memory list, as each invocation holds: only its own run
    ours = [{"variant": "x", "seed": seed}]
    with exclusive(Path(path)):
        on_disk = json.loads(Path(path).read_text())["runs"] if Path(path).exists() else []
        merged = merge_runs(ours, on_disk, _key)
        Path(path).write_text(json.dumps({"runs": merged}))


def test_writers_side_by_side_lose_no_run(tmp_path):
    path = tmp_path / "results.json"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(str(path), seed)) for seed in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    runs = json.loads(path.read_text())["runs"]
    assert sorted(r["seed"] for r in runs) == list(range(8))
