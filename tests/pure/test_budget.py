"""The wall-clock budget planner (pure: timings are made up, the answers are closed forms)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from superconverge.budget import BudgetError, parse_duration, plan_epochs
from superconverge.errors import ArgumentError


@pytest.mark.parametrize(("text", "seconds"), [
    ("300", 300), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2.5m", 150), ("1h", 3600),
    (45, 45), (2.5, 2.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "", "m", "-3", "0", "five minutes", True])
def test_bad_durations_are_refused(text):
    with pytest.raises(ArgumentError, match="duration"):
        parse_duration(text)


def test_plan_is_the_closed_form():
    # 300 s budget, 5% margin -> 285 s; 40 s spent -> 245 s; epoch = 422 × 0.05 + 3 = 24.1 s
    plan = plan_epochs(300, spent_seconds=40, step_seconds=0.05, steps_per_epoch=422,
                       epoch_overhead_seconds=3)
    assert plan.epochs == math.floor(245 / 24.1) == 10
    assert plan.total_steps == 4220
    assert plan.planned_seconds == pytest.approx(40 + 10 * 24.1)
    assert plan.planned_seconds <= 300 * 0.95
    assert "10 epoch(s)" in plan.summary()


def test_once_per_run_seconds_come_off_the_budget_before_the_epochs():
    # 285 - 40 - 30.5 = 214.5 s for epochs of 24.1 s -> 8 epochs (10 without the 30.5 s)
    plan = plan_epochs(300, spent_seconds=40, step_seconds=0.05, steps_per_epoch=422,
                       epoch_overhead_seconds=3, final_seconds=30.5)
    assert plan.epochs == math.floor(214.5 / 24.1) == 8
    assert plan.planned_seconds == pytest.approx(40 + 8 * 24.1 + 30.5)
    assert plan.to_dict()["final_seconds"] == 30.5 and "30.5 s once" in plan.summary()
    with pytest.raises(BudgetError, match="34 s after it"):
        plan_epochs(100, spent_seconds=40, step_seconds=0.05, steps_per_epoch=422,
                    final_seconds=34)  # 95 - 40 - 34 = 21 s < one 21.1 s epoch


def test_a_budget_that_cannot_hold_one_epoch_says_what_would():
    with pytest.raises(BudgetError, match=r"cannot hold one epoch.*at least 1 min 05 s"):
        plan_epochs(60, spent_seconds=20, step_seconds=0.1, steps_per_epoch=400,
                    epoch_overhead_seconds=1.75)  # (20 + 41.75) / 0.95 = 65 s


@pytest.mark.parametrize("kwargs", [
    {"step_seconds": 0}, {"step_seconds": float("nan")}, {"spent_seconds": -1},
    {"steps_per_epoch": 0}, {"margin": 1.0}, {"final_seconds": -0.5},
    {"final_seconds": float("inf")},
])
def test_impossible_timings_are_refused(kwargs):
    args = {"spent_seconds": 0.0, "step_seconds": 0.1, "steps_per_epoch": 10, **kwargs}
    with pytest.raises(ArgumentError):
        plan_epochs(100, **args)


@given(budget=st.floats(1, 1e5), spent=st.floats(0, 1e4), step=st.floats(1e-4, 10),
       steps=st.integers(1, 5000), overhead=st.floats(0, 100), final=st.floats(0, 1e3))
def test_the_plan_never_exceeds_the_budget_and_one_more_epoch_would(budget, spent, step, steps,
                                                                     overhead, final):
    try:
        plan = plan_epochs(budget, spent_seconds=spent, step_seconds=step,
                           steps_per_epoch=steps, epoch_overhead_seconds=overhead,
                           final_seconds=final)
    except BudgetError:
        assert spent + final + steps * step + overhead > budget * 0.95 * (1 - 1e-12)
        return
    assert plan.epochs >= 1
    assert plan.planned_seconds <= budget * 0.95 * (1 + 1e-12)
    assert plan.planned_seconds + plan.epoch_seconds > budget * 0.95 * (1 - 1e-12)
