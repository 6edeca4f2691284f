"""Names of the built-in models, in a pure module: a configuration can be checked against them
without importing Keras (which would fix the backend before the command line chooses it).

``superconverge.models.registry`` builds exactly these (a test checks that the two agree);
models registered at run time with ``models.register`` are accepted once that module is
imported.
"""

from __future__ import annotations

import sys

__all__ = ["BUILTIN_MODELS", "known_models"]

BUILTIN_MODELS: tuple[str, ...] = ("resnet20", "resnet56", "resnet9", "simple_cnn")


def known_models() -> list[str]:
    """The built-in names, plus any registered since, if the registry is already loaded."""
    names = set(BUILTIN_MODELS)
    registry = sys.modules.get("superconverge.models.registry")
    if registry is not None:
        names.update(registry.available())
    return sorted(names)
