"""Automatic LR bounds from an LR range test (pure NumPy/SciPy: no Keras, no plotting, no I/O).

>>> import numpy as np
>>> from superconverge.bounds import suggest
>>> s = suggest(lrs, losses)                     # doctest: +SKIP
>>> s.max_lr, s.min_lr, s.confidence, s.reason   # doctest: +SKIP

Methods (``suggest(..., method=...)``): ``auto`` (default; see
:mod:`superconverge.bounds.auto`), fastai's ``valley``, ``steep``, ``minimum``, ``slide``
(:mod:`~superconverge.bounds.fastai`), ``lightning``
(:mod:`~superconverge.bounds.lightning`) and Smith's ``accuracy``
(:mod:`~superconverge.bounds.accuracy`). Add your own with :func:`register_method`.
"""

from superconverge.bounds.auto import MIN_FINITE_POINTS
from superconverge.bounds.core import MethodFn, available_methods, register_method, suggest
from superconverge.bounds.types import Pick, Suggestion, SuggestionError, Sweep

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
