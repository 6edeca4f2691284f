"""Automatic LR bounds from an LR range test (pure NumPy/SciPy: no Keras, no plotting, no I/O).

>>> import numpy as np
>>> from superconverge.suggest import suggest
>>> s = suggest(lrs, losses)                     # doctest: +SKIP
>>> s.max_lr, s.min_lr, s.confidence, s.reason   # doctest: +SKIP

Methods (``suggest(..., method=...)``): ``auto`` (default; see
:mod:`superconverge.suggest.auto`), fastai's ``valley``, ``steep``, ``minimum``, ``slide``
(:mod:`~superconverge.suggest.fastai`), ``lightning``
(:mod:`~superconverge.suggest.lightning`) and Smith's ``accuracy``
(:mod:`~superconverge.suggest.accuracy`). Add your own with :func:`register_method`.
"""

from superconverge.suggest.auto import MIN_FINITE_POINTS
from superconverge.suggest.core import MethodFn, available_methods, register_method, suggest
from superconverge.suggest.types import Pick, Suggestion, SuggestionError, Sweep

__all__ = [
    "MIN_FINITE_POINTS",
    "MethodFn",
    "Pick",
    "Suggestion",
    "SuggestionError",
    "Sweep",
    "available_methods",
    "register_method",
    "suggest",
]
