"""Exceptions raised by :mod:`superconverge.models`."""

from __future__ import annotations

__all__ = ["ModelInputError", "UnknownModelError"]


class UnknownModelError(ValueError):
    """``models.build`` was given a name that is not registered."""


class ModelInputError(ValueError):
    """The input shape / class count does not suit the requested architecture."""
