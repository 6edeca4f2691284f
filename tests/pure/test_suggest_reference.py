"""fastai, Lightning and Smith-accuracy methods against hand-computed values and literal
transcriptions of the original loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from superconverge.bounds import suggest
from superconverge.bounds.fastai import fastai_inputs, minimum, slide, steep, valley
from superconverge.bounds.lightning import steepest_gradient
from superconverge.bounds.signal import debiased_ema

RAW = {"smooth": False, "stop_div": False, "skip_start": 0, "skip_end": 0}


# --- literal transcriptions of fastai 2.x (schedule.py) used as independent references -----
def _fastai_valley(lrs: list, losses: list) -> float:
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[idx])


def _fastai_slide(lrs: list, losses: list, lr_diff: int = 15, thresh: float = 0.005) -> float:
    loss_grad = np.gradient(np.asarray(losses))
    r_idx = -1
    l_idx = r_idx - lr_diff
    local_min_lr = lrs[l_idx]
    while (l_idx >= -len(losses)) and (abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh):
        local_min_lr = lrs[l_idx]
        r_idx -= 1
        l_idx -= 1
    return float(local_min_lr)


def test_valley_hand_value() -> None:
    # longest decreasing subsequence 5,4,3,2,1 ends at 6 with length 5 -> start = 6 - 5 = 1,
    # sections = 5/3, idx = 1 + 1 + int(0.83) = 2
    lrs = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    losses = np.array([5.0, 4.0, 6.0, 3.0, 2.0, 7.0, 1.0])
    assert valley(lrs, losses) == (3.0, 2)
    assert suggest(lrs * 1e-3, losses, method="valley", **RAW).max_lr == pytest.approx(3e-3)


@pytest.mark.parametrize("seed", range(6))
def test_valley_matches_fastai_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 60))
    losses = np.cumsum(rng.normal(-0.05, 0.3, n)) + 5
    lrs = np.logspace(-5, 0, n)
    expected = _fastai_valley(list(lrs), list(losses))
    if lrs[-1] == expected and np.argmax(lrs == expected) == n - 1:
        pytest.skip("fastai's index wrapped to -1 (we clamp to 0)")
    assert valley(lrs, losses)[0] == expected


def test_steep_hand_value() -> None:
    lrs = np.array([1.0, 2.0, 4.0, 8.0])
    losses = np.array([3.0, 2.5, 1.0, 0.9])  # slopes per ln2: -0.5, -1.5, -0.1
    assert steep(lrs, losses) == (2.0, 1)


def test_minimum_hand_value() -> None:
    lrs = np.array([1e-3, 1e-2, 1e-1, 1.0])
    losses = np.array([3.0, 1.0, 2.0, 9.0])
    assert minimum(lrs, losses) == (pytest.approx(1e-3), 1)
    s = suggest(lrs * 1, losses, method="minimum", **RAW)
    assert s.max_lr == pytest.approx(1e-3)
    assert s.min_lr == pytest.approx(1e-4 if 1e-4 >= lrs[0] else lrs[0])


def test_slide_hand_value() -> None:
    lrs = np.logspace(-4, 0, 20)
    # a straight line has a constant gradient: the loop stops at once -> lrs[-16]
    assert slide(lrs, np.linspace(1, 0, 20))[0] == lrs[-16]
    # hand example with lr_diff=2: g = [-.2, -.25, -.25, -.125, .15, .35]; the walk visits
    # l = -3, -4, -5, -6 (all differences > thresh) -> lrs[0]
    losses = np.array([1.0, 0.8, 0.5, 0.3, 0.25, 0.6])
    assert slide(lrs[:6], losses, lr_diff=2) == (lrs[0], 0)
    # thresh 0.45: |g[-1] - g[-3]| = 0.475 moves on, |g[-2] - g[-4]| = 0.4 stops -> lrs[3]
    assert slide(lrs[:6], losses, lr_diff=2, thresh=0.45) == (lrs[3], 3)


@pytest.mark.parametrize("seed", range(6))
def test_slide_matches_fastai_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(17, 80))
    losses = np.cumsum(rng.normal(-0.01, 0.01, n)) + 2
    lrs = np.logspace(-6, 1, n)
    assert slide(lrs, losses)[0] == _fastai_slide(list(lrs), list(losses))


def test_debiased_ema_hand_values() -> None:
    np.testing.assert_allclose(debiased_ema(np.ones(5)), np.ones(5))
    out = debiased_ema(np.array([2.0, 0.0]))
    assert out[0] == pytest.approx(2.0)
    assert out[1] == pytest.approx(0.98 * 0.04 / (1 - 0.98**2))
    assert np.isnan(debiased_ema(np.array([1.0, np.nan, 1.0]))[2])


def test_fastai_inputs_trim_stop_and_nan() -> None:
    n = 100
    lrs = np.logspace(-6, 1, n)
    raw = np.ones(n)
    raw[60:] = 100.0  # EMA exceeds 4x best a few steps later
    lr_t, _, info = fastai_inputs(lrs, raw)
    assert info["skip_start"] == 10 and info["skip_end"] == 5
    ema = debiased_ema(raw)
    stop = int(np.argmax(ema > 4)) + 1
    assert info["stop_index"] == stop
    np.testing.assert_array_equal(lr_t, lrs[10 : stop - 5])
    raw2 = np.ones(n)
    raw2[50] = np.nan  # cut from the first NaN of the smoothed loss
    lr_t, _, _ = fastai_inputs(lrs, raw2)
    np.testing.assert_array_equal(lr_t, lrs[10:50])


def test_lightning_hand_values() -> None:
    lrs = np.logspace(-5, 0, 15)
    losses = np.ones(15)
    losses[10:14] = [5.0, 4.0, 2.0, 1.5]  # gradient -1, -1.5, -1.25, -0.5 -> 1 + 10
    assert steepest_gradient(lrs, losses) == (lrs[11], 11)
    losses[11] = np.nan  # finite [5, 2, 1.5] -> gradient -3, ... -> 0 + 10 (Lightning's shift)
    assert steepest_gradient(lrs, losses) == (lrs[10], 10)
    losses[11] = 4.0
    s = suggest(lrs, losses, method="lightning", smooth=False, early_stop_threshold=None)
    assert s.max_lr == pytest.approx(lrs[11])


def test_accuracy_method_brackets() -> None:
    n = 150
    x = np.linspace(-5, 1, n)
    lrs = 10**x
    # accuracy rises from 0.1 to 0.9 around 1e-3 (width ~1 decade) and collapses after 1e-1
    acc = 0.1 + 0.8 / (1 + np.exp(-(x + 3) / 0.25))
    acc = acc - np.where(x > -1, 0.6 * (x + 1), 0)
    acc += 0.01 * np.random.default_rng(0).standard_normal(n)
    s = suggest(lrs, np.ones(n), method="accuracy", accuracies=acc)
    assert 10**-4.0 < s.min_lr < 10**-3.2  # rise reaches 10% near x = -3.55
    assert 10**-2.9 < s.max_lr < 10**-1.0  # 90% near x = -2.45, peak just before -1
    assert s.confidence > 0.8
    assert "accuracy starts rising" in s.reason
    # measured at fewer LRs than the loss
    sub = slice(None, None, 3)
    s2 = suggest(lrs, np.ones(n), method="accuracy", accuracies=acc[sub], accuracy_lrs=lrs[sub])
    assert math.isclose(math.log10(s2.max_lr), math.log10(s.max_lr), abs_tol=0.3)


def test_accuracy_flat_low_confidence() -> None:
    n = 60
    lrs = np.logspace(-5, 0, n)
    acc = 0.5 + 0.01 * np.random.default_rng(1).standard_normal(n)
    s = suggest(lrs, np.ones(n), method="accuracy", accuracies=acc)
    assert s.confidence <= 0.2
    assert "widen" in s.reason
