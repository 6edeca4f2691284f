"""Errors raised by the LR range test."""

from __future__ import annotations

from superconverge.errors import SuperconvergeError


class RangeTestError(SuperconvergeError, ValueError):
    """Bad arguments or a model/data combination the LR range test cannot run on.

    A :class:`ValueError` subclass; the message says what was wrong and what to change.
    """
