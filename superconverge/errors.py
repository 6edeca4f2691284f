"""The one base class of every error superconverge raises for the user to act on.

Each subclass also derives from the built-in exception a caller would naturally catch
(``ValueError`` for bad arguments or content, ``FileNotFoundError`` for missing data), so
``except ValueError`` keeps working. The command line catches :class:`SuperconvergeError`
(and ``OSError`` on paths the user gave) and prints one line with exit code 2; anything else
is a bug and keeps its traceback.

Pure: imports nothing from the package, so every layer may import it.
"""

from __future__ import annotations

__all__ = ["ArgumentError", "SuperconvergeError"]


class SuperconvergeError(Exception):
    """Base class: the message says what was wrong and what to do about it."""


class ArgumentError(SuperconvergeError, ValueError):
    """An argument that cannot be used: out of range, the wrong type, or inconsistent."""
