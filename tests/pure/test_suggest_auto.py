"""The ``auto`` method on synthetic range-test curves with a known right answer.

The curve, in ``x = log10(lr)``:

    y(x) = floor + (start - floor) / (1 + exp((x - x_desc) / (width / 2)))     descent
           + expm1(k (x - x_blow)) for x > x_blow                              explosion
           + noise

The descent is 90 % complete at ``x_desc + 1.1·width/2``; the loss has risen back half-way
(our definition of divergence) at ``x_blow + ln(1 + depth/2) / k``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from superconverge.bounds import suggest
from superconverge.bounds.auto import DEFAULT_GUARD_DECADES


def true_loss(x, *, start=2.3, floor=0.4, x_desc=-3.0, width=0.35, x_blow=-0.5, k=6.0):
    x = np.asarray(x, dtype=float)
    desc = floor + (start - floor) / (1 + np.exp((x - x_desc) / (width / 2)))
    return desc + np.where(x > x_blow, np.expm1(k * np.clip(x - x_blow, 0, None)), 0.0)


def make(n=200, lo=-6.0, hi=1.0, noise=0.05, seed=0, **shape):
    x = np.linspace(lo, hi, n)
    y = true_loss(x, **shape) + noise * np.random.default_rng(seed).standard_normal(n)
    return 10**x, y


def true_divergence_x(*, start=2.3, floor=0.4, x_blow=-0.5, k=6.0, **_):
    return x_blow + math.log1p((start - floor) / 2) / k


def _check_in_bracket(s, shape, tol_frac=0.15):
    """Loss at max_lr is low (within tol_frac of the depth above the floor) and max_lr is at
    about the guard below the true divergence (0.1 decade allowed for locating it)."""
    x = math.log10(s.max_lr)
    start, floor = shape.get("start", 2.3), shape.get("floor", 0.4)
    assert true_loss(x, **shape) <= floor + tol_frac * (start - floor), s.reason
    assert x <= true_divergence_x(**shape) - (DEFAULT_GUARD_DECADES - 0.1), s.reason
    assert s.min_lr == pytest.approx(s.max_lr / 10)


SHAPES = {
    "standard": {},
    "early_descent": {"x_desc": -4.5},
    "late_descent": {"x_desc": -2.0, "width": 0.6},
    "steep_blowup": {"k": 20.0},
    "gentle_blowup": {"k": 2.0, "x_blow": -1.0},
    "shallow": {"start": 2.3, "floor": 1.9},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_known_bracket_and_stable_under_noise(name: str) -> None:
    shape = SHAPES[name]
    picks = []
    for seed in range(5):
        s = suggest(*make(seed=seed, **shape))
        _check_in_bracket(s, shape)
        assert s.confidence >= 0.6, s.reason
        assert s.diagnostics["diverged"]
        picks.append(math.log10(s.max_lr))
    assert max(picks) - min(picks) < 0.15  # decades


@pytest.mark.parametrize("noise", [0.0, 0.01, 0.1, 0.25])
def test_noise_levels(noise: float) -> None:
    s = suggest(*make(noise=noise, seed=3))
    _check_in_bracket(s, {}, tol_frac=0.2)
    # more noise, less (or equal) confidence
    assert 0.0 <= s.confidence <= 1.0


def test_confidence_decreases_with_noise() -> None:
    confs = [suggest(*make(noise=nz, seed=1)).confidence for nz in (0.02, 0.3, 0.6)]
    assert confs[0] >= confs[1] >= confs[2]
    assert confs[0] > confs[2]


@pytest.mark.parametrize("n", [30, 60, 500, 3000])
def test_number_of_points(n: int) -> None:
    s = suggest(*make(n=n, seed=2))
    _check_in_bracket(s, {}, tol_frac=0.2)


def test_bracket_between_steepest_and_divergence() -> None:
    lrs, y = make(seed=4)
    s = suggest(lrs, y)
    d = s.diagnostics
    assert d["steepest_lr"] < d["basin_start_lr"] <= s.max_lr < d["divergence_lr"]
    assert s.max_lr <= d["divergence_lr"] / 10**DEFAULT_GUARD_DECADES * 1.0001
    assert "blows up" in s.reason and "decade" in s.reason


def test_sharp_v_guard_binds() -> None:
    # the loss only falls right before it blows up
    shape = {"x_desc": -1.2, "width": 0.2, "x_blow": -0.9}
    for seed in range(3):
        s = suggest(*make(seed=seed, **shape))
        x_div = math.log10(s.diagnostics["divergence_lr"])
        assert math.log10(s.max_lr) == pytest.approx(x_div - DEFAULT_GUARD_DECADES, abs=1e-9)
        assert abs(x_div - true_divergence_x(**shape)) < 0.2
        assert "barely falls" in s.reason
        assert s.confidence < 0.9


def test_early_spike_ignored() -> None:
    for seed in range(3):
        lrs, y = make(seed=seed)
        base = suggest(lrs, y)
        spiky = y.copy()
        spiky[4:7] = [40.0, 80.0, 35.0]
        spiky[12] = 25.0
        s = suggest(lrs, spiky)
        assert abs(math.log10(s.max_lr) - math.log10(base.max_lr)) < 0.1
        assert s.confidence >= 0.8 * base.confidence
        assert s.diagnostics["steepest_lr"] > 1e-4  # not at the spike's edge


def _with_bump(x: np.ndarray, y: np.ndarray, center: float, height: float = 2.5,
               sigma: float = 0.1) -> np.ndarray:
    """``y`` with a gentle rise after the basin (0.15 per decade from x = -2, so the minimum
    comes before the bump) plus a transient excursion: a Gaussian bump in log-LR that comes
    back down (what a batch-norm ResNet's range test shows, ``resnet20`` on Fashion-MNIST)."""
    ramp = 0.15 * np.clip(x + 2.0, 0.0, None)
    return y + ramp + height * np.exp(-0.5 * ((x - center) / sigma) ** 2)


@pytest.mark.parametrize("seed", range(3))
def test_transient_spike_is_not_divergence(seed: int) -> None:
    # a bump well above the divergence level at x = -1.5 that recovers to the basin, then the
    # real blow-up: divergence is the real one and the pick stays below the spike (the basin
    # ends where the spike starts) instead of backing off 0.8 decade from it
    lrs, y = make(seed=seed)
    x = np.log10(lrs)
    s = suggest(lrs, _with_bump(x, y, center=-1.5))
    d = s.diagnostics
    assert abs(math.log10(d["divergence_lr"]) - true_divergence_x()) < 0.2, s.reason
    assert -1.9 < math.log10(d["spike_lr"]) < -1.5
    assert "spikes at" in s.reason and "recovers" in s.reason
    pick = math.log10(s.max_lr)
    assert math.log10(d["spike_lr"]) - 0.4 < pick < math.log10(d["spike_lr"]), s.reason
    assert pick == pytest.approx(math.log10(d["rise_lr"]), abs=1e-9)  # the basin top


def test_spike_then_no_divergence() -> None:
    lrs, y = make(seed=0, x_blow=5.0)
    x = np.log10(lrs)
    s = suggest(lrs, _with_bump(x, y, center=-1.0))
    assert not s.diagnostics["diverged"] and s.diagnostics["divergence_lr"] is None
    assert -1.4 < math.log10(s.diagnostics["spike_lr"]) < -1.0
    assert math.log10(s.max_lr) < math.log10(s.diagnostics["spike_lr"])


def test_without_a_spike_divergence_is_the_first_rise() -> None:
    for seed in range(3):
        s = suggest(*make(seed=seed))
        assert s.diagnostics["spike_lr"] is None
        assert abs(math.log10(s.diagnostics["divergence_lr"]) - true_divergence_x()) < 0.2


def test_final_rise_closed_form() -> None:
    from superconverge.bounds.signal import crossing, final_rise

    x = np.arange(7.0)
    s = np.array([1.0, 0.0, 3.0, 0.5, 0.5, 2.0, 4.0])
    assert crossing(x, s, 1.0, 1, 6) == pytest.approx(1 + 1 / 3)  # the first excursion
    assert final_rise(x, s, 1.0, 1) == pytest.approx(4 + 1 / 3)  # the one that lasts
    assert final_rise(x, s[:5], 1.0, 1) is None  # back below the level at the end
    assert final_rise(x[:3], s[:3], 1.0, 1) == pytest.approx(1 + 1 / 3)


def test_nan_tail() -> None:
    lrs, y = make(seed=0)
    x = np.log10(lrs)
    tail = y.copy()
    tail[x > -0.45] = np.nan
    s = suggest(lrs, tail)
    first_nan = lrs[np.argmax(x > -0.45)]
    assert s.diagnostics["divergence_lr"] <= first_nan
    _check_in_bracket(s, {})
    # an inf tail and a 1e30 tail behave the same way
    for bad in (np.inf, 1e30):
        t = y.copy()
        t[x > -0.45] = bad
        s2 = suggest(lrs, t)
        assert abs(math.log10(s2.max_lr) - math.log10(s.max_lr)) < 0.1


def test_nonfinite_divergence_before_smoothed_rise() -> None:
    lrs, y = make(seed=0)
    x = np.log10(lrs)
    t = y.copy()
    t[x > -1.5] = np.nan  # NaN while the loss still looks fine
    s = suggest(lrs, t)
    assert s.diagnostics["divergence_kind"] == "loss became non-finite"
    x_nonfinite = x[np.argmax(x > -1.5)]
    assert math.log10(s.max_lr) == pytest.approx(x_nonfinite - DEFAULT_GUARD_DECADES, abs=1e-9)


def test_isolated_nonfinite_values_are_ignored() -> None:
    lrs, y = make(seed=1)
    base = suggest(lrs, y)
    t = y.copy()
    t[[10, 50, 90]] = [np.nan, np.inf, -np.inf]
    s = suggest(lrs, t)
    assert abs(math.log10(s.max_lr) - math.log10(base.max_lr)) < 0.05
    assert s.diagnostics["n_dropped_nonfinite"] == 3
    assert "ignored" in s.reason


def test_flat_curve_low_confidence_and_message() -> None:
    for seed in range(4):
        lrs, y = make(seed=seed, start=0.4, floor=0.4, x_blow=5.0)
        s = suggest(lrs, y)
        assert s.confidence <= 0.2
        assert "widen the LR range" in s.reason
        assert lrs[0] <= s.min_lr <= s.max_lr <= lrs[-1]
        assert s.diagnostics["flat"]


def test_flat_then_blowup() -> None:
    shape = {"start": 0.4, "floor": 0.4}
    s = suggest(*make(seed=0, **shape))
    assert s.confidence <= 0.2
    assert "widen" in s.reason and "blew up" in s.reason
    assert math.log10(s.max_lr) < true_divergence_x(**shape) - (DEFAULT_GUARD_DECADES - 0.1)


def test_never_diverges_says_so() -> None:
    shape = {"x_blow": 5.0}
    s = suggest(*make(seed=0, **shape))
    assert not s.diagnostics["diverged"]
    assert "extend the sweep" in s.reason
    assert 0.2 < s.confidence <= 0.6
    x = math.log10(s.max_lr)
    assert true_loss(x, **shape) < 0.4 + 0.15 * 1.9
    assert x <= 1.0 - DEFAULT_GUARD_DECADES + 1e-9  # the guard below the end of the sweep (10)


def test_still_falling_at_end() -> None:
    s = suggest(*make(seed=0, x_desc=0.6, x_blow=5.0))
    assert s.confidence <= 0.6
    assert "extend the sweep" in s.reason
    assert math.log10(s.max_lr) <= 1.0 - DEFAULT_GUARD_DECADES + 1e-9


def test_starts_in_the_basin() -> None:
    # the sweep starts after the descent: the loss is low from the first LR
    s = suggest(*make(lo=-2.0, hi=0.5, seed=0))
    assert "start lower" in s.reason  # no descent seen: flat, widen the range downwards
    assert s.confidence <= 0.2
    # the sweep starts at the end of the descent: flagged, lower confidence
    s = suggest(*make(lo=-2.7, hi=0.5, seed=0, noise=0.01))
    assert "already falling at the first LR" in s.reason
    assert s.confidence <= 0.8
    _check_in_bracket(s, {})


def test_linear_sweep() -> None:
    lrs = np.linspace(1e-4, 2.0, 300)
    x = np.log10(lrs)
    y = true_loss(x, x_desc=-2.0, x_blow=0.0)
    y += 0.05 * np.random.default_rng(0).standard_normal(lrs.size)
    s = suggest(lrs, y)
    _check_in_bracket(s, {"x_desc": -2.0, "x_blow": 0.0}, tol_frac=0.2)


def test_slowly_falling_floor_tracks_fastai_minimum() -> None:
    # loss keeps improving slowly until it blows up: minimum right before divergence
    lrs, y = make(seed=0)
    x = np.log10(lrs)
    y = y - 0.15 * np.clip(x + 2.5, 0, None)
    s = suggest(lrs, y)
    m = suggest(lrs, y, method="minimum")
    assert abs(math.log10(s.max_lr) - math.log10(m.max_lr)) < 0.5


def test_options() -> None:
    lrs, y = make(seed=0)
    a = suggest(lrs, y, guard_decades=0.5)
    b = suggest(lrs, y)
    assert a.max_lr > b.max_lr
    assert suggest(lrs, y, window=21).diagnostics["window"] == 21
