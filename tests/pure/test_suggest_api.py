"""suggest(): input validation, the Suggestion contract, the registry, JSON round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from superconverge.bounds import (
    MIN_FINITE_POINTS,
    Pick,
    Suggestion,
    SuggestionError,
    Sweep,
    available_methods,
    register_method,
    suggest,
)


def _curve(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-6, 1, n)
    y = 0.4 + 1.9 / (1 + np.exp((x + 3) / 0.175)) + np.where(x > -0.5, np.expm1(6 * (x + 0.5)), 0)
    return 10**x, y + 0.05 * np.random.default_rng(seed).standard_normal(n)


def test_no_keras_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, superconverge.bounds as s; "
        "assert 'keras' not in sys.modules and 'matplotlib' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('keras', 'matplotlib')))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_methods_registered() -> None:
    names = available_methods()
    assert names[0] == "auto"
    assert set(names) >= {"auto", "valley", "steep", "minimum", "slide", "lightning", "accuracy"}


@pytest.mark.parametrize(
    ("lrs", "losses", "match"),
    [
        ([1e-3, 1e-2, 1e-1], [1.0, 2.0], "same length"),
        ([1e-3, 0.0, 1e-1], [1.0, 2.0, 3.0], "positive"),
        ([-1e-3, 1e-2, 1e-1], [1.0, 2.0, 3.0], "positive"),
        ([1e-3, np.nan, 1e-1], [1.0, 2.0, 3.0], "finite"),
        ([1e-3, 1e-1, 1e-2], [1.0, 2.0, 3.0], "strictly increasing"),
        ([1e-3, 1e-3, 1e-2], [1.0, 2.0, 3.0], "strictly increasing"),
        ([[1e-3, 1e-2]], [[1.0, 2.0]], "1-D"),
        ([1e-3], [1.0], "at least 2"),
    ],
)
def test_bad_lrs(lrs: list, losses: list, match: str) -> None:
    with pytest.raises(SuggestionError, match=match):
        suggest(lrs, losses)


def test_too_few_finite_points_says_what_to_do() -> None:
    lrs = np.logspace(-5, 0, 20)
    losses = np.full(20, np.nan)
    losses[: MIN_FINITE_POINTS - 1] = 1.0
    with pytest.raises(SuggestionError, match="Sweep more steps"):
        suggest(lrs, losses)
    losses[:MIN_FINITE_POINTS] = 1.0  # now enough
    assert isinstance(suggest(lrs, losses), Suggestion)


def test_suggestion_error_is_value_error() -> None:
    assert issubclass(SuggestionError, ValueError)


def test_unknown_method_and_option() -> None:
    lrs, y = _curve()
    with pytest.raises(SuggestionError, match="available: auto"):
        suggest(lrs, y, method="nope")
    with pytest.raises(SuggestionError, match="unknown option"):
        suggest(lrs, y, method="auto", lr_diff=3)
    with pytest.raises(SuggestionError, match="min_lr_ratio"):
        suggest(lrs, y, min_lr_ratio=0.5)


def test_min_lr_ratio_and_range() -> None:
    lrs, y = _curve()
    s10 = suggest(lrs, y)
    assert s10.min_lr == pytest.approx(s10.max_lr / 10)
    s4 = suggest(lrs, y, min_lr_ratio=4)
    assert s4.max_lr == s10.max_lr
    assert s4.min_lr == pytest.approx(s4.max_lr / 4)
    huge = suggest(lrs, y, min_lr_ratio=1e12)  # clamped to the lowest swept LR
    assert huge.min_lr == pytest.approx(lrs[0])
    assert "min_lr" in huge.diagnostics["clamped"]


def test_round_trip_json() -> None:
    lrs, y = _curve()
    y[-10:] = np.nan
    for method in ("auto", "valley", "lightning"):
        s = suggest(lrs, y, method=method)
        d = s.to_dict()
        text = json.dumps(d, allow_nan=False)
        back = Suggestion.from_dict(json.loads(text))
        assert back == s
        assert back.to_dict() == d


def test_auto_diagnostics_for_plot() -> None:
    lrs, y = _curve()
    d = suggest(lrs, y).diagnostics
    for key in ("log_lr", "smoothed", "derivative", "lrs", "losses"):
        assert len(d[key]) == len(d["log_lr"])
    for key in (
        "divergence_lr",
        "descent_start_lr",
        "steepest_lr",
        "basin_start_lr",
        "min_loss_lr",
    ):
        assert d[key] is not None and lrs[0] <= d[key] <= lrs[-1] * 1.0000001
    assert d["descent_start_lr"] <= d["steepest_lr"] <= d["basin_start_lr"] <= d["min_loss_lr"]


def test_suggestion_validates() -> None:
    with pytest.raises(ValueError):
        Suggestion(max_lr=0.1, min_lr=0.2, method="x", confidence=0.5, reason="")
    with pytest.raises(ValueError):
        Suggestion(max_lr=0.1, min_lr=0.01, method="x", confidence=1.5, reason="")
    with pytest.raises(ValueError):
        Suggestion(max_lr=math.nan, min_lr=0.01, method="x", confidence=0.5, reason="")
    s = Suggestion(0.1, 0.01, "x", 0.5, "r", {"a": np.array([1.0, np.nan]), "b": np.float32(2)})
    assert s.diagnostics["a"] == [1.0, None]
    with pytest.raises(TypeError):
        s.diagnostics["c"] = 1  # type: ignore[index]


def test_register_method_and_finalise() -> None:
    def silly(sweep: Sweep, *, factor: float = 1000.0) -> Pick:
        return Pick(max_lr=float(sweep.lrs[-1]) * factor, confidence=7.0, reason="too big")

    register_method("_silly_test", silly, overwrite=True)
    with pytest.raises(ValueError, match="already registered"):
        register_method("_silly_test", silly)
    lrs, y = _curve()
    s = suggest(lrs, y, method="_silly_test", factor=10.0)
    assert s.max_lr == pytest.approx(lrs[-1])
    assert s.confidence == 1.0
    assert "clamped" in s.reason
    assert "_silly_test" in available_methods()


def test_accuracy_validation() -> None:
    lrs, y = _curve()
    with pytest.raises(SuggestionError, match="accuracies"):
        suggest(lrs, y, method="accuracy")
    with pytest.raises(SuggestionError, match="accuracy_lrs"):
        suggest(lrs, y, method="accuracy", accuracies=[0.1, 0.2, 0.3])
    with pytest.raises(SuggestionError, match="same length"):
        suggest(lrs, y, method="accuracy", accuracies=[0.1, 0.2], accuracy_lrs=[1e-3])
