"""The One Cycle family against closed forms written independently here, and PyTorch itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from superconverge.errors import ArgumentError
from superconverge.schedules import OneCycleSchedule, Phase, PiecewiseSchedule, join


# -- independent closed forms ------------------------------------------------------------------
def smith_closed_form(i, max_lr, total, div=10.0, tail=0.1, factor=100.0):
    """LR of Smith's policy at step i, written out directly."""
    low = max_lr / div
    last = total - 1
    cycle_end = (1 - tail) * last
    peak = cycle_end / 2
    if i <= 0:
        return low
    if i <= peak:
        return low + (max_lr - low) * i / peak
    if i <= cycle_end:
        return max_lr - (max_lr - low) * (i - peak) / (cycle_end - peak)
    if i >= last:
        return low / factor
    return low - (low - low / factor) * (i - cycle_end) / (last - cycle_end)


def smith_momentum_closed_form(i, total, hi=0.95, lo=0.85, tail=0.1):
    last = total - 1
    cycle_end = (1 - tail) * last
    peak = cycle_end / 2
    if i <= peak:
        return hi - (hi - lo) * max(i, 0) / peak
    if i <= cycle_end:
        return lo + (hi - lo) * (i - peak) / (cycle_end - peak)
    return hi


def fastai_sched_cos(start, end, pos):
    # fastai.callback.schedule.SchedCos
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def fastai_combined_cos(pct, start, middle, end, pos):
    # fastai's combine_scheds([pct, 1-pct], [SchedCos(start, middle), SchedCos(middle, end)])
    if pos < pct:
        return fastai_sched_cos(start, middle, pos / pct)
    return fastai_sched_cos(middle, end, (pos - pct) / (1 - pct))


# -- the default policy ------------------------------------------------------------------------
@pytest.mark.parametrize("total", [3, 10, 101, 1000, 12345])
def test_smith_default_matches_closed_form(total):
    policy = OneCycleSchedule.smith(0.8, total)
    steps = np.arange(total)
    expected = [smith_closed_form(i, 0.8, total) for i in steps]
    np.testing.assert_allclose(policy.lr(steps), expected, rtol=1e-12, atol=1e-15)
    expected_m = [smith_momentum_closed_form(i, total) for i in steps]
    np.testing.assert_allclose(policy.momentum(steps), expected_m, rtol=1e-12)


def test_step_contract_start_final_and_clamping():
    policy = OneCycleSchedule.smith(1.0, 1000)
    assert policy.lr(0) == pytest.approx(0.1)
    assert policy.lr(999) == pytest.approx(0.001)
    assert policy.momentum(0) == pytest.approx(0.95)
    assert policy.momentum(999) == pytest.approx(0.95)
    # clamps past the end and before the start: no bump back up
    assert policy.lr([1000, 5000, 10**9]) == pytest.approx([0.001] * 3)
    assert policy.lr(-5) == pytest.approx(0.1)
    assert policy.max_lr == 1.0 and policy.min_lr == pytest.approx(0.1)
    assert policy.lr(np.arange(999, 2000)).max() == pytest.approx(0.001)


def test_peak_is_at_half_the_cycle_and_is_max_lr():
    policy = OneCycleSchedule.smith(2.0, 1001)  # last step 1000, cycle ends at 900, peak at 450
    assert policy.lr(450) == pytest.approx(2.0)
    assert policy.lr(900) == pytest.approx(0.2)
    assert policy.momentum(450) == pytest.approx(0.85)
    assert np.argmax(policy.lr(np.arange(1001))) == 450


def test_huge_step_counts_stay_exact():
    total = 10**12
    policy = OneCycleSchedule.smith(1.0, total)
    last = total - 1
    assert policy.lr(0) == pytest.approx(0.1)
    assert policy.lr(last) == pytest.approx(0.001, rel=1e-9)
    assert policy.lr(0.45 * last) == pytest.approx(1.0, rel=1e-9)
    assert policy.lr(last // 4) == pytest.approx(smith_closed_form(last // 4, 1.0, total), rel=1e-9)
    assert policy.lr(10 * total) == pytest.approx(0.001)


@pytest.mark.parametrize(
    ("kwargs", "check"),
    [
        ({"peak": 0.3}, lambda p: np.argmax(p.lr(np.arange(1001))) == 270),
        ({"annihilation_fraction": 0.0}, lambda p: p.final_lr == pytest.approx(0.1)),
        ({"annihilation_factor": 10.0}, lambda p: p.lr(1000) == pytest.approx(0.01)),
        ({"min_lr": 0.5}, lambda p: p.lr(0) == pytest.approx(0.5)),
        ({"div": 4.0}, lambda p: p.lr(0) == pytest.approx(0.25)),
        ({"cycle_momentum": False}, lambda p: p.momentum(10) is None),
        ({"max_momentum": 0.9, "min_momentum": 0.8}, lambda p: p.momentum(450) == 0.8),
    ],
)
def test_options(kwargs, check):
    assert check(OneCycleSchedule.smith(1.0, 1001, **kwargs))


def test_cosine_interpolation_is_half_cosine_between_breakpoints():
    policy = OneCycleSchedule.smith(1.0, 1001, interpolation="cos")
    # quarter of the way up the first phase (0 -> 450): (1 - cos(pi/4)) / 2 of the way
    expected = 0.1 + 0.9 * (1 - math.cos(math.pi / 4)) / 2
    assert policy.lr(112.5) == pytest.approx(expected)
    assert policy.lr(450) == pytest.approx(1.0)


# -- presets -----------------------------------------------------------------------------------
@pytest.mark.parametrize("total", [4, 97, 1000])
def test_fastai_preset_matches_fit_one_cycle(total):
    policy = OneCycleSchedule.fastai(0.01, total)
    for i in range(total):
        pos = i / total
        lr = fastai_combined_cos(0.25, 0.01 / 25, 0.01, 0.01 / 1e5, pos)
        mom = fastai_combined_cos(0.25, 0.95, 0.85, 0.95, pos)
        assert policy.lr(i) == pytest.approx(lr, rel=1e-12, abs=1e-18)
        assert policy.momentum(i) == pytest.approx(mom, rel=1e-12)


torch = pytest.importorskip("torch")  # torch is pinned in requirements.lock: always present in CI


def _torch_one_cycle(total, three_phase, anneal="cos", pct=0.3):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.4, total_steps=total, three_phase=three_phase,
        anneal_strategy=anneal, pct_start=pct,
    )
    lrs, moms = [], []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        moms.append(optimizer.param_groups[0]["momentum"])
        optimizer.step()
        scheduler.step()
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("total", [20, 333, 1000])
def test_pytorch_preset_matches_torch_one_cycle_lr(three_phase, anneal, total):
    lrs, moms = _torch_one_cycle(total, three_phase, anneal)
    policy = OneCycleSchedule.pytorch(0.4, total, three_phase=three_phase, anneal_strategy=anneal)
    steps = np.arange(total)
    np.testing.assert_allclose(policy.lr(steps), lrs, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(policy.momentum(steps), moms, rtol=1e-10)


def test_pytorch_preset_clamps_where_torch_would_bounce_or_raise():
    policy = OneCycleSchedule.pytorch(0.4, 100)
    final = 0.4 / 25 / 1e4
    assert policy.lr([99, 100, 150]) == pytest.approx([final] * 3)


# -- phases as data, config --------------------------------------------------------------------
def test_join_and_boundaries():
    schedule = join(Phase(0.0, 1.0, 4.0), Phase(1.0, 1.0, 0.0), Phase(1.0, 0.0, 6.0, "cos"))
    assert schedule.span == 10.0
    assert schedule.boundaries == (4.0, 4.0, 10.0)
    assert schedule([0, 2, 4, 7, 10, 11]) == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.0])


@pytest.mark.parametrize(
    "policy",
    [
        OneCycleSchedule.smith(1.0, 500),
        OneCycleSchedule.smith(1.0, 500, cycle_momentum=False),
        OneCycleSchedule.fastai(0.1, 77),
        OneCycleSchedule.pytorch(0.4, 1000, three_phase=True),
    ],
)
def test_config_round_trip(policy):
    import json

    config = json.loads(json.dumps(policy.to_config()))
    again = OneCycleSchedule.from_config(config)
    assert again == policy
    steps = np.arange(0, 1200, 3)
    np.testing.assert_array_equal(again.lr(steps), policy.lr(steps))
    assert again.name == policy.name


def test_summary_mentions_every_phase():
    text = OneCycleSchedule.smith(1.0, 100).summary()
    assert "100 optimizer steps" in text
    assert text.count("phase") == 3


# -- bad arguments -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_lr": 0.0}, "max_lr must be a positive"),
        ({"max_lr": -1.0}, "max_lr must be a positive"),
        ({"max_lr": float("nan")}, "max_lr must be a positive"),
        ({"min_lr": 2.0}, "min_lr .* must not exceed max_lr"),
        ({"peak": 1.5}, "peak must lie in"),
        ({"annihilation_fraction": -0.1}, "annihilation_fraction must lie in"),
        ({"total_steps": 2}, "fewer than the 3 phases"),
        ({"total_steps": 10.5}, "whole number"),
        ({"interpolation": "cubic"}, "interpolation must be one of"),
        ({"max_momentum": 1.0}, "max_momentum must lie in"),
        ({"min_momentum": 0.99}, "min_momentum .* must not exceed"),
    ],
)
def test_invalid_arguments_say_what_to_change(kwargs, message):
    args = {"max_lr": 1.0, "total_steps": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        OneCycleSchedule.smith(args.pop("max_lr"), args.pop("total_steps"), **args)


def test_fractions_compared_with_tolerance():
    # 0.1 + 0.2 style rounding must not be rejected
    policy = OneCycleSchedule.smith(1.0, 100, annihilation_fraction=1.0000000000000002)
    assert policy.lr(0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="pct_start"):
        OneCycleSchedule.pytorch(0.4, 100, pct_start=0.6, three_phase=True)


def test_exp_phase_is_geometric():
    # start · (end/start)^t: equal ratios between equally spaced steps, ends exact
    schedule = join(Phase(1e-4, 1.0, 8.0, "exp"))
    values = schedule(np.arange(9))
    np.testing.assert_allclose(values, 1e-4 * 10.0 ** (np.arange(9) / 2), rtol=1e-12)
    # a stretched part of the curve: from t = 0.5 to 1, i.e. 1e-2 -> 1 over 4 steps
    half = join(Phase(1e-4, 1.0, 4.0, "exp", curve_from=0.5))
    np.testing.assert_allclose(half(np.arange(5)), 1e-2 * 10.0 ** (np.arange(5) / 2),
                               rtol=1e-12)


def test_phase_validation():
    with pytest.raises(ValueError, match="length"):
        Phase(0.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="start > 0 and end > 0"):
        Phase(0.0, 1.0, 5.0, "exp")
    with pytest.raises(ValueError, match="interpolation"):
        Phase(0.1, 1.0, 5.0, "cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Phase(0.0, float("inf"), 1.0)
    with pytest.raises(ValueError, match="at least one phase"):
        PiecewiseSchedule(())
    with pytest.raises(ValueError, match="NaN"):
        join(Phase(0.0, 1.0, 1.0))(float("nan"))


def test_schedule_is_immutable():
    policy = OneCycleSchedule.smith(1.0, 100)
    with pytest.raises(AttributeError):
        policy.total_steps = 5  # type: ignore[misc]


# -- properties --------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    max_lr=st.floats(1e-5, 10.0),
    div=st.floats(1.0, 100.0),
    total=st.integers(3, 10**7),
    peak=st.floats(0.05, 0.95),
    tail=st.floats(0.0, 0.5),
    interpolation=st.sampled_from(["linear", "cos"]),
)
# found by hypothesis: phase lengths summing to T-1 plus one ulp, and a vanishing last phase
@example(max_lr=1.0, div=1.0, total=3, peak=0.625, tail=1e-12, interpolation="linear")
@example(max_lr=1.0, div=1.0, total=3, peak=0.5, tail=1.9e-131, interpolation="linear")
def test_policy_stays_within_its_bounds_and_is_continuous(
    max_lr, div, total, peak, tail, interpolation
):
    policy = OneCycleSchedule.smith(
        max_lr, total, div=div, peak=peak, annihilation_fraction=tail,
        interpolation=interpolation,
    )
    steps = np.linspace(0, total - 1, 2001)
    lr = policy.lr(steps)
    assert np.all(lr <= max_lr * (1 + 1e-12))
    assert np.all(lr >= policy.final_lr * (1 - 1e-12))
    assert lr[0] == pytest.approx(max_lr / div)
    assert lr[-1] == pytest.approx(policy.final_lr)
    # continuity: neighbouring samples differ by at most the steepest phase slope * spacing
    spacing = steps[1] - steps[0]
    slopes = [abs(p.end - p.start) / p.length for p in policy.lr_schedule.phases if p.length]
    bound = max(slopes) * spacing * (math.pi / 2 if interpolation == "cos" else 1.0)
    assert np.max(np.abs(np.diff(lr))) <= bound * (1 + 1e-9) + 1e-15
    momentum = policy.momentum(steps)
    assert np.all((momentum >= 0.85 - 1e-12) & (momentum <= 0.95 + 1e-12))


# -- how the LR ends (lr_end): closed forms ------------------------------------------------------
@pytest.mark.parametrize("total", [3, 11, 1001, 1688])
def test_zero_half_decays_linearly_from_max_to_zero_over_the_second_half(total):
    max_lr, min_lr = 0.6, 0.06
    policy = OneCycleSchedule.smith(max_lr, total, end="zero_half")
    last = total - 1
    steps = np.arange(total, dtype=float)
    half = last / 2
    expected = np.where(steps <= half, min_lr + (max_lr - min_lr) * steps / half,
                        max_lr * (last - steps) / half)
    np.testing.assert_allclose(policy.lr(steps), expected, rtol=1e-12, atol=1e-15)
    assert policy.lr(last) == 0.0 and policy.final_lr == 0.0 and policy.lr(10 * total) == 0.0
    expected_m = np.where(steps <= half, 0.95 - 0.1 * steps / half,
                          0.85 + 0.1 * (steps - half) / half)
    np.testing.assert_allclose(policy.momentum(steps), expected_m, rtol=1e-12)


@pytest.mark.parametrize("total", [11, 1001])
def test_zero_tail_ends_at_zero_and_equals_the_default_before_the_tail(total):
    default = OneCycleSchedule.smith(1.0, total)
    policy = OneCycleSchedule.smith(1.0, total, end="zero_tail")
    last = total - 1
    tail_start = 0.9 * last
    steps = np.arange(total, dtype=float)
    before = steps <= tail_start
    np.testing.assert_allclose(policy.lr(steps[before]), default.lr(steps[before]), rtol=1e-12)
    after = steps[~before]
    np.testing.assert_allclose(policy.lr(after), 0.1 * (last - after) / (last - tail_start),
                               rtol=1e-9, atol=1e-15)
    assert policy.lr(last) == 0.0
    np.testing.assert_allclose(policy.momentum(steps), default.momentum(steps))


def test_zero_half_round_trips_through_its_config():
    policy = OneCycleSchedule.smith(0.5, 100, end="zero_half", peak=0.3)
    assert OneCycleSchedule.from_config(policy.to_config()).lr(np.arange(100)).tolist() == \
        policy.lr(np.arange(100)).tolist()
    assert np.argmax(policy.lr(np.arange(100))) == round(0.3 * 99)


# -- warm-up + cosine (lr_shape = "warmup_cosine"): closed form --------------------------------
@pytest.mark.parametrize("total", [10, 101, 3376])
def test_warmup_cosine_is_linear_then_cosine_to_zero(total):
    max_lr = 0.7
    policy = OneCycleSchedule.warmup_cosine(max_lr, total)
    w = 0.1 * total
    steps = np.arange(total, dtype=float)
    expected = np.where(steps <= w, max_lr * steps / w,
                        max_lr * (1 + np.cos(np.pi * (steps - w) / (total - w))) / 2)
    np.testing.assert_allclose(policy.lr(steps), expected, rtol=1e-12, atol=1e-15)
    assert policy.lr(0) == 0.0 and policy.max_lr == max_lr and policy.final_lr == 0.0
    assert policy.lr(10 * total) == 0.0
    expected_m = np.where(steps <= w, 0.95 - 0.1 * steps / w,
                          0.85 + 0.1 * (1 - np.cos(np.pi * (steps - w) / (total - w))) / 2)
    np.testing.assert_allclose(policy.momentum(steps), expected_m, rtol=1e-12)
    constant = OneCycleSchedule.warmup_cosine(max_lr, total, max_momentum=0.9, min_momentum=0.9)
    np.testing.assert_allclose(constant.momentum(steps), 0.9, rtol=1e-12)
    assert OneCycleSchedule.from_config(policy.to_config()).lr(steps).tolist() == \
        policy.lr(steps).tolist()


def test_warmup_cosine_checks_its_arguments():
    with pytest.raises(ValueError, match="warmup_fraction"):
        OneCycleSchedule.warmup_cosine(1.0, 100, warmup_fraction=1.5)
    with pytest.raises(ValueError, match="final_lr"):
        OneCycleSchedule.warmup_cosine(1.0, 100, final_lr=2.0)
    with pytest.raises(ValueError, match="start_lr"):
        OneCycleSchedule.warmup_cosine(1.0, 100, start_lr=math.nan)


# -- warm-up + linear decay (lr_shape = "warmup_linear"): closed form --------------------------
@pytest.mark.parametrize("total", [10, 101, 3376])
@pytest.mark.parametrize("warmup_fraction", [0.1, 0.25])
def test_warmup_linear_is_linear_up_then_linear_to_zero(total, warmup_fraction):
    max_lr = 0.7
    policy = OneCycleSchedule.warmup_linear(max_lr, total, warmup_fraction=warmup_fraction)
    w = warmup_fraction * total
    steps = np.arange(total, dtype=float)
    expected = np.where(steps <= w, max_lr * steps / w,
                        max_lr * (1 - (steps - w) / (total - w)))
    np.testing.assert_allclose(policy.lr(steps), expected, rtol=1e-12, atol=1e-15)
    assert policy.name == "warmup_linear"
    assert policy.lr(0) == 0.0 and policy.max_lr == max_lr and policy.final_lr == 0.0
    assert policy.lr(10 * total) == 0.0 and policy.lr(-5) == 0.0
    expected_m = np.where(steps <= w, 0.95 - 0.1 * steps / w,
                          0.85 + 0.1 * (steps - w) / (total - w))
    np.testing.assert_allclose(policy.momentum(steps), expected_m, rtol=1e-12)
    # the decay is a straight line: equal steps lose equal LR
    decay = policy.lr(np.arange(int(np.ceil(w)) + 1, total, dtype=float))
    np.testing.assert_allclose(np.diff(decay), -max_lr / (total - w), rtol=1e-9)
    assert OneCycleSchedule.from_config(policy.to_config()).lr(steps).tolist() == \
        policy.lr(steps).tolist()


def test_warmup_linear_ends_at_final_lr_and_checks_its_arguments():
    policy = OneCycleSchedule.warmup_linear(1.0, 1000, start_lr=0.1, final_lr=0.01)
    assert policy.lr(0) == pytest.approx(0.1) and policy.final_lr == pytest.approx(0.01)
    assert policy.lr(999) == pytest.approx(0.01 + 0.99 / 900, rel=1e-9)
    with pytest.raises(ValueError, match="warmup_fraction"):
        OneCycleSchedule.warmup_linear(1.0, 100, warmup_fraction=-0.1)
    with pytest.raises(ValueError, match="final_lr"):
        OneCycleSchedule.warmup_linear(1.0, 100, final_lr=2.0)
    with pytest.raises(ValueError, match="max_lr"):
        OneCycleSchedule.warmup_linear(0.0, 100)
    with pytest.raises(ValueError, match="interpolation"):
        OneCycleSchedule.warmup_decay(1.0, 100, decay="step")
    assert OneCycleSchedule.warmup_decay(1.0, 100, decay="linear") == \
        OneCycleSchedule.warmup_linear(1.0, 100)


def test_unknown_lr_end_is_refused():
    with pytest.raises(ValueError, match="end must be one of"):
        OneCycleSchedule.smith(1.0, 100, end="cosine")


def test_presets_by_name_equal_the_classmethods_and_typos_name_the_argument():
    from superconverge.schedules import PRESETS, one_cycle_schedule

    assert set(PRESETS) == {"smith", "warmup_cosine", "warmup_linear", "fastai", "pytorch",
                            "pytorch_three_phase"}
    assert one_cycle_schedule("smith", 1.0, 100) == OneCycleSchedule.smith(1.0, 100)
    assert one_cycle_schedule("pytorch_three_phase", 1.0, 100) == OneCycleSchedule.pytorch(
        1.0, 100, three_phase=True)
    fastai_no_mom = one_cycle_schedule("fastai", 1.0, 100, cycle_momentum=False)
    assert fastai_no_mom.momentum_schedule is None
    with pytest.raises(ArgumentError, match="takes no 'min_momentm'"):
        one_cycle_schedule("smith", 1.0, 100, min_momentm=0.5)
    with pytest.raises(ArgumentError, match="takes no 'min_lr'"):
        one_cycle_schedule("fastai", 1.0, 100, min_lr=0.1)
    with pytest.raises(ArgumentError, match="unknown One Cycle preset"):
        one_cycle_schedule("smtih", 1.0, 100)


def test_schedule_is_a_frozen_dataclass_and_the_old_call_says_what_to_use():
    import dataclasses

    policy = OneCycleSchedule.smith(1.0, 100)
    assert dataclasses.is_dataclass(policy)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.total_steps = 5
    assert hash(policy) == hash(OneCycleSchedule.smith(1.0, 100))
    assert policy != OneCycleSchedule.smith(1.0, 101)
    rebuilt = OneCycleSchedule(policy.lr_schedule, 100, policy.momentum_schedule, "smith")
    assert rebuilt == policy
    with pytest.raises(TypeError, match=r"OneCycleSchedule\.smith\(max_lr, total_steps"):
        OneCycleSchedule(1.0, 100)


# -- stretching the rest of a cycle (a budgeted run that turns out faster or slower) ----------
@settings(max_examples=60, deadline=None)
@given(preset=st.sampled_from(["warmup_cosine", "warmup_linear", "smith", "pytorch"]),
       total=st.integers(20, 3000), at_share=st.floats(0.0, 0.99),
       ratio=st.floats(0.05, 3.0))
def test_stretch_against_its_closed_form(preset, total, at_share, ratio):
    """stretched(s) = S(s) for s <= s0 and S(s0 + (s - s0)/k) after, k = (T' - s0)/(T - s0),
    for the LR and the momentum, whatever the phase s0 falls in."""
    from superconverge.schedules import PRESETS, stretch

    schedule = PRESETS[preset](0.8, total)
    at = min(int(at_share * total), total - 1)
    new_total = max(at + 1, round(at + (total - at) * ratio))
    stretched = stretch(schedule, at, new_total)
    assert stretched.total_steps == new_total
    k = (new_total - at) / (total - at)
    s = np.arange(new_total + 3, dtype=float)
    source = np.where(s <= at, s, at + (s - at) / k)
    np.testing.assert_allclose(stretched.lr(s), schedule.lr(source), rtol=0, atol=1e-12)
    np.testing.assert_allclose(stretched.momentum(s), schedule.momentum(source), atol=1e-12)
    # a policy as data: the stretched schedule survives its file format
    again = OneCycleSchedule.from_config(stretched.to_config())
    np.testing.assert_allclose(again.lr(s), stretched.lr(s), atol=0)


def test_stretch_keeps_a_plain_schedule_file_plain_and_checks_its_arguments():
    from superconverge.schedules import stretch

    schedule = OneCycleSchedule.warmup_cosine(0.5, 100)
    assert "curve_from" not in str(schedule.to_config())  # the file format of every preset
    assert stretch(schedule, 30, 100) is schedule
    split = stretch(schedule, 30, 150).lr_schedule.phases
    assert [round(p.length, 9) for p in split] == [10.0, 20.0, 120.0]
    assert split[1].curve_to == pytest.approx(split[2].curve_from) == pytest.approx(20 / 90)
    for at, new_total in ((100, 120), (-1, 120), (30, 30)):
        with pytest.raises(ArgumentError):
            stretch(schedule, at, new_total)
    with pytest.raises(ArgumentError, match="curve_from/curve_to"):
        Phase(0.0, 1.0, 10.0, "cos", curve_from=0.6, curve_to=0.5)
