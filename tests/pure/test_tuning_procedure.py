"""Smith's weight-decay / batch-norm-momentum search as pure logic: grids, bisection, plan."""

from __future__ import annotations

import math

import pytest

from superconverge.regularization import recommended_bn_momentum
from superconverge.tuning.procedure import (
    BN_MOMENTUM_CANDIDATES,
    Candidate,
    Evaluation,
    SearchSpec,
    bisect_weight_decay,
    bn_momentum_candidates,
    decide,
    default_bn_momentum,
    exponent,
    plan_next,
    rescale_bn_momentum,
    weight_decay_candidates,
    zero_exponent,
)


# -- candidate lists ------------------------------------------------------------------------
def test_default_grid_is_smiths():
    assert weight_decay_candidates() == (1e-3, 1e-4, 1e-5, 0.0)
    assert weight_decay_candidates("deep") == (1e-4, 1e-5, 1e-6, 0.0)
    assert weight_decay_candidates("shallow") == (1e-2, 1e-3, 1e-4, 0.0)


def test_custom_grid_sorted_and_deduplicated():
    assert weight_decay_candidates([0, 1e-4, 1e-3, 1e-4]) == (1e-3, 1e-4, 0.0)


@pytest.mark.parametrize("bad", [[-1e-4], [math.nan], [math.inf]])
def test_grid_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="finite and >= 0"):
        weight_decay_candidates(bad)


def test_unknown_grid_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="deep"):
        weight_decay_candidates("huge")


def test_bn_candidates_include_default_and_stay_in_range():
    assert bn_momentum_candidates(0.976) == (0.9, 0.95, 0.976, 0.99, 0.999)
    assert bn_momentum_candidates(0.9) == BN_MOMENTUM_CANDIDATES
    assert bn_momentum_candidates(0.95, [0.5, 0.95, 0.9999]) == (0.95,)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        bn_momentum_candidates(0.9, [1.0])


# -- batch-norm momentum default --------------------------------------------------------------
@pytest.mark.parametrize(
    ("steps", "expected"), [(158, 0.9), (1688, 0.9763), (100_000, 0.999), (1, 0.9)]
)
def test_default_bn_momentum_from_run_length(steps, expected):
    assert default_bn_momentum(steps) == pytest.approx(expected, abs=1e-4)
    assert default_bn_momentum(steps) == recommended_bn_momentum(steps)


def test_default_bn_time_constant_fits_four_times_into_the_annihilation():
    steps = 4000  # unclipped: 1 - 4 / 400 = 0.99
    m = default_bn_momentum(steps)
    tau = 1 / (1 - m)
    assert 4 * tau == pytest.approx(0.1 * steps, rel=1e-3)
    assert m ** (0.1 * steps) == pytest.approx(math.exp(-4), rel=0.05)


def test_rescale_keeps_the_time_constant_per_run_length():
    # tau = 10 steps on a 100-step run -> 40 steps on a 400-step run
    assert rescale_bn_momentum(0.9, 100, 400) == pytest.approx(0.975)
    assert rescale_bn_momentum(0.95, 200, 200) == 0.95
    assert rescale_bn_momentum(0.9, 400, 100) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        rescale_bn_momentum(0.9, 0, 10)
    with pytest.raises(ValueError):
        rescale_bn_momentum(1.0, 10, 10)


# -- bisection of the exponent ----------------------------------------------------------------
def test_zero_sits_one_decade_below_the_smallest_value():
    assert zero_exponent([1e-3, 1e-4, 1e-5, 0.0]) == -6.0
    assert zero_exponent([0.0]) == -6.0
    assert exponent(0.0, -6.0) == -6.0
    assert exponent(1e-4, -6.0) == pytest.approx(-4.0)


def test_bisect_between_the_two_best_smiths_example():
    # 1e-3 and 1e-4 best -> 10^-3.5 ~ 3.16e-4
    results = {1e-3: 0.50, 1e-4: 0.52, 1e-5: 0.60, 0.0: 0.65}
    assert bisect_weight_decay(results) == pytest.approx(3.162e-4)
    assert bisect_weight_decay(results) == round(10**-3.5, 7)


def test_bisect_uses_the_better_neighbour_of_the_best():
    # best 1e-4; neighbours 1e-3 (0.6) and 1e-5 (0.55): toward 1e-5
    results = {1e-3: 0.60, 1e-4: 0.50, 1e-5: 0.55, 0.0: 0.58}
    assert bisect_weight_decay(results) == pytest.approx(10**-4.5, rel=1e-3)
    # non-adjacent second best does not pull the midpoint across the best
    results = {1e-3: 0.51, 1e-4: 0.50, 1e-5: 0.70, 0.0: 0.52}
    assert bisect_weight_decay(results) == pytest.approx(10**-3.5, rel=1e-3)


def test_bisect_toward_zero_uses_its_exponent():
    results = {1e-3: 0.9, 1e-4: 0.8, 1e-5: 0.5, 0.0: 0.55}
    assert bisect_weight_decay(results) == pytest.approx(10**-5.5, rel=1e-3)
    results = {1e-3: 0.9, 1e-4: 0.8, 1e-5: 0.55, 0.0: 0.5}
    assert bisect_weight_decay(results) == pytest.approx(10**-5.5, rel=1e-3)


def test_repeated_bisection_narrows_and_then_stops():
    results = {1e-3: 0.50, 1e-4: 0.52, 1e-5: 0.60, 0.0: 0.65}
    first = bisect_weight_decay(results)
    results[first] = 0.49  # the midpoint is best: next between it and 1e-3
    second = bisect_weight_decay(results)
    assert math.log10(second) == pytest.approx(-3.25, abs=1e-3)
    results[second] = 0.51
    third = bisect_weight_decay(results)
    assert math.log10(third) == pytest.approx(-3.375, abs=1e-3)
    # converged at 4 significant digits: the midpoint rounds onto a value already tried
    assert bisect_weight_decay({3.162e-4: 0.4, 3.163e-4: 0.5}) is None


def test_bisect_ignores_pruned_runs_and_needs_two_results():
    assert bisect_weight_decay({1e-3: 0.5}) is None
    assert bisect_weight_decay({1e-3: math.inf, 1e-4: math.inf}) is None
    # the pruned 1e-3 is never the best; 1e-4 and its finite neighbour are bisected
    assert bisect_weight_decay({1e-3: math.inf, 1e-4: 0.5, 1e-5: 0.6}) == pytest.approx(
        10**-4.5, rel=1e-3
    )


# -- the plan --------------------------------------------------------------------------------
def _spec(**kw):
    defaults = dict(weight_decays=(1e-3, 1e-4, 1e-5, 0.0), bn_momenta=(0.9, 0.95, 0.99, 0.999),
                    default_bn=0.9, bisections=1)
    return SearchSpec(**{**defaults, **kw})


def _run_plan(spec, loss):
    """Drive plan_next to the end with ``loss(wd, bn)``; return the evaluations in order."""
    evaluations: list[Evaluation] = []
    for _ in range(50):
        todo = plan_next(spec, evaluations)
        if todo is None:
            return evaluations
        for c in todo:
            if not any(c.matches(e.weight_decay, e.bn_momentum) for e in evaluations):
                evaluations.append(Evaluation(c.weight_decay, c.bn_momentum,
                                              loss(c.weight_decay, c.bn_momentum), c.phase))
    raise AssertionError("plan did not finish")


def _bowl(wd, bn):
    """Validation loss with its minimum at wd = 10^-3.4 and bn = 0.95."""
    e = math.log10(wd) if wd > 0 else -6
    return 0.3 + 0.05 * (e + 3.4) ** 2 + 10 * (bn - 0.95) ** 2


def test_plan_runs_grid_then_bisection_then_momenta():
    spec = _spec()
    evaluations = _run_plan(spec, _bowl)
    phases = [e.phase for e in evaluations]
    assert phases == ["weight_decay"] * 4 + ["bisection"] + ["bn_momentum"] * 3
    assert len(evaluations) == spec.max_runs == 8
    assert [e.weight_decay for e in evaluations[:4]] == [1e-3, 1e-4, 1e-5, 0.0]
    assert all(e.bn_momentum == 0.9 for e in evaluations[:5])
    assert evaluations[4].weight_decay == pytest.approx(3.162e-4)
    # the momenta are checked at the chosen weight decay (the bisection point)
    assert {e.bn_momentum for e in evaluations[5:]} == {0.95, 0.99, 0.999}
    assert all(e.weight_decay == pytest.approx(3.162e-4) for e in evaluations[5:])
    decision = decide(spec, evaluations)
    assert decision.weight_decay == pytest.approx(3.162e-4)
    assert decision.bn_momentum == 0.95
    assert "3.16e-04" in decision.reason or "0.000316" in decision.reason


def test_plan_is_a_function_of_what_is_finished():
    spec = _spec()
    evaluations = _run_plan(spec, _bowl)
    # any prefix reproduces the same next step (resume / several workers)
    for k in range(len(evaluations)):
        todo = plan_next(spec, evaluations[:k])
        missing = [c for c in todo
                   if not any(c.matches(e.weight_decay, e.bn_momentum) for e in evaluations[:k])]
        assert missing[0].matches(evaluations[k].weight_decay, evaluations[k].bn_momentum)
    assert plan_next(spec, evaluations) is None


def test_default_momentum_kept_within_tolerance():
    spec = _spec(bn_tolerance=0.05)
    evaluations = _run_plan(spec, lambda wd, bn: 1.0 - (0.02 if bn == 0.95 else 0.0))
    assert decide(spec, evaluations).bn_momentum == 0.9
    assert "principled default kept" in decide(spec, evaluations).reason
    spec = _spec(bn_tolerance=0.01)
    assert decide(spec, _run_plan(spec, lambda wd, bn: 1.0 - (0.02 if bn == 0.95 else 0.0))
                  ).bn_momentum == 0.95


def test_prior_weight_decay_kept_unless_beaten_by_more_than_the_tolerance():
    """The prior (the configured default, in the grid) stays unless the best value's loss is
    more than ``wd_tolerance`` below its own: noise-level differences never overturn it."""
    def landscape(gain):
        return lambda wd, bn: 1.0 - (gain if wd == 1e-3 else 0.0)

    spec = _spec(prior_weight_decay=1e-4, bn_momenta=(), wd_tolerance=0.03)
    evaluations = _run_plan(spec, landscape(0.02))  # 2 % better: within the noise
    decision = decide(spec, evaluations)
    assert decision.weight_decay == 1e-4
    assert "(the default) kept" in decision.reason and "3% below" in decision.reason
    evaluations = _run_plan(spec, landscape(0.05))  # 5 % better: replaces the default
    decision = decide(spec, evaluations)
    assert decision.weight_decay == 1e-3 and "lowest validation loss" in decision.reason
    # tolerance 0: the plain minimum (Smith's rule)
    spec0 = _spec(prior_weight_decay=1e-4, bn_momenta=(), wd_tolerance=0.0)
    assert decide(spec0, _run_plan(spec0, landscape(0.001))).weight_decay == 1e-3
    # the momenta are then checked at the kept prior
    spec = _spec(prior_weight_decay=1e-4, wd_tolerance=0.03)
    evaluations = _run_plan(spec, landscape(0.02))
    assert {e.weight_decay for e in evaluations if e.phase == "bn_momentum"} == {1e-4}


@pytest.mark.parametrize("bad", [-0.01, 1.0, math.nan])
def test_tolerances_must_be_fractions(bad):
    with pytest.raises(ValueError, match="wd_tolerance must lie in"):
        _spec(wd_tolerance=bad)
    with pytest.raises(ValueError, match="bn_tolerance must lie in"):
        _spec(bn_tolerance=bad)


def test_budget_buys_bisection_steps():
    wds, bns = (1e-3, 1e-4, 1e-5, 0.0), (0.9, 0.95, 0.99, 0.999)
    assert SearchSpec.from_budget(wds, bns, 0.9, None).bisections == 1
    assert SearchSpec.from_budget(wds, bns, 0.9, 10).bisections == 3
    spec = SearchSpec.from_budget(wds, bns, 0.9, 7)
    assert spec.bisections == 0 and spec.max_runs == 7
    with pytest.raises(ValueError, match="smaller than the 7 runs"):
        SearchSpec.from_budget(wds, bns, 0.9, 6)


def test_momentum_only_and_weight_decay_only():
    spec = _spec(weight_decays=(), prior_weight_decay=5e-4)
    evaluations = _run_plan(spec, _bowl)
    assert [e.bn_momentum for e in evaluations] == [0.9, 0.95, 0.99, 0.999]
    assert all(e.weight_decay == 5e-4 for e in evaluations)
    assert spec.max_runs == 4
    decision = decide(spec, evaluations)
    assert decision.weight_decay == 5e-4 and decision.bn_momentum == 0.95
    spec = _spec(bn_momenta=())
    evaluations = _run_plan(spec, _bowl)
    assert len(evaluations) == 5 and decide(spec, evaluations).bn_momentum == 0.9


def test_all_pruned_keeps_the_prior():
    spec = _spec(prior_weight_decay=5e-4, bn_momenta=())
    evaluations = _run_plan(spec, lambda wd, bn: math.inf)
    decision = decide(spec, evaluations)
    assert decision.weight_decay == 5e-4
    assert "pruned" in decision.reason


def test_evaluation_round_trip():
    e = Evaluation(1e-4, 0.9, math.inf, "weight_decay", "pruned", None, 1.0, 3, {"loss": [1.0]})
    assert Evaluation.from_dict(e.to_dict()) == e
    assert Candidate("x", 3.162e-4, 0.9).matches(3.1620000001e-4, 0.9)


# -- pruning rule (Optuna, no Keras) ------------------------------------------------------------
def test_hopeless_pruner_stops_only_far_off_or_nonfinite_runs():
    import optuna

    from superconverge.tuning.study import HopelessPruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(pruner=HopelessPruner(ratio=2.0))
    first = study.ask()
    first.report(0.9, 0)
    assert not first.should_prune()  # nothing finished yet: no reference
    first.report(1.0, 1)
    study.tell(first, 0.5)
    for value, step, expected in ((1.5, 0, False), (1.9, 1, False), (2.1, 1, True),
                                  (math.nan, 0, True), (math.inf, 1, True), (100.0, 5, False)):
        trial = study.ask()
        trial.report(value, step)
        assert trial.should_prune() is expected, (value, step)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(ValueError):
        HopelessPruner(ratio=1.0)
