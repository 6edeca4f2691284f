"""Undo the in-step hooks that a ``fit`` which raised left on a model.

Keras calls ``on_train_end`` only when ``fit`` returns. A callback that puts hooks into the
compiled train step (``OneCycle``'s schedule, the range test's in-step sweep) registers a
clean-up here when it installs them, and withdraws it when it removes them itself. Every
``fit`` (and ``train_on_batch``) calls ``model.make_train_function()`` before any callback
runs; while a clean-up is pending, an instance-level wrapper of that method runs the pending
clean-ups, forces a fresh train step and removes itself. So a plain ``fit`` after a failed one
runs plain Keras, and the callbacks of the new ``fit`` install their hooks on a clean model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import keras

logger = logging.getLogger(__name__)

_GUARD_ATTR = "make_train_function"  # the instance attribute the guard occupies
_PENDING_ATTR = "_superconverge_pending_cleanups"


def _pending(model: keras.Model) -> dict[str, Callable[[], None]]:
    return vars(model).get(_PENDING_ATTR) or {}


def register(model: keras.Model, name: str, cleanup: Callable[[], None]) -> None:
    """Run ``cleanup`` at the next ``make_train_function()`` unless :func:`withdraw` comes
    first. One clean-up per ``name``; a second registration replaces the first."""
    pending = _pending(model)
    if not pending:
        object.__setattr__(model, _PENDING_ATTR, pending)
    pending[name] = cleanup
    if _GUARD_ATTR not in vars(model):

        def make_train_function(force: bool = False) -> Any:
            if run_pending(model):
                force = True
            return type(model).make_train_function(model, force=force)

        object.__setattr__(model, _GUARD_ATTR, make_train_function)


def withdraw(model: keras.Model, name: str) -> None:
    """Forget the clean-up registered as ``name`` (its owner removed its hooks itself); the
    guard goes when none is left. Safe when nothing is registered."""
    pending = _pending(model)
    pending.pop(name, None)
    if not pending:
        vars(model).pop(_PENDING_ATTR, None)
        vars(model).pop(_GUARD_ATTR, None)


def run_pending(model: keras.Model) -> bool:
    """Run every pending clean-up now and remove the guard; True if there was any."""
    pending = dict(_pending(model))
    vars(model).pop(_PENDING_ATTR, None)
    vars(model).pop(_GUARD_ATTR, None)
    for name, cleanup in pending.items():
        logger.info("%s: removing the hooks left by a fit that raised", name)
        cleanup()
    return bool(pending)
