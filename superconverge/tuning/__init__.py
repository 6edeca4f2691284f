"""Automatic weight decay and batch-norm momentum (Smith 2018) on Optuna.

>>> import functools, superconverge as sc                                     # doctest: +SKIP
>>> from superconverge import data, models
>>> splits = data.load("fashion_mnist", train_subset=10_000)
>>> build = functools.partial(models.build, "simple_cnn", splits.input_shape, 10, seed=0)
>>> result = sc.tune_regularization(build, splits, epochs=2, out_dir="runs/tune")
>>> result.weight_decay, result.bn_momentum, result.reason

:mod:`~superconverge.tuning.procedure` (the search, pure) and
:mod:`~superconverge.tuning.study` (Optuna plumbing) import without Keras; the rest is
loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "PreciseBN",
    "TuningResult",
    "TuningSettings",
    "precise_bn",
    "tune_regularization",
]

_LAZY = {
    "TuningResult": "superconverge.tuning.api",
    "TuningSettings": "superconverge.tuning.api",
    "tune_regularization": "superconverge.tuning.api",
    "PreciseBN": "superconverge.tuning.trial",
    "precise_bn": "superconverge.tuning.trial",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'superconverge.tuning' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from superconverge.tuning.api import TuningResult, TuningSettings, tune_regularization
    from superconverge.tuning.trial import PreciseBN, precise_bn
