"""Library, backend and machine versions, recorded in every run directory."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

_PACKAGES = ("superconverge", "keras", "numpy", "scipy", "tensorflow-cpu", "tensorflow",
             "jax", "jaxlib", "torch", "optuna", "matplotlib")


def environment_info() -> dict[str, Any]:
    import keras

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "keras_backend": keras.backend.backend(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
    }
