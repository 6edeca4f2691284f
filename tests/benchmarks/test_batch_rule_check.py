"""benchmarks/batch_rule_check.py: pairing two epoch-economy arms by seed, and the verdict."""

from __future__ import annotations

import json

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def check():
    yield from benchmark_module("batch_rule_check")


def _economy(path, batch, vals, tests, base=(0.90, 0.91)):
    runs = []
    for seed, (val, test) in enumerate(zip(vals, tests, strict=True)):
        runs.append({"model": "m", "seed": seed, "variant": "baseline", "epochs": 20,
                     "test_accuracy": base[seed], "train_examples": 12000})
        runs.append({"model": "m", "seed": seed, "variant": "one_cycle_n5", "epochs": 4,
                     "test_accuracy": test, "val_accuracy_final": val,
                     "train_examples": 12000, "bounds": {"batch_size": batch},
                     "run_dir": f"runs/{batch}/{seed}"})
    path.write_text(json.dumps({"runs": runs}))
    return path


def test_arms_are_paired_by_seed_and_judged_on_validation(check, tmp_path):
    small = _economy(tmp_path / "a.json", 32, vals=[0.905, 0.915], tests=[0.80, 0.80])
    large = _economy(tmp_path / "b.json", 64, vals=[0.900, 0.900], tests=[0.95, 0.95])
    check.main(["--arm", str(small), "--arm", str(large), "--out-dir", str(tmp_path)])
    (cell,) = json.loads((tmp_path / "batch_rule_check.json").read_text())["cells"]
    assert cell["arms"]["32"]["cycle_steps"] == 1500 and cell["arms"]["64"]["cycle_steps"] == 752
    assert cell["smaller_minus_larger"]["val"]["mean"] == pytest.approx(0.01)
    # validation decides (test is worse for 32 here): the rule's 32 agrees
    assert (cell["best_on_validation"], cell["rule_batch_size"], cell["rule_agrees"]) == (
        32, 32, True)
    assert cell["arms"]["64"]["test_vs_baseline"]["mean"] == pytest.approx(0.045)


def test_a_rule_that_picks_the_worse_batch_is_reported(check, tmp_path):
    small = _economy(tmp_path / "a.json", 32, vals=[0.89, 0.89], tests=[0.9, 0.9])
    large = _economy(tmp_path / "b.json", 64, vals=[0.90, 0.90], tests=[0.9, 0.9])
    cells = check.cells(check.one_cycle_rows(small) + check.one_cycle_rows(large))
    assert cells[0]["rule_agrees"] is False and cells[0]["rule_ties"] is False
    text = "\n".join(check.markdown({"cells": cells, "sources": [], "command": ""}))
    assert "| no: the pick gives away 1.00 ± 0.00 |" in text


def test_a_loss_within_the_seed_noise_is_a_tie(check, tmp_path):
    # 64 better by +1.0 and -0.6 points on the two seeds: mean 0.2 < its sample std
    small = _economy(tmp_path / "a.json", 32, vals=[0.89, 0.906], tests=[0.9, 0.9])
    large = _economy(tmp_path / "b.json", 64, vals=[0.90, 0.90], tests=[0.9, 0.9])
    (cell,) = check.cells(check.one_cycle_rows(small) + check.one_cycle_rows(large))
    assert (cell["best_on_validation"], cell["rule_batch_size"]) == (64, 32)
    assert cell["rule_ties"] is True
    assert cell["rule_loses_on_validation"]["mean"] == pytest.approx(0.002)


def test_one_arm_alone_is_a_clear_error(check, tmp_path):
    only = _economy(tmp_path / "a.json", 32, vals=[0.9, 0.9], tests=[0.9, 0.9])
    with pytest.raises(SystemExit, match="two batch sizes"):
        check.main(["--arm", str(only), "--out-dir", str(tmp_path)])
