"""benchmarks/lr_budget_rule.py: the rule, the fit and the three cross-validations on a
hand-made regret table whose right guard is known."""

from __future__ import annotations

import math

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def rule():
    yield from benchmark_module("lr_budget_rule")


class FakeTable:
    """Regret ``(γ − γ*(T))²`` with ``γ*(T) = 0.8 − 0.1 log2(T / 100)`` (plus a per-task
    offset ``off``): the right rule is γ₀ = 0.8 (+ off), β = −0.1."""

    def __init__(self, off=0.0):
        self.reps = [{"task": t, "seed": s, "epochs": e, "steps": 100 * e}
                     for t in ("a", "b") for s in (0, 1) for e in (1, 2, 4, 8)]
        self.off = off

    def regret(self, i, guard):
        r = self.reps[i]
        best = 0.8 + (self.off if r["task"] == "b" else 0.0) - 0.1 * math.log2(r["steps"] / 100)
        return (guard - best) ** 2


def test_guard_of(rule):
    assert rule.guard_of(0.8, -0.1, 100, 100) == pytest.approx(0.8)
    assert rule.guard_of(0.8, -0.1, 800, 100) == pytest.approx(0.5)
    assert rule.guard_of(0.2, -0.1, 800, 100) == 0.0  # never below zero


def test_fit_recovers_the_known_rule(rule):
    t = FakeTable()
    g0s = [round(0.5 + 0.05 * k, 2) for k in range(13)]
    betas = [-0.2, -0.15, -0.1, -0.05, 0.0, 0.05]
    g0, beta, r = rule.fit(t, range(len(t.reps)), g0s, betas, 100.0)
    assert (g0, beta) == (0.8, -0.1) and r == pytest.approx(0.0)
    g_free, b_free, r_free = rule.fit(t, range(len(t.reps)), g0s, (0.0,), 100.0)
    assert b_free == 0.0 and r_free > 0.0
    # the best budget-free guard is the mean of γ*(T) over the budgets: 0.8 − 0.15
    assert g_free == pytest.approx(0.65)


def test_cross_validation_prefers_the_budget_term_when_it_is_real(rule):
    t = FakeTable()
    g0s = [round(0.5 + 0.05 * k, 2) for k in range(13)]
    betas = [-0.2, -0.1, 0.0, 0.1]
    for group in (lambda r: r["task"], lambda r: r["seed"], lambda r: r["epochs"]):
        cv = rule.cross_validate(t, group, g0s, betas, 100.0)
        h = cv["held_out_regret_pp"]
        assert h["budget_aware"]["mean"] == pytest.approx(0.0, abs=1e-12)
        assert h["budget_free"]["mean"] > 0.0 and h["current"]["mean"] > 0.0
        assert all(f["budget_aware"]["beta"] == -0.1 for f in cv["folds"].values())
    # a task-specific offset: leave-one-task-out fits γ₀ on the other task and pays for it
    cv = rule.cross_validate(FakeTable(off=0.2), lambda r: r["task"], g0s, betas, 100.0)
    assert cv["folds"]["a"]["budget_aware"]["g0"] == pytest.approx(1.0)
    assert cv["folds"]["a"]["held_out_regret_pp"]["budget_aware"] == pytest.approx(0.04)
