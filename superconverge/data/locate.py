"""Where data sets are looked for on disk (pure path logic, no Keras import).

Search order for every file-based data set:

1. the explicit ``path`` argument (if given, *only* there);
2. ``$SUPERCONVERGE_DATA/<subdir>`` then ``$SUPERCONVERGE_DATA`` itself;
3. system directories (``/usr/share/datasets/<subdir>``, from Debian's ``dataset-*`` packages);
4. Keras' download cache: ``$KERAS_HOME/datasets/...`` (default ``~/.keras``, or
   ``/tmp/.keras`` when the home directory is not writable, as Keras does).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["ENV_VAR", "SYSTEM_ROOTS", "candidate_dirs", "keras_cache_dirs"]

#: Environment variable naming a directory with data sets.
ENV_VAR = "SUPERCONVERGE_DATA"
#: System-wide data roots (tests monkeypatch this).
SYSTEM_ROOTS: list[Path] = [Path("/usr/share/datasets")]


def keras_cache_dirs() -> list[Path]:
    """The ``datasets`` folders Keras downloads into (without importing Keras)."""
    roots = []
    if os.environ.get("KERAS_HOME"):
        roots.append(Path(os.environ["KERAS_HOME"]))
    roots.append(Path(os.path.expanduser("~")) / ".keras")
    roots.append(Path("/tmp/.keras"))
    out: list[Path] = []
    for root in roots:
        if root / "datasets" not in out:
            out.append(root / "datasets")
    return out


def candidate_dirs(
    path: str | os.PathLike[str] | None,
    subdirs: Sequence[str],
    *,
    keras_subdirs: Iterable[str] = (),
) -> list[Path]:
    """Directories to search, in order (see the module docstring).

    Args:
        path: an explicit directory; when given, it is the only place searched (plus its
            ``subdirs``, so ``path`` may point at a parent folder).
        subdirs: conventional folder names of the data set, e.g. ``("fashion-mnist",)``.
        keras_subdirs: folder names inside Keras' ``datasets`` cache.
    """
    if path is not None:
        base = Path(path).expanduser()
        return [base, *(base / s for s in subdirs)]
    dirs: list[Path] = []
    env = os.environ.get(ENV_VAR)
    if env:
        base = Path(env).expanduser()
        dirs += [base / s for s in subdirs] + [base]
    for root in SYSTEM_ROOTS:
        dirs += [root / s for s in subdirs]
    keras_subdirs = list(keras_subdirs)
    for cache in keras_cache_dirs():
        dirs += [cache / s for s in keras_subdirs]
    return dirs
