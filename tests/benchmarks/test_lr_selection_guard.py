"""benchmarks/lr_selection_guard.py: the leave-one-task-out arithmetic on hand-made tables,
the interpolated regret on hand values, and the committed choice of ``auto``'s guard
reproduced from the committed cache of curves and runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import benchmark_module

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def guard():
    yield from benchmark_module("lr_selection_guard")


def test_interpolated_regret_by_hand(guard):
    rep = {"log_lr": np.array([-2.0, -1.0, 0.0]), "acc": np.array([0.70, 0.90, 0.50]),
           "best_grid_acc": 0.90}
    assert guard.estimated_regret(rep, 0.1) == pytest.approx(0.0)
    assert guard.estimated_regret(rep, 10**-1.5) == pytest.approx(10.0)  # halfway 0.7..0.9
    assert guard.estimated_regret(rep, 10**-0.75) == pytest.approx(10.0)  # quarter 0.9..0.5


def test_leave_one_task_out_never_uses_the_held_out_task(guard):
    # task "a" alone prefers γ = 0.5; "b" and "c" prefer 0.8
    table = {
        0.5: {"a": [0.0, 0.0], "b": [3.0, 3.0], "c": [2.0, 2.0]},
        0.8: {"a": [4.0, 6.0], "b": [1.0, 1.0], "c": [0.5, 0.5]},
    }
    loto = guard.leave_one_task_out(table)
    folds = loto["folds"]
    assert folds["a"]["guard"] == 0.8 and folds["a"]["held_out_regret_pp"] == pytest.approx(5.0)
    assert folds["b"]["guard"] == 0.5  # on a and c: 0.5 → 1.0, 0.8 → 2.75
    assert folds["b"]["held_out_regret_pp"] == pytest.approx(3.0)
    assert folds["c"]["guard"] == 0.5  # on a and b: 0.5 → 1.5, 0.8 → 3.0
    held = [4.0, 6.0, 3.0, 3.0, 2.0, 2.0]
    assert loto["held_out_regret_pp"]["mean"] == pytest.approx(np.mean(held))
    assert loto["held_out_regret_pp"]["std"] == pytest.approx(np.std(held, ddof=1))


def test_committed_choice_reproduces(guard, tmp_path):
    """The default guard is the one every leave-one-task-out fold picks on the committed
    curves, and the committed Markdown/JSON are what the script writes."""
    from superconverge.bounds.auto import DEFAULT_GUARD_DECADES

    guard.main(["--out-dir", str(tmp_path)])
    out = json.loads((tmp_path / "lr_selection_guard.json").read_text())
    assert len(out["repetitions"]) >= 12
    assert {f["guard"] for f in out["loto"]["folds"].values()} == {DEFAULT_GUARD_DECADES}
    table = out["estimated_regret_pp"]
    means = {float(g): np.mean([v for vs in t.values() for v in vs]) for g, t in table.items()}
    assert min(means, key=means.get) == DEFAULT_GUARD_DECADES
    assert all(math.isfinite(m) for m in means.values())
    committed = ROOT / "benchmarks" / "results" / "lr_selection_guard.md"
    assert (tmp_path / "lr_selection_guard.md").read_text() == committed.read_text()
