"""benchmarks/lr_median_rule.py: the median rule against its closed form, today's rule as one
of its kinds, and the Scorer of lr_landmark_rule using the median's pick."""

from __future__ import annotations

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def rule():
    yield from benchmark_module("lr_median_rule")


def test_pick_closed_form(rule):
    lm = rule.Landmarks(top=-0.2, ref=0.6, x_min=-0.6, flat=False, lo=-5.0, hi=1.0)
    assert rule.pick(lm, "current", 0.8) == pytest.approx(-0.2)           # min(x_R, x_div − c)
    assert rule.pick(lm, "current", 1.0) == pytest.approx(-0.4)
    assert rule.pick(lm, "median", 1.0, 0.0) == pytest.approx(-0.4)       # x_div − c between
    assert rule.pick(lm, "median", 0.2, 0.0) == pytest.approx(-0.2)       # x_R between
    assert rule.pick(lm, "median", 1.4, 0.1) == pytest.approx(-0.5)       # x_min + d between
    assert rule.pick(lm, "median", 9.0, -9.0) == pytest.approx(-5.0)      # clamped to the sweep
    flat = lm._replace(flat=True)
    assert rule.pick(flat, "median", 1.4, 0.1) == pytest.approx(0.6 - 0.8)  # auto's placeholder


def test_scorer_uses_the_median_pick(rule):
    from lr_landmark_rule import Scorer

    lm = rule.Landmarks(top=-0.2, ref=0.6, x_min=-0.6, flat=False, lo=-5.0, hi=1.0)
    reps = [{"task": "a", "seed": 0, "epochs": 2, "landmarks": lm}]
    scorer = Scorer(reps, lambda rep, lr: lr, {"a": [lm, lm._replace(x_min=-0.4)]},
                    pick_of=rule.pick)
    assert scorer.regret(0, ("median", 1.4, 0.1)) == pytest.approx(10 ** -0.5)
    assert scorer.spread(("median", 1.4, 0.1))["a"] == pytest.approx(0.2 / 2 ** 0.5)
