"""The wall-clock budget planner (pure: timings are made up, the answers are closed forms)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from superconverge.budget import (
    DEFAULT_MARGIN,
    BudgetError,
    fit_costs,
    parse_duration,
    plan_epochs,
)
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
    # margin 0: A = 300 - 40 = 260 s; step 1/16 s, 400 steps and 3 s besides per epoch (28 s).
    # 9 whole epochs: 3600 steps; a 10th epoch: (260 - 30)·16 = 3680 steps; an 11th would need
    # more than 4000 but holds (260 - 33)·16 = 3632: so 3680 steps, the last epoch 80 of them
    plan = plan_epochs(300, spent_seconds=40, step_seconds=1 / 16, steps_per_epoch=400,
                       epoch_overhead_seconds=3, margin=0.0)
    assert (plan.total_steps, plan.epochs, plan.last_epoch_steps) == (3680, 10, 80)
    assert plan.planned_seconds == pytest.approx(40 + 3680 / 16 + 10 * 3) == 300
    assert plan.epoch_seconds == 28
    assert "3680 steps in 10 epoch(s) of 400 steps, the last one 80 steps" in plan.summary()
    assert plan.to_dict()["last_epoch_steps"] == 80 and plan.to_dict()["epochs"] == 10


def test_a_new_epoch_that_would_hold_no_step_is_not_started():
    # A = 29 s: one whole epoch (28 s) leaves 1 s, less than a second epoch's 3 s besides
    plan = plan_epochs(69, spent_seconds=40, step_seconds=1 / 16, steps_per_epoch=400,
                       epoch_overhead_seconds=3, margin=0.0)
    assert (plan.total_steps, plan.epochs, plan.last_epoch_steps) == (400, 1, 400)


def test_the_default_margin_is_kept_free():
    plan = plan_epochs(300, spent_seconds=40, step_seconds=1 / 16, steps_per_epoch=400,
                       epoch_overhead_seconds=3)
    assert plan.margin == DEFAULT_MARGIN == 0.02
    # A = 294 - 40 = 254 s: 9 epochs of 28 s = 252 s leave 2 s, not the 3 s a 10th needs
    assert (plan.total_steps, plan.epochs) == (3600, 9)


def test_once_per_run_seconds_come_off_the_budget_before_the_epochs():
    # 285 - 40 - 30.5 = 214.5 s; epochs of 422 × 0.05 + 3 = 24.1 s: 8 whole epochs (192.8 s),
    # then 21.7 - 3 = 18.7 s of a 9th: 374 steps
    plan = plan_epochs(300, spent_seconds=40, step_seconds=0.05, steps_per_epoch=422,
                       epoch_overhead_seconds=3, final_seconds=30.5, margin=0.05)
    assert (plan.epochs, plan.last_epoch_steps) == (9, 374)
    assert plan.planned_seconds == pytest.approx(40 + (8 * 422 + 374) * 0.05 + 9 * 3 + 30.5)
    assert plan.to_dict()["final_seconds"] == 30.5 and "30.5 s once" in plan.summary()
    with pytest.raises(BudgetError, match="34 s after it"):
        plan_epochs(100, spent_seconds=40, step_seconds=0.05, steps_per_epoch=422,
                    final_seconds=34, margin=0.05)  # 95 - 40 - 34 = 21 s < one 21.1 s epoch


def test_a_budget_that_cannot_hold_one_epoch_says_what_would():
    with pytest.raises(BudgetError, match=r"cannot hold one epoch.*at least 1 min 05 s"):
        plan_epochs(60, spent_seconds=20, step_seconds=0.1, steps_per_epoch=400,
                    epoch_overhead_seconds=1.75, margin=0.05)  # (20 + 41.75) / 0.95 = 65 s
    # room for most of an epoch is still not one epoch
    with pytest.raises(BudgetError, match="cannot hold one epoch"):
        plan_epochs(60, spent_seconds=21, step_seconds=0.1, steps_per_epoch=400, margin=0.0)


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
def test_the_plan_never_exceeds_the_budget_and_one_more_step_would(budget, spent, step, steps,
                                                                    overhead, final):
    limit = budget * (1 - DEFAULT_MARGIN)
    try:
        plan = plan_epochs(budget, spent_seconds=spent, step_seconds=step,
                           steps_per_epoch=steps, epoch_overhead_seconds=overhead,
                           final_seconds=final)
    except BudgetError:
        assert spent + final + steps * step + overhead > limit * (1 - 1e-12)
        return
    assert plan.total_steps >= steps and plan.epochs == math.ceil(plan.total_steps / steps)
    assert 1 <= plan.last_epoch_steps <= steps
    assert plan.planned_seconds <= limit * (1 + 1e-12)
    # one more step: in the last epoch if it has room, else the first of a new epoch
    extra = step + (overhead if plan.last_epoch_steps == steps else 0.0)
    assert plan.planned_seconds + extra > limit * (1 - 1e-12)


@given(available=st.integers(64, 32_000), step=st.integers(3, 320), steps=st.integers(1, 40),
       overhead=st.integers(0, 1280))
def test_the_closed_form_is_the_best_of_every_epoch_count(available, step, steps, overhead):
    # times in 64ths of a second: exact in floating point, so the closed form and the
    # definition must agree to the step. The definition, by brute force: for k epochs,
    # min(k·n, floor((A - k·v)/t)) steps, kept where the k-th epoch holds at least one; at
    # least one whole epoch or no plan
    available, step, overhead = available / 64, step / 64, overhead / 64
    best = 0
    for k in range(1, 2 + int(available / (steps * step + overhead))):
        total = min(k * steps, math.floor((available - k * overhead) / step))
        if total > (k - 1) * steps:
            best = max(best, total)
    try:
        plan = plan_epochs(available, spent_seconds=0, step_seconds=step, steps_per_epoch=steps,
                           epoch_overhead_seconds=overhead, margin=0.0)
    except BudgetError:
        assert best < steps
        return
    assert plan.total_steps == best


def test_fit_costs_separate_the_step_from_a_calls_fixed_cost():
    # a call costs 0.3 s + 0.05 s a step, the first 2 s more: 8 steps 0.7 s, 40 steps 2.3 s
    costs = fit_costs(2.7, [0.7], [2.3], short_steps=8, long_steps=40)
    assert costs.step == pytest.approx(0.05) and costs.per_fit == pytest.approx(0.3)
    assert costs.tracing == pytest.approx(2.0)
    # one call divided by its steps would have said 0.0575 s a step (+15 %)
    assert 2.3 / 40 > 1.14 * costs.step


def test_fit_costs_ignore_one_pair_slowed_by_a_hiccup():
    # the second long call took 0.8 s longer (the machine stalled): its slope 0.075 s a step
    costs = fit_costs(2.7, [0.7, 0.7, 0.71], [2.3, 3.1, 2.31], short_steps=8, long_steps=40)
    assert costs.step == pytest.approx(0.05) and costs.per_fit == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ArgumentError, match="as many short as long"):
        fit_costs(1.0, [0.5], [], short_steps=8, long_steps=40)


def test_fit_costs_without_a_measurable_slope_fall_back_to_the_long_call():
    costs = fit_costs(2.0, [2.0], [2.0], short_steps=8, long_steps=14)
    assert (costs.step, costs.per_fit, costs.tracing) == (pytest.approx(2 / 14), 0.0, 0.0)
    costs = fit_costs(1.0, [1.0], [1.0], short_steps=5, long_steps=5)
    assert costs.step == pytest.approx(0.2) and costs.per_fit == 0.0
