"""benchmarks/lr_landmark_rule.py: the blended rule against its closed form, today's rule as a
special case, and the cross-validation on a hand-made scorer whose right rule is known."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def rule():
    yield from benchmark_module("lr_landmark_rule")


def test_pick_closed_form(rule):
    lm = rule.Landmarks(top=-0.2, ref=0.6, flat=False, lo=-5.0, hi=1.0)
    assert rule.pick(lm, 0.0, 0.8) == pytest.approx(-0.2)       # today: min(x_R, x_div − 0.8)
    assert rule.pick(lm, 0.0, 1.0) == pytest.approx(-0.4)
    assert rule.pick(lm, 1.0, 0.3) == pytest.approx(-0.5)       # back off from the basin top
    assert rule.pick(lm, 0.5, 0.3) == pytest.approx(-0.2)       # 0.2 − 0.3 = −0.1 > x_R
    assert rule.pick(lm, 0.5, 0.6) == pytest.approx(-0.4)
    assert rule.pick(lm, 1.0, 9.0) == pytest.approx(-5.0)       # clamped to the sweep
    flat = lm._replace(flat=True)
    assert rule.pick(flat, 1.0, 0.1) == pytest.approx(0.6 - 0.8)  # auto's placeholder


def test_todays_rule_is_autos_pick(rule):
    """(w, c) = (0, 0.8) reproduces ``auto`` on a synthetic range test: flat, a basin, a cliff."""
    from superconverge.bounds import suggest

    lrs = np.logspace(-4, 1, 120)
    x = np.log10(lrs)
    rng = np.random.default_rng(0)
    loss = 2.3 - 1.5 / (1 + np.exp(-(x + 2) * 4)) + np.where(x > 0, 3 * x**2, 0.0)
    loss = loss + rng.normal(0, 0.01, x.size)
    lm = rule.landmarks_of(lrs, loss)
    today = np.log10(suggest(lrs, loss, method="auto", guard_decades=0.8).max_lr)
    assert rule.pick(lm, 0.0, 0.8) == pytest.approx(today, abs=1e-9)


class FakeScorer:
    """Regret (pick − best)² where the best LR is 0.3 decade below the basin top on every
    curve; the basin top lies 0.5, 1.0 and 1.5 decades below divergence on tasks a, b, c."""

    def __init__(self, rule):
        self.rule = rule
        self.reps = []
        for task, gap in (("a", 0.5), ("b", 1.0), ("c", 1.5)):
            for seed in (0, 1, 2):
                top = -0.5 + 0.1 * seed
                self.reps.append({"task": task, "seed": seed, "epochs": 2,
                                  "landmarks": rule.Landmarks(top, top + gap, False, -5, 1),
                                  "best": top - 0.3})

    def regret(self, i, r):
        rep = self.reps[i]
        return (self.rule.pick(rep["landmarks"], *r) - rep["best"]) ** 2

    def mean_regret(self, idx, r):
        return float(np.mean([self.regret(i, r) for i in idx]))


def test_cross_validation_finds_the_basin_rule_where_the_guard_cannot(rule):
    s = FakeScorer(rule)
    rules = [(w, c) for w in (0.0, 0.5, 1.0) for c in (0.1, 0.3, 0.5, 0.8, 1.3, 1.8)]
    fams = {"guard only": [r for r in rules if r[0] == 0.0], "blend": rules}
    cv = rule.cross_validate(s, lambda r: r["task"], fams)
    h = cv["held_out_regret_pp"]
    assert h["blend"]["mean"] == pytest.approx(0.0)
    assert all(f["blend"]["rule"] == [1.0, 0.3] for f in cv["folds"].values())
    # a guard fitted on two tasks' gaps misses the third's
    assert h["guard only"]["mean"] > 0.1
    best, r = rule.best_rule(s, range(len(s.reps)), rules)
    assert best == (1.0, 0.3) and r == pytest.approx(0.0)
