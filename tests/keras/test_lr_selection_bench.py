"""Smoke test of benchmarks/lr_selection.py: the regret arithmetic against hand values, and
the whole per-task loop (range test → picks → One Cycle runs → scoring → Markdown → plot) on a
toy task in a few seconds, on the current Keras backend."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    name = "_lr_selection_bench"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "lr_selection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)


def _sugg(max_lr, confidence=0.7, clamped=()):
    return SimpleNamespace(max_lr=max_lr, min_lr=max_lr / 10, confidence=confidence,
                           reason="r", diagnostics={"clamped": list(clamped)})


def test_regret_and_scoring_by_hand(bench):
    assert bench.regret_pp([0.80, 0.85, 0.70], 0.83) == pytest.approx(2.0)
    assert bench.regret_pp([0.80, 0.85, 0.70], 0.86) == pytest.approx(-1.0)
    grid = [0.01, 0.1, 1.0]
    k = bench.lr_key
    accs = {(0, k(0.01)): 0.80, (0, k(0.1)): 0.85, (0, k(1.0)): 0.70, (0, k(0.05)): 0.83,
            (1, k(0.01)): 0.60, (1, k(0.1)): 0.90, (1, k(1.0)): 0.92, (1, k(0.05)): 0.89,
            # seed 2 misses a grid run: not scored
            (2, k(0.01)): 0.5, (2, k(0.1)): 0.5}
    swept = (1e-4, 3.0)
    sugg = {
        s: {"a": bench.classify_suggestion(_sugg(0.05), swept=swept),
            "b": bench.classify_suggestion(_sugg(0.1, confidence=0.0), swept=swept),
            "c": bench.classify_suggestion(error=ValueError("flat"))}
        for s in (0, 1, 2)
    }
    sc = bench.score_task([0, 1, 2], grid, ["a", "b", "c"], sugg, accs)
    assert sc["seeds_scored"] == [0, 1]
    # a: regrets 85-83 = 2.0 and 92-89 = 3.0 -> mean 2.5, sample std sqrt(0.5)
    st = sc["methods"]["a"]["regret_pp"]
    assert st["mean"] == pytest.approx(2.5) and st["std"] == pytest.approx(math.sqrt(0.5))
    assert sc["methods"]["a"]["failures"] == 0
    assert sc["methods"]["a"]["geomean_max_lr"] == pytest.approx(0.05)
    assert sc["per_seed"][1]["best_lr"] == 1.0
    assert sc["per_seed"][0]["methods"]["a"]["decades_from_best"] == pytest.approx(
        math.log10(0.5))
    # b: confidence 0 is a failure, but its LR is still scored: 0 and 92-90 = 2
    b = sc["methods"]["b"]
    assert b["failures"] == 2 and b["failure_kinds"] == {"zero_confidence": 2}
    assert b["regret_pp"]["mean"] == pytest.approx(1.0)
    # c raised: failure, no regret
    assert sc["methods"]["c"]["failures"] == 2 and sc["methods"]["c"]["regret_pp"]["n"] == 0
    assert sc["grid"][1]["val_acc"]["mean"] == pytest.approx(0.875)
    # hindsight reference: grid LR 0.1 has the best mean (0.875); its regrets 0 and 92-90 = 2
    assert sc["oracle"]["max_lr"] == 0.1
    assert sc["oracle"]["regret_pp"]["mean"] == pytest.approx(1.0)

    over = bench.overall({"t": sc}, ["a", "b", "c"])
    assert over["a"]["regret_pp"]["mean"] == pytest.approx(2.5)
    assert over["b"]["failures"] == 2 and over["b"]["curves"] == 2
    assert over["_oracle"]["regret_pp"]["mean"] == pytest.approx(1.0)
    assert bench.verdict(over, ["a", "b", "c"]) == {"met": False, "why": "auto was not scored"}


def test_failure_classification(bench):
    swept = (1e-4, 2.0)
    assert bench.classify_suggestion(_sugg(0.1), swept=swept)["failed"] is False
    assert bench.classify_suggestion(_sugg(2.0), swept=swept)["failure"] == "outside_sweep"
    assert bench.classify_suggestion(_sugg(1e-4), swept=swept)["failure"] == "outside_sweep"
    clamped = _sugg(0.1, clamped=["max_lr"])
    assert bench.classify_suggestion(clamped, swept=swept)["failure"] == "outside_sweep"
    rec = bench.classify_suggestion(error=RuntimeError("boom"))
    assert rec["failure"] == "error" and rec["max_lr"] is None and "boom" in rec["reason"]
    assert bench.log_grid(1e-3, 1.0, 4) == [0.001, 0.01, 0.1, 1.0]
    with pytest.raises(ValueError):
        bench.log_grid(1.0, 0.1, 4)


def _toy_task(bench):
    """A tiny synthetic task and run settings shared by the end-to-end tests."""
    from superconverge import data

    def load():
        return data.load("synthetic", n_train=160, n_test=16, image_size=8, num_classes=4,
                         validation_split=0.2)

    spec = bench.TaskSpec("toy", "synthetic blobs, MLP", load,
                          lambda shape, nc, seed: bench.mlp(shape, nc, seed, widths=(16,)),
                          epochs=1)
    cfg = bench.RunConfig(batch_size=32, range_start=1e-3, range_end=10.0, range_steps=12,
                          range_val_batches=1)
    return spec, cfg


def test_toy_task_end_to_end(bench, tmp_path):
    spec, cfg = _toy_task(bench)
    grid = [0.01, 0.1, 1.0]
    methods = ["auto", "minimum", "accuracy"]
    cache = bench.Cache(tmp_path / "toy.jsonl")
    info = bench.run_task(spec, cfg, [0], grid, methods, cache)
    assert info["train"] == 128 and not info["stopped_by_deadline"]
    n_records = len(cache.records)
    assert n_records >= 1 + len(grid)

    # resume: a fresh Cache on the same file skips every finished run
    cache2 = bench.Cache(tmp_path / "toy.jsonl")
    bench.run_task(spec, cfg, [0], grid, methods, cache2)
    assert len(cache2.records) == n_records

    # a pick cached by an older version of a method is recomputed from the stored curve
    rk = bench.range_key("toy", 0, bench.fingerprint(spec, cfg))
    fresh_auto = cache2[rk]["suggestions"]["auto"]
    stale = {**cache2[rk]["suggestions"], "auto": {**fresh_auto, "max_lr": 123.0}}
    cache2.add({**cache2[rk], "suggestions": stale})
    sugg, accs, curves, _ = bench.collect(spec, cfg, cache2, [0], methods)
    assert sugg[0]["auto"]["max_lr"] == fresh_auto["max_lr"] != 123.0
    assert bench.Cache(tmp_path / "toy.jsonl")[rk]["suggestions"]["auto"] == fresh_auto
    sc = bench.score_task([0], grid, methods, sugg, accs)
    assert sc["seeds_scored"] == [0]
    best = max(accs[(0, bench.lr_key(g))] for g in grid)
    for m in methods:
        row = sc["per_seed"][0]["methods"][m]
        if row["max_lr"] is not None:
            assert row["regret_pp"] == pytest.approx(100 * (best - row["val_acc"]))
    facts = {0: bench.curve_facts(curves[0], sugg[0])}
    lines = bench.task_markdown("toy", spec.description, info, sc, methods, facts)
    assert any(line.startswith("| auto |") for line in lines)
    png = tmp_path / "toy.png"
    bench.plot_task(png, "toy", grid, sc, methods, curves)
    assert png.stat().st_size > 1000


def test_legacy_fingerprints_unchanged(bench):
    """The runs cached before budgets and the momentum recipe existed keep their keys: the
    committed cache of the issue-4 benchmark is found again with ``--momentum-recipe cycled``
    at each task's own epochs (the fingerprints stored in results/lr_selection_cache)."""
    args = bench.parse_args(["--momentum-recipe", "cycled", "--task-epochs"])
    tasks, cfg = bench.make_tasks(args), bench.run_config(args)
    assert bench.fingerprint(tasks["fmnist_cnn"], cfg) == "b6b44ec8e6"
    assert bench.fingerprint(tasks["mnist1d_cnn"], cfg) == "016134d459"
    assert bench.fingerprint(tasks["fmnist_cnn"], cfg, 2) == "b6b44ec8e6"
    assert bench.fingerprint(tasks["fmnist_cnn"], cfg, 4) != "b6b44ec8e6"
    nesterov = bench.run_config(bench.parse_args([]))
    assert nesterov.momentum_recipe == "nesterov"
    assert bench.fingerprint(tasks["fmnist_cnn"], nesterov) != "b6b44ec8e6"
    assert bench.budgets_of(args) is None
    assert bench.budgets_of(bench.parse_args([])) == [2, 4, 8]
    with pytest.raises(ValueError):
        bench.RunConfig(momentum_recipe="adam")
    # the optimizer field keeps the SGD runs' keys; Adam's runs get their own
    adam = bench.run_config(bench.parse_args(["--optimizer", "adam"]))
    assert "optimizer" not in nesterov.to_dict() and adam.to_dict()["optimizer"] == "adam"
    assert bench.fingerprint(tasks["fmnist_cnn"], adam) != bench.fingerprint(
        tasks["fmnist_cnn"], nesterov)
    with pytest.raises(ValueError, match="beta_1 constant"):
        bench.RunConfig(optimizer="adam", momentum_recipe="cycled")


def test_fresh_tasks_split_batch_norm_from_convolution(bench):
    """The two fresh tasks of issue 19's batch-norm rule: an MLP with batch norm and a CNN
    without it, both seeded (same seed, same weights) and trainable on 1-D and 2-D inputs;
    their fingerprints differ from the original tasks', so their runs never mix."""
    import keras
    import numpy as np

    args = bench.parse_args([])
    tasks, cfg = bench.make_tasks(args), bench.run_config(args)
    bn = keras.layers.BatchNormalization
    mlp_bn = tasks["fmnist_mlp_bn"].build((28, 28, 1), 10, 3)
    plain = tasks["mnist1d_cnn_nobn"].build((40, 1), 10, 3)
    assert sum(isinstance(layer, bn) for layer in mlp_bn.layers) == 2
    assert not any(isinstance(layer, bn) for layer in plain.layers)
    assert any(isinstance(layer, keras.layers.Conv1D) for layer in plain.layers)
    assert isinstance(bench.plain_cnn((8, 8, 1), 3, 0).layers[0], keras.layers.Conv2D)
    again = tasks["mnist1d_cnn_nobn"].build((40, 1), 10, 3)
    for a, b in zip(plain.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(4, 40, 1)).astype("float32")
    assert plain.predict(x, verbose=0).shape == (4, 10)
    prints = {bench.fingerprint(t, cfg) for t in tasks.values()}
    assert len(prints) == len(tasks)


def test_third_fresh_pair_shapes(bench):
    """The third pair: a deeper MLP (three hidden layers) and the wider CNN without batch norm
    (first conv 32 filters), neither with batch norm."""
    import keras

    tasks = bench.make_tasks(bench.parse_args([]))
    deep = tasks["fmnist_mlp_deep"].build((28, 28, 1), 10, 0)
    wide = tasks["mnist1d_cnn_nobn_w32"].build((40, 1), 10, 0)
    dense = [layer.units for layer in deep.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [512, 256, 128, 10]
    convs = [layer.filters for layer in wide.layers if isinstance(layer, keras.layers.Conv1D)]
    assert convs == [32, 64, 64, 128, 128]
    bn = keras.layers.BatchNormalization
    assert not any(isinstance(layer, bn) for layer in [*deep.layers, *wide.layers])


def test_best_grid_x_and_budget_shift_by_hand(bench):
    grid = [0.01, 0.1, 1.0]
    # symmetric neighbours: the vertex is the best point
    assert bench.best_grid_x(grid, [0.5, 0.9, 0.5]) == pytest.approx(-1.0)
    # parabola through (-2, 0.5), (-1, 0.9), (0, 0.7): vertex at -1 + 0.5 * 0.2 / 0.6
    assert bench.best_grid_x(grid, [0.5, 0.9, 0.7]) == pytest.approx(-1 + 1 / 6)
    assert bench.best_grid_x(grid, [0.9, 0.5, 0.1]) == pytest.approx(-2.0)  # an edge
    # the best LR moves up one grid step (1 decade) from 100 to 400 steps: 0.5 per doubling
    by_budget = {
        1: {"per_seed": {0: {"grid_acc": [0.5, 0.9, 0.5]}, 1: {"grid_acc": [0.5, 0.9, 0.5]}}},
        4: {"per_seed": {0: {"grid_acc": [0.5, 0.6, 0.9]}, 1: {"grid_acc": [0.5, 0.9, 0.5]}}},
    }
    sh = bench.budget_shift(grid, by_budget, {1: 100, 4: 400})
    assert sh["seeds"] == [0, 1]
    assert sh["per_seed"][0]["decades_per_doubling"] == pytest.approx(0.5)
    assert sh["per_seed"][1]["decades_per_doubling"] == pytest.approx(0.0)
    assert sh["decades_per_doubling"]["mean"] == pytest.approx(0.25)
    assert bench.budget_plan(None, [2, 2, 4], 50) == [(2, 100), (4, 200)]
    with pytest.raises(ValueError):
        bench.budget_plan(None, [0], 50)


def test_toy_task_budgets_paired(bench, tmp_path):
    """Two budgets: one range test per seed, the grid trained at each budget under its own
    key, the methods told each budget's steps; a third budget added later reuses the rest."""
    spec, cfg = _toy_task(bench)
    grid = [0.01, 1.0]
    methods = ["auto", "minimum"]
    cache = bench.Cache(tmp_path / "toy.jsonl")
    info = bench.run_task(spec, cfg, [0], grid, methods, cache, budgets=[1, 2])
    assert info["steps_per_epoch"] == 4
    kinds = [r["kind"] for r in cache.records.values()]
    assert kinds.count("range") == 1
    by_epochs = {}
    for r in cache.records.values():
        if r["kind"] == "train":
            by_epochs.setdefault(r["epochs"], set()).add(bench.lr_key(r["max_lr"]))
    assert set(by_epochs) == {1, 2}
    assert {bench.lr_key(g) for g in grid} <= by_epochs[1] and by_epochs[1] == by_epochs[2]
    n = len(cache.records)
    bench.run_task(spec, cfg, [0], grid, methods, bench.Cache(tmp_path / "toy.jsonl"),
                   budgets=[2, 1])
    assert len(bench.Cache(tmp_path / "toy.jsonl").records) == n
    sugg, accs, _, _ = bench.collect(spec, cfg, cache, [0], methods, 2, 8)
    assert len(accs) == len(by_epochs[2])
    sc2 = bench.score_task([0], grid, methods, sugg, accs)
    sc1 = bench.score_task([0], grid, methods,
                           *bench.collect(spec, cfg, cache, [0], methods, 1, 4)[:2])
    assert sc1["seeds_scored"] == sc2["seeds_scored"] == [0]
