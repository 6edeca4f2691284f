"""Atomic file writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from superconverge.errors import SuperconvergeError


def _read_umask() -> int:
    # os.umask can only be read by setting it: do it once, at import, not per write
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temp file in the same folder, fsync it, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; give the file the permissions a plain open() would
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)
    return path


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """Make a rename inside ``folder`` durable (best effort where directories can't be
    opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_with(
    path: str | os.PathLike[str], write: Callable[[Path], Any]
) -> Path:
    """Atomic write through a library's own saver: ``write(temp_path)`` (e.g.
    ``model.save``) writes a temp file ``.tmp-XXXX-NAME`` beside ``path`` (same suffix, which
    Keras requires), which is fsynced, given ordinary permissions and renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.urandom(4).hex()}-{path.name}")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    fsync_directory(path.parent)
    return path



def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def atomic_write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default, allow_nan=True)
    return atomic_write_text(path, text + "\n")


class DamagedFileError(SuperconvergeError, ValueError):
    """A file the project wrote can no longer be read (edited, truncated, not ours)."""


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a damaged one raises :class:`DamagedFileError` naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DamagedFileError(
            f"{path} is damaged ({error}); it is not the JSON superconverge wrote. Restore it "
            "or start a new run in another folder."
        ) from None


def atomic_write_csv(
    path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return atomic_write_text(path, buffer.getvalue())


def read_csv(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    with open(path, encoding="utf-8", newline="") as handle:
        # empty cells (a column one run does not have) are left out of that row
        return [
            {k: _csv_float(path, k, v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(handle)
        ]


def _csv_float(path: str | os.PathLike[str], column: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DamagedFileError(
            f"{path} is damaged: column {column!r} holds {value!r}, not a number"
        ) from None
