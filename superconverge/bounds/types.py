"""Data types of the LR-bounds suggestion: :class:`Suggestion`, :class:`SuggestionError`,
the validated input :class:`Sweep` and the per-method result :class:`Pick`.

Pure Python/NumPy: no Keras, no plotting, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from superconverge.errors import ArgumentError, SuperconvergeError

__all__ = ["Pick", "Suggestion", "SuggestionError", "Sweep", "to_jsonable"]


class SuggestionError(SuperconvergeError, ValueError):
    """The range-test data cannot support a suggestion.

    Raised for mismatched array lengths, non-positive or non-increasing learning rates, too
    few finite loss values, an unknown method or option, or a method that needs data it was not
    given (``accuracy`` without ``accuracies``). The message says what was wrong and what to do.
    """


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` into plain JSON types.

    NumPy arrays and sequences become lists, NumPy scalars become ``float``/``int``/``bool``,
    mappings become ``dict`` with ``str`` keys, and non-finite floats (NaN, ±inf) become
    ``None`` so that the result is strict JSON.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"diagnostic value of type {type(value).__name__} is not JSON-serialisable")


@dataclass(frozen=True)
class Suggestion:
    """Learning-rate bounds read off an LR range test.

    Attributes:
        max_lr: the peak learning rate of the One Cycle schedule.
        min_lr: the lower bound; by default ``max_lr / min_lr_ratio`` (Smith: a tenth of max),
            clamped to the lowest swept LR. Always ``min_lr <= max_lr``.
        method: the registry name of the method that produced it.
        confidence: in ``[0, 1]``; how well the curve supports the pick (see each method).
        reason: one line a human reads.
        diagnostics: JSON-ready values a plot or report needs (``log_lr``, ``smoothed``,
            ``derivative``, marker LRs, ...). Stored read-only; arrays are stored as lists and
            non-finite floats as ``None``.
    """

    max_lr: float
    min_lr: float
    method: str
    confidence: float
    reason: str
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        max_lr, min_lr, conf = float(self.max_lr), float(self.min_lr), float(self.confidence)
        if not (math.isfinite(max_lr) and max_lr > 0):
            raise ArgumentError(f"max_lr must be a positive finite number, got {self.max_lr!r}")
        if not (math.isfinite(min_lr) and 0 < min_lr <= max_lr):
            raise ArgumentError(f"min_lr must be in (0, max_lr={max_lr}], got {self.min_lr!r}")
        if not (0.0 <= conf <= 1.0):
            raise ArgumentError(f"confidence must be in [0, 1], got {self.confidence!r}")
        object.__setattr__(self, "max_lr", max_lr)
        object.__setattr__(self, "min_lr", min_lr)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "method", str(self.method))
        object.__setattr__(self, "reason", str(self.reason))
        object.__setattr__(
            self, "diagnostics", MappingProxyType(to_jsonable(dict(self.diagnostics)))
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (round-trips through :meth:`from_dict`)."""
        return {
            "max_lr": self.max_lr,
            "min_lr": self.min_lr,
            "method": self.method,
            "confidence": self.confidence,
            "reason": self.reason,
            "diagnostics": to_jsonable(dict(self.diagnostics)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suggestion:
        """Rebuild a :class:`Suggestion` from :meth:`to_dict` output."""
        try:
            return cls(
                max_lr=data["max_lr"],
                min_lr=data["min_lr"],
                method=data["method"],
                confidence=data["confidence"],
                reason=data.get("reason", ""),
                diagnostics=data.get("diagnostics") or {},
            )
        except KeyError as exc:
            raise ArgumentError(f"Suggestion dict is missing the key {exc.args[0]!r}") from exc


@dataclass(frozen=True)
class Sweep:
    """Validated range-test data handed to every registered method.

    ``lrs`` is strictly increasing and positive; ``losses`` has the same length and may hold
    NaN/inf. ``accuracies``/``accuracy_lrs`` are ``None`` or validated 1-D arrays of one length.
    """

    lrs: np.ndarray
    losses: np.ndarray
    accuracies: np.ndarray | None = None
    accuracy_lrs: np.ndarray | None = None

    @property
    def lr_range(self) -> tuple[float, float]:
        """``(min(lrs), max(lrs))``: every suggested LR lies inside it."""
        return float(self.lrs[0]), float(self.lrs[-1])


@dataclass
class Pick:
    """What a method returns before :func:`~superconverge.bounds.suggest` finalises it.

    ``min_lr=None`` means ``max_lr / min_lr_ratio``. ``suggest`` clamps both into the swept
    range, enforces ``min_lr <= max_lr`` and clips ``confidence`` to ``[0, 1]``.
    """

    max_lr: float
    confidence: float
    reason: str
    min_lr: float | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
