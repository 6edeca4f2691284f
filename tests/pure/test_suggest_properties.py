"""Property tests: every method, on any mix of finite, NaN and inf losses over increasing
positive LRs, returns a well-formed Suggestion inside the swept range or raises
SuggestionError."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from superconverge.bounds import Suggestion, SuggestionError, suggest

METHODS = ["auto", "valley", "steep", "minimum", "slide", "lightning", "accuracy"]

loss_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-10, max_value=10),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1.0]),
)


@st.composite
def sweeps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=0, max_value=90))
    start = draw(st.floats(min_value=-9, max_value=0))
    decades = draw(st.floats(min_value=1e-3, max_value=10))
    if draw(st.booleans()):
        lrs = np.logspace(start, start + decades, n)
    else:
        lrs = np.linspace(10**start, 10 ** (start + decades), n)
    if n > 1 and np.any(np.diff(lrs) <= 0):  # float collisions on tiny spans
        lrs = 10**start * (1 + np.arange(n, dtype=float))
    kind = draw(st.sampled_from(["any", "curve"]))
    if kind == "any":
        losses = np.array(draw(st.lists(loss_values, min_size=n, max_size=n)), dtype=float)
    else:  # a noisy range-test-like curve with random corruption
        x = np.linspace(0, 1, n)
        c = draw(st.floats(min_value=0.1, max_value=0.9))
        noise = draw(st.floats(min_value=0, max_value=1))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        losses = 2 / (1 + np.exp((x - c) * 20)) + np.exp(10 * (x - 1)) + noise * rng.random(n)
        for _ in range(draw(st.integers(0, 5))):
            if n:
                losses[draw(st.integers(0, n - 1))] = draw(loss_values)
    return lrs, losses


def _check(s: Suggestion, lrs: np.ndarray, method: str) -> None:
    lo, hi = lrs[0], lrs[-1]
    assert s.method == method
    assert lo <= s.min_lr <= s.max_lr <= hi
    assert 0.0 <= s.confidence <= 1.0
    assert isinstance(s.reason, str) and s.reason and "\n" not in s.reason
    json.dumps(s.to_dict(), allow_nan=False)


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=sweeps(), use_acc=st.booleans())
def test_any_input_gives_valid_suggestion_or_error(method: str, data, use_acc: bool) -> None:
    lrs, losses = data
    kwargs = {}
    if use_acc:
        kwargs["accuracies"] = 1.0 - np.nan_to_num(losses, nan=0.5, posinf=2.0, neginf=-2.0) / 4
    try:
        s = suggest(lrs, losses, method=method, **kwargs)
    except SuggestionError as exc:
        assert str(exc)
        return
    _check(s, lrs, method)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=8, max_value=120),
    lo=st.floats(min_value=-8, max_value=-1),
    decades=st.floats(min_value=0.5, max_value=9),
    level=st.floats(min_value=-1e3, max_value=1e3),
    scale=st.floats(min_value=1e-6, max_value=1e3),
    seed=st.integers(0, 1000),
)
def test_finite_inputs_never_raise_for_auto(n, lo, decades, level, scale, seed) -> None:
    """With at least MIN_FINITE_POINTS finite values, auto always answers."""
    lrs = np.logspace(lo, lo + decades, n)
    losses = level + scale * np.random.default_rng(seed).standard_normal(n)
    s = suggest(lrs, losses)
    _check(s, lrs, "auto")


@settings(max_examples=30, deadline=None)
@given(
    shift=st.floats(min_value=-100, max_value=100),
    mult=st.floats(1e-3, 1e3),
    seed=st.integers(0, 100),
)
def test_auto_invariant_to_affine_loss_changes(shift: float, mult: float, seed: int) -> None:
    """Shifting/scaling the loss does not move max_lr (confidence may change via the relative
    depth, which depends on the level)."""
    x = np.linspace(-6, 1, 150)
    y = 0.4 + 1.9 / (1 + np.exp((x + 3) / 0.175)) + np.where(x > -0.5, np.expm1(6 * (x + 0.5)), 0)
    y = y + 0.05 * np.random.default_rng(seed).standard_normal(x.size)
    a = suggest(10**x, y)
    b = suggest(10**x, mult * y + shift)
    assert math.isclose(a.max_lr, b.max_lr, rel_tol=1e-6)
