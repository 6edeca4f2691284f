"""Exceptions raised by :mod:`superconverge.models`."""

from __future__ import annotations

from superconverge.errors import SuperconvergeError

__all__ = ["ModelInputError", "UnknownModelError"]


class UnknownModelError(SuperconvergeError, ValueError):
    """``models.build`` was given a name that is not registered."""


class ModelInputError(SuperconvergeError, ValueError):
    """The input shape / class count does not suit the requested architecture."""
