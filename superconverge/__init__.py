"""superconverge: super-convergence for Keras 3.

Leslie N. Smith's recipe as a library: an LR range test, automatic LR bounds read off its
curve, the One Cycle policy (learning rate and momentum), automatic weight decay and
batch-norm momentum, and a pipeline that ties them together with a report.

Pure-math pieces (schedules, suggestions) import without Keras; everything else is loaded
lazily on first access, so ``import superconverge as sc`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first attribute access)
_LAZY_EXPORTS: dict[str, str] = {
    # schedules (pure NumPy)
    "Phase": "superconverge.schedules",
    "PiecewiseSchedule": "superconverge.schedules",
    "OneCycleSchedule": "superconverge.schedules",
    # Keras callbacks and adapters
    "OneCycle": "superconverge.callbacks",
    "KerasPiecewiseSchedule": "superconverge.callbacks",
    # LR range test
    "LRRangeTest": "superconverge.finder",
    "RangeTestResult": "superconverge.finder",
    "lr_range_test": "superconverge.finder",
    "lr_trials": "superconverge.finder",
    "TrialResult": "superconverge.finder",
    # regularisation tuning
    "tune_regularization": "superconverge.tuning",
    "TuningResult": "superconverge.tuning",
    # pipeline
    "Pipeline": "superconverge.pipeline",
    "RunConfig": "superconverge.pipeline",
    "run": "superconverge.pipeline",
}
_LAZY_SUBMODULES = {
    "data", "models", "schedules", "callbacks", "finder", "pipeline", "distributed", "tuning",
}

# Imported eagerly (pure NumPy/SciPy, no Keras). The methods live in ``superconverge.bounds``;
# ``sc.suggest`` is its entry point (a function: no subpackage shares its name).
from superconverge.bounds import Suggestion, SuggestionError, suggest  # noqa: E402

__all__ = [  # noqa: RUF022 - grouped like _LAZY_EXPORTS
    "Phase",
    "PiecewiseSchedule",
    "OneCycleSchedule",
    "Suggestion",
    "SuggestionError",
    "suggest",
    "OneCycle",
    "KerasPiecewiseSchedule",
    "LRRangeTest",
    "RangeTestResult",
    "lr_range_test",
    "lr_trials",
    "TrialResult",
    "tune_regularization",
    "TuningResult",
    "callbacks",
    "data",
    "distributed",
    "finder",
    "models",
    "pipeline",
    "schedules",
    "tuning",
    "Pipeline",
    "RunConfig",
    "run",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        module = importlib.import_module(_LAZY_EXPORTS[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f"superconverge.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'superconverge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from superconverge.callbacks import KerasPiecewiseSchedule, OneCycle
    from superconverge.finder import (
        LRRangeTest,
        RangeTestResult,
        TrialResult,
        lr_range_test,
        lr_trials,
    )
    from superconverge.pipeline import Pipeline, RunConfig, run
    from superconverge.schedules import OneCycleSchedule, Phase, PiecewiseSchedule
    from superconverge.tuning import TuningResult, tune_regularization
