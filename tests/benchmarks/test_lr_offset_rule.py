"""benchmarks/lr_offset_rule.py: the lifted-cap pick against its closed form, and the trained
regrets of a fixed offset read off lr_trials.py rows by offset."""

from __future__ import annotations

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def rule():
    yield from benchmark_module("lr_offset_rule")


def test_lifted_pick_closed_form(rule):
    lm = rule.Landmarks(top=-1.0, ref=0.6, flat=False, lo=-4.0, hi=1.0)
    assert rule.lifted_pick(lm, 0.0) == pytest.approx(-1.0)     # auto: the basin top binds
    assert rule.lifted_pick(lm, 0.3) == pytest.approx(-0.7)     # lifted by s
    assert rule.lifted_pick(lm, 1.0) == pytest.approx(-0.2)     # the guard x_div − 0.8 binds
    guard_bound = lm._replace(top=0.0)
    assert rule.lifted_pick(guard_bound, 0.0) == rule.lifted_pick(guard_bound, 0.5)
    assert rule.lifted_pick(lm._replace(ref=-2.9), 0.0) == pytest.approx(-3.7)
    assert rule.lifted_pick(lm._replace(ref=-3.5), 0.0) == pytest.approx(-4.0)  # clamped
    assert rule.lifted_pick(lm._replace(flat=True), 0.5) == pytest.approx(0.6 - 0.8)


def test_trained_offset_regrets_follow_the_offsets(rule):
    offsets = [-1 / 3, 0.0, 1 / 3]
    rows = [{"task": "a", "epochs": 2, "candidate_regrets": [3.0, 1.0, 0.5]},
            {"task": "a", "epochs": 2, "candidate_regrets": [5.0, 2.0, 9.0]},
            {"task": "b", "epochs": 4, "candidate_regrets": [1.0, 0.0, 0.2]}]
    table = rule.trained_offset_regrets(rows, offsets)
    assert table[("a", 2, "+0.333")] == [0.5, 9.0]
    assert table[("a", 2, "-0.333")] == [3.0, 5.0]
    assert rule.pooled(table, key="+0.000") == [1.0, 2.0, 0.0]
    assert rule.pooled(table, epochs=4, key="+0.333") == [0.2]
    assert rule.pooled(table, task="a", key="+0.000") == [1.0, 2.0]
    with pytest.raises(ValueError, match="3 candidate regrets for 2 offsets"):
        rule.trained_offset_regrets(rows, [0.0, 1 / 3])
