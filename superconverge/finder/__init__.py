"""LR range test (Smith): sweep the learning rate up, record the loss, restore the model.

* :func:`lr_range_test` — run it on a compiled model; the model is restored bit-for-bit.
* :class:`LRRangeTest` — the same thing as a callback for your own ``model.fit``.
* :class:`RangeTestResult` — the curve, with ``suggest()``, ``plot()``, ``save()``/``load()``.
* :func:`lr_trials` — short One Cycle trials at a few max LRs around a pick; keeps the best
  (:func:`choose_max_lr`: the pick at chance, a move above it only if longer trials confirm).

``RangeTestResult`` and ``RangeTestError`` import without Keras; the rest loads Keras lazily.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from superconverge.finder.errors import RangeTestError
from superconverge.finder.result import STOP_REASONS, RangeTestResult
from superconverge.finder.sweep import smooth_losses, sweep_lrs

_LAZY = {
    "LRRangeTest": "superconverge.finder.callback",
    "lr_range_test": "superconverge.finder.runner",
    "TrainingState": "superconverge.finder.state",
    "lr_trials": "superconverge.finder.trials",
    "TrialResult": "superconverge.finder.trials",
    "candidate_max_lrs": "superconverge.finder.trials",
    "confirm_upward_move": "superconverge.finder.trials",
    "choose_max_lr": "superconverge.finder.trials",
    "TrialChoice": "superconverge.finder.trials",
}

__all__ = [
    "STOP_REASONS",
    "LRRangeTest",
    "RangeTestError",
    "RangeTestResult",
    "TrainingState",
    "TrialChoice",
    "TrialResult",
    "candidate_max_lrs",
    "choose_max_lr",
    "confirm_upward_move",
    "lr_range_test",
    "lr_trials",
    "smooth_losses",
    "sweep_lrs",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'superconverge.finder' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from superconverge.finder.callback import LRRangeTest
    from superconverge.finder.runner import lr_range_test
    from superconverge.finder.state import TrainingState
    from superconverge.finder.trials import (
        TrialChoice,
        TrialResult,
        candidate_max_lrs,
        choose_max_lr,
        confirm_upward_move,
        lr_trials,
    )
