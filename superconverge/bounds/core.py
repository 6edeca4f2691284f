"""The method registry and :func:`suggest`, the one entry point."""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from superconverge.bounds.accuracy import accuracy_method
from superconverge.bounds.auto import auto_method
from superconverge.bounds.fastai import minimum_method, slide_method, steep_method, valley_method
from superconverge.bounds.lightning import lightning_method
from superconverge.bounds.types import Pick, Suggestion, SuggestionError, Sweep
from superconverge.defaults import MIN_LR_RATIO
from superconverge.errors import ArgumentError

__all__ = ["MethodFn", "available_methods", "register_method", "suggest"]

logger = logging.getLogger(__name__)

#: a method takes the validated :class:`Sweep` and keyword options and returns a :class:`Pick`
MethodFn = Callable[..., Pick]

_REGISTRY: dict[str, MethodFn] = {}


def register_method(name: str, fn: MethodFn, *, overwrite: bool = False) -> None:
    """Add a method to the registry.

    ``fn(sweep: Sweep, **options) -> Pick``. :func:`suggest` validates the input before the
    call and finalises the :class:`Pick` after it (clamping into the swept range, ``min_lr``
    from ``min_lr_ratio`` when the method leaves it ``None``), so a method only decides.
    """
    if not isinstance(name, str) or not name:
        raise ArgumentError("method name must be a non-empty string")
    if not callable(fn):
        raise TypeError(f"method {name!r} must be callable")
    if name in _REGISTRY and not overwrite:
        raise ArgumentError(f"method {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = fn


def available_methods() -> tuple[str, ...]:
    """Names accepted by ``suggest(method=...)``, ``"auto"`` first."""
    return tuple(sorted(_REGISTRY, key=lambda k: (k != "auto", k)))


for _name, _fn in (
    ("auto", auto_method),
    ("valley", valley_method),
    ("steep", steep_method),
    ("minimum", minimum_method),
    ("slide", slide_method),
    ("lightning", lightning_method),
    ("accuracy", accuracy_method),
):
    register_method(_name, _fn)


def _as_1d(name: str, values: Any) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SuggestionError(f"{name} must be a 1-D array of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise SuggestionError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _check_lrs(name: str, lrs: np.ndarray) -> None:
    if lrs.size < 2:
        raise SuggestionError(f"{name} needs at least 2 values, got {lrs.size}: run a longer sweep")
    if not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise SuggestionError(f"{name} must be finite and positive (they are learning rates)")
    if np.any(np.diff(lrs) <= 0):
        i = int(np.flatnonzero(np.diff(lrs) <= 0)[0])
        raise SuggestionError(
            f"{name} must be strictly increasing (value {i + 1} = {lrs[i + 1]:.3g} follows "
            f"{lrs[i]:.3g}); pass the range test's LRs in sweep order"
        )


def suggest(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    method: str = "auto",
    min_lr_ratio: float = MIN_LR_RATIO,
    accuracies: Sequence[float] | np.ndarray | None = None,
    accuracy_lrs: Sequence[float] | np.ndarray | None = None,
    total_steps: int | None = None,
    **options: Any,
) -> Suggestion:
    """Read One Cycle LR bounds off an LR range test.

    Args:
        lrs: swept learning rates, positive and strictly increasing (exponential or linear).
        losses: the training loss at each LR (raw per-batch values); NaN/inf allowed (e.g. a
            diverged tail).
        method: one of :func:`available_methods` (``"auto"``: ours; ``"valley"``, ``"steep"``,
            ``"minimum"``, ``"slide"``: fastai; ``"lightning"``; ``"accuracy"``: Smith 2015).
        min_lr_ratio: ``min_lr = max_lr / min_lr_ratio`` (Smith: a tenth), unless the method
            defines ``min_lr`` itself (``accuracy``). Must be ``>= 1``.
        accuracies: validation accuracy during the sweep (``accuracy`` method).
        accuracy_lrs: LRs at which ``accuracies`` were measured (default ``lrs``).
        total_steps: the planned length of the One Cycle training the bounds are for, in
            optimizer steps (a positive integer), or ``None`` when unknown. Recorded in
            ``diagnostics["total_steps"]``, and passed to a registered method whose signature
            has a ``total_steps`` keyword (``diagnostics["budget_aware"]`` says whether one
            did). No built-in method does: for ``auto`` the budget was measured not to call
            for a different pick (:mod:`superconverge.bounds.auto`, step 4).
        **options: method-specific options (see each method's signature).

    Returns:
        A :class:`Suggestion` with ``min(lrs) <= min_lr <= max_lr <= max(lrs)``: a pick outside
        the swept range is clamped to it (noted in the reason and ``diagnostics["clamped"]``);
        in particular ``min_lr`` is clamped up to the lowest swept LR when
        ``max_lr / min_lr_ratio`` falls below it.

    Raises:
        SuggestionError: unusable input (mismatched lengths, non-positive or non-increasing
            LRs, too few finite losses, an unknown method or option, missing accuracies).
        ArgumentError: ``total_steps`` is not a positive integer.
    """
    if method not in _REGISTRY:
        raise SuggestionError(
            f"unknown method {method!r}; available: {', '.join(available_methods())}"
        )
    steps = check_total_steps(total_steps)
    ratio = float(min_lr_ratio)
    if not (math.isfinite(ratio) and ratio >= 1.0):
        raise SuggestionError(f"min_lr_ratio must be a finite number >= 1, got {min_lr_ratio!r}")
    lr_arr = _as_1d("lrs", lrs)
    loss_arr = _as_1d("losses", losses)
    if lr_arr.size != loss_arr.size:
        raise SuggestionError(
            f"lrs and losses must have the same length, got {lr_arr.size} and {loss_arr.size}"
        )
    _check_lrs("lrs", lr_arr)
    acc_arr = acc_lr_arr = None
    if accuracies is not None:
        acc_arr = _as_1d("accuracies", accuracies)
        if accuracy_lrs is not None:
            acc_lr_arr = _as_1d("accuracy_lrs", accuracy_lrs)
            if acc_lr_arr.size != acc_arr.size:
                raise SuggestionError(
                    "accuracies and accuracy_lrs must have the same length, got "
                    f"{acc_arr.size} and {acc_lr_arr.size}"
                )
            _check_lrs("accuracy_lrs", acc_lr_arr)
        elif acc_arr.size != lr_arr.size:
            raise SuggestionError(
                f"accuracies has {acc_arr.size} values but lrs has {lr_arr.size}; pass "
                "accuracy_lrs with the LRs at which the accuracy was measured"
            )
    elif accuracy_lrs is not None:
        raise SuggestionError("accuracy_lrs given without accuracies")

    fn = _REGISTRY[method]
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise SuggestionError(
                f"unknown option(s) {', '.join(unknown)} for method {method!r}; "
                f"valid: {', '.join(allowed) or 'none'}"
            )
    budget_aware = "total_steps" in params
    if budget_aware:
        options["total_steps"] = steps
    sweep = Sweep(lrs=lr_arr, losses=loss_arr, accuracies=acc_arr, accuracy_lrs=acc_lr_arr)
    with np.errstate(all="ignore"):
        pick = fn(sweep, **options)
    return _finalise(pick, sweep, method, ratio, {
        "total_steps": steps, "budget_aware": budget_aware and steps is not None})


def check_total_steps(total_steps: Any) -> int | None:
    """``total_steps`` as an ``int`` (``None`` stays ``None``).

    Raises:
        ArgumentError: anything but a positive whole number (0, negative, fractional, NaN,
            infinite, a bool or a non-number).
    """
    if total_steps is None:
        return None
    if isinstance(total_steps, bool) or not isinstance(total_steps, int | float | np.integer
                                                        | np.floating):
        raise ArgumentError(
            f"total_steps must be a positive integer (the planned optimizer steps) or None, "
            f"got {total_steps!r}"
        )
    value = float(total_steps)
    if not (math.isfinite(value) and value.is_integer() and value >= 1):
        raise ArgumentError(
            f"total_steps must be a positive integer (the planned optimizer steps) or None, "
            f"got {total_steps!r}"
        )
    return int(value)


def _finalise(pick: Pick, sweep: Sweep, method: str, ratio: float,
              extra: dict[str, Any] | None = None) -> Suggestion:
    lo, hi = sweep.lr_range
    reason = str(pick.reason)
    clamped: list[str] = []
    max_lr = float(pick.max_lr)
    if not (math.isfinite(max_lr) and max_lr > 0):
        raise SuggestionError(f"method {method!r} produced no usable max LR ({pick.max_lr!r})")
    if max_lr < lo * (1 - 1e-9) or max_lr > hi * (1 + 1e-9):
        clamped.append("max_lr")
        reason += f"; {max_lr:.2g} clamped into the swept range [{lo:.2g}, {hi:.2g}]"
    max_lr = min(max(max_lr, lo), hi)
    min_lr = max_lr / ratio if pick.min_lr is None else float(pick.min_lr)
    if not (math.isfinite(min_lr) and min_lr > 0) or min_lr > max_lr:
        min_lr = max_lr / ratio
    if min_lr < lo:
        if min_lr < lo * (1 - 1e-9):
            clamped.append("min_lr")
        min_lr = lo
    confidence = float(pick.confidence)
    confidence = min(max(confidence, 0.0), 1.0) if math.isfinite(confidence) else 0.0
    diagnostics = dict(pick.diagnostics)
    diagnostics["clamped"] = clamped
    diagnostics["swept_range"] = [lo, hi]
    diagnostics["min_lr_ratio"] = ratio
    diagnostics.update(extra or {})
    logger.info(
        "suggest(%s): max_lr=%.3g min_lr=%.3g confidence=%.2f - %s",
        method,
        max_lr,
        min_lr,
        confidence,
        reason,
    )
    return Suggestion(
        max_lr=max_lr,
        min_lr=min_lr,
        method=method,
        confidence=confidence,
        reason=reason,
        diagnostics=diagnostics,
    )
