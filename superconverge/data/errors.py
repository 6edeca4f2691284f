"""Exceptions raised by :mod:`superconverge.data`.

All of them derive from :class:`DataError`, and each also derives from the built-in exception a
caller would naturally catch (``FileNotFoundError`` for missing data, ``ValueError`` for bad
content or bad arguments).
"""

from __future__ import annotations

from typing import Any

from superconverge.errors import SuperconvergeError

__all__ = [
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "EmptyDatasetError",
    "UnknownDatasetError",
    "keras_download",
]


class DataError(SuperconvergeError):
    """Base class of every error raised by :mod:`superconverge.data`."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data set is not on disk where we looked (and downloading was not allowed)."""


class CorruptDataError(DataError, ValueError):
    """Files were found but their content is malformed (bad header, truncated, wrong counts...)."""


class EmptyDatasetError(CorruptDataError):
    """A data source holds no examples (e.g. an image folder without images)."""


class UnknownDatasetError(DataError, ValueError):
    """``data.load`` was given a name that is not registered."""


def keras_download(load_data: Any, what: str) -> Any:
    """Call a ``keras.datasets.*.load_data`` and turn a failed download (no network, a proxy,
    a truncated file) into a :class:`DataNotFoundError` that says what to do instead."""
    try:
        return load_data()
    except Exception as error:  # urllib, ssl, zip and OS errors all end the same way
        raise DataNotFoundError(
            f"downloading {what} failed ({type(error).__name__}: {error}). Without network "
            "access, put the data set's files on disk and pass --data-path (see the error "
            "without --download for where it looks)."
        ) from None
