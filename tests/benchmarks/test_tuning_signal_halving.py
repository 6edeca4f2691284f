"""benchmarks/tuning_signal.py: successive halving over stored short runs."""

from __future__ import annotations

import argparse

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def signal():
    yield from benchmark_module("tuning_signal")


def test_each_rung_keeps_the_better_half_of_the_last(signal):
    rung0 = {"a": 0.5, "b": 0.1, "c": 0.3, "d": 0.2, "e": 0.9}
    rung1 = {"a": 9.0, "b": 0.8, "c": 0.4, "d": 0.6, "e": 0.0}  # e and a were cut: not read
    rung2 = {"b": 0.7, "c": 0.9, "d": 0.2}
    evaluated = signal.successive_halving([rung0, rung1, rung2])
    # 5 candidates → ⌈5/2⌉ = 3 → ⌈3/2⌉ = 2; each rung ranks its own scores
    assert evaluated == [["b", "d", "c", "a", "e"], ["c", "d", "b"], ["d", "c"]]


def test_a_rung_without_a_survivor_s_score_is_an_error(signal):
    with pytest.raises(KeyError):
        signal.successive_halving([{"a": 0.1, "b": 0.2}, {"b": 0.1}])
    with pytest.raises(ValueError, match="eta"):
        signal.successive_halving([{"a": 0.1}], eta=1)


def _row(kind, seed, cell, loss, val=None, test=None):
    return {"kind": kind, "seed": seed, "cell": cell, "val_data_loss": loss,
            "val_accuracy": val, "test_accuracy": test}


def test_the_arm_trains_the_winner_of_the_rungs_and_counts_their_cost(signal):
    cells = ["wd0-bn0.99", "wd1e-4-bn0.99", "wd1e-3-bn0.99", "wd1e-2-bn0.99"]
    runs = [_row("final", 0, "default", 0.5, 0.90, 0.89)]
    runs += [_row("final", 0, c, 0.5, 0.90 + 0.01 * i, 0.88 + 0.01 * i)
             for i, c in enumerate(cells)]
    # the cheap rung likes cells 3 and 2; the larger one prefers 2 among them
    runs += [_row("100x1", 0, c, loss) for c, loss in zip(cells, [0.9, 0.8, 0.2, 0.1],
                                                          strict=True)]
    runs += [_row("200x1", 0, c, loss) for c, loss in zip(cells, [0.0, 0.0, 0.3, 0.4],
                                                          strict=True)]
    runs += [_row("100x2", 0, c, 0.0) for c in cells]  # same images as 100x1: not a rung
    final = {(r["seed"], r["cell"]): r for r in runs if r["kind"] == "final"}
    args = argparse.Namespace(train_subset=400, epochs=2)
    arm = signal._successive_halving_arm(runs, final, [0], ["100x1", "100x2", "200x1"], args)
    assert arm["rungs"] == ["100x1", "200x1"]
    seed = arm["per_seed"][0]
    assert seed["pick"] == "wd1e-3-bn0.99" and seed["rung_sizes"] == [4, 2]
    assert seed["val_gain"] == pytest.approx(0.02) and seed["test_gain"] == pytest.approx(0.01)
    # 4 cells × 100 images × 1 epoch + 2 × 200 × 1, over 400 images × 2 epochs
    assert seed["cost_final_runs"] == pytest.approx(800 / 800)
