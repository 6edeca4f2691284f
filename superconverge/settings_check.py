"""The one "same settings?" check used wherever work is resumed (a run directory, a tuning
study): which keys differ, said in one message style. Pure: no imports from the package."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["changed_keys", "mismatch_message"]


def changed_keys(
    saved: Mapping[str, Any], current: Mapping[str, Any], *, ignore: Iterable[str] = ()
) -> list[str]:
    """Keys (of either mapping, less ``ignore``) whose values differ, sorted."""
    skip = set(ignore)
    return sorted(k for k in set(saved) | set(current)
                  if k not in skip and saved.get(k) != current.get(k))


def mismatch_message(
    what: str, saved: Mapping[str, Any], current: Mapping[str, Any], keys: Iterable[str],
    remedy: str,
) -> str:
    """``"WHAT was started with other settings (a different configuration: k: old -> new,
    ...). REMEDY"``."""
    details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys)
    return (f"{what} was started with other settings (a different configuration: {details}). "
            f"{remedy}")
