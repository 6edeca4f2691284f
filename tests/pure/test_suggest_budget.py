"""suggest(..., total_steps=...): the planned training length (issue 19).

Validation of the argument, the ``total_steps=None`` path unchanged (pinned against values
computed before the argument existed), what is recorded, and methods that ignore it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from superconverge.bounds import suggest
from superconverge.errors import ArgumentError


def _curve(n: int = 120, seed: int = 0, k: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-6, 1, n)
    y = 0.4 + 1.9 / (1 + np.exp((x + 3) / 0.175)) + np.where(x > -0.5, np.expm1(k * (x + 0.5)), 0)
    return 10**x, y + 0.05 * np.random.default_rng(seed).standard_normal(n)


@pytest.mark.parametrize("bad", [0, -1, -800, 2.5, math.nan, math.inf, -math.inf, True, "800",
                                 [800]])
def test_bad_total_steps_is_a_clear_argument_error(bad) -> None:
    lrs, y = _curve()
    with pytest.raises(ArgumentError, match="total_steps must be a positive integer"):
        suggest(lrs, y, total_steps=bad)
    with pytest.raises(ValueError):  # ArgumentError is a ValueError
        suggest(lrs, y, method="valley", total_steps=bad)


@pytest.mark.parametrize("good", [1, 800, 800.0, np.int64(800), np.float32(800.0)])
def test_whole_numbers_are_accepted_and_recorded_as_int(good) -> None:
    lrs, y = _curve()
    s = suggest(lrs, y, total_steps=good)
    assert s.diagnostics["total_steps"] == int(good)
    assert type(s.diagnostics["total_steps"]) is int


#: ``(max_lr, confidence)`` of ``suggest(*_curve(seed=s, k=k))`` computed by the library before
#: ``total_steps`` existed (commit b852955): the ``None`` path must not move
PINNED = {
    (0, 2.0): (0.10967792810229238, 1.0),
    (0, 6.0): (0.06418290831769623, 1.0),
    (0, 20.0): (0.051256465042904965, 1.0),
    (1, 2.0): (0.10956174178648385, 1.0),
    (1, 6.0): (0.06508395794387165, 1.0),
    (1, 20.0): (0.05127322041808728, 1.0),
    (2, 2.0): (0.1111453238014269, 1.0),
    (2, 6.0): (0.06459824382290842, 1.0),
    (2, 20.0): (0.05145746640016164, 1.0),
}


@pytest.mark.parametrize("key", sorted(PINNED))
def test_none_path_is_unchanged(key) -> None:
    seed, k = key
    lrs, y = _curve(seed=seed, k=k)
    before_lr, before_conf = PINNED[key]
    for s in (suggest(lrs, y), suggest(lrs, y, total_steps=None)):
        assert s.max_lr == pytest.approx(before_lr, rel=1e-12)
        assert s.confidence == pytest.approx(before_conf, rel=1e-12)
        assert s.diagnostics["total_steps"] is None
        assert s.diagnostics["budget_aware"] is False


def test_methods_without_a_budget_ignore_it() -> None:
    lrs, y = _curve()
    for method in ("valley", "steep", "minimum", "slide", "lightning"):
        a = suggest(lrs, y, method=method)
        b = suggest(lrs, y, method=method, total_steps=5000)
        assert a.max_lr == b.max_lr and a.confidence == b.confidence
        assert b.diagnostics["total_steps"] == 5000
        assert b.diagnostics["budget_aware"] is False


def test_to_dict_round_trip_keeps_the_budget() -> None:
    from superconverge.bounds import Suggestion

    lrs, y = _curve()
    s = suggest(lrs, y, total_steps=400)
    back = Suggestion.from_dict(s.to_dict())
    assert back.diagnostics["total_steps"] == 400
    assert back.diagnostics["budget_aware"] == s.diagnostics["budget_aware"]


def test_a_method_that_takes_total_steps_gets_it() -> None:
    from superconverge.bounds import Pick, register_method
    from superconverge.bounds.core import _REGISTRY

    seen = []

    def by_budget(sweep, *, total_steps=None):
        seen.append(total_steps)
        lr = 1e-3 if total_steps is None else 1e-3 * total_steps
        return Pick(max_lr=lr, confidence=0.5, reason="budget test")

    register_method("_by_budget", by_budget)
    try:
        lrs, y = _curve()
        a = suggest(lrs, y, method="_by_budget")
        b = suggest(lrs, y, method="_by_budget", total_steps=100)
        assert seen == [None, 100]
        assert a.max_lr == pytest.approx(1e-3) and b.max_lr == pytest.approx(0.1)
        assert a.diagnostics["budget_aware"] is False and b.diagnostics["budget_aware"] is True
    finally:
        _REGISTRY.pop("_by_budget", None)


def test_auto_does_not_move_with_the_budget() -> None:
    """Measured (auto.py step 4): the pick is the same for any planned length."""
    lrs, y = _curve()
    base = suggest(lrs, y)
    for steps in (10, 100, 800, 10**6):
        s = suggest(lrs, y, total_steps=steps)
        assert s.max_lr == base.max_lr and s.confidence == base.confidence
        assert s.diagnostics["total_steps"] == steps
        assert s.diagnostics["budget_aware"] is False
