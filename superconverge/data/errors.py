"""Exceptions raised by :mod:`superconverge.data`.

All of them derive from :class:`DataError`, and each also derives from the built-in exception a
caller would naturally catch (``FileNotFoundError`` for missing data, ``ValueError`` for bad
content or bad arguments).
"""

from __future__ import annotations

__all__ = [
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "EmptyDatasetError",
    "UnknownDatasetError",
]


class DataError(Exception):
    """Base class of every error raised by :mod:`superconverge.data`."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data set is not on disk where we looked (and downloading was not allowed)."""


class CorruptDataError(DataError, ValueError):
    """Files were found but their content is malformed (bad header, truncated, wrong counts...)."""


class EmptyDatasetError(CorruptDataError):
    """A data source holds no examples (e.g. an image folder without images)."""


class UnknownDatasetError(DataError, ValueError):
    """``data.load`` was given a name that is not registered."""
