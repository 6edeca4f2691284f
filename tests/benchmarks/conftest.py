"""Shared by the benchmark tests: a benchmark script imported as a module."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def benchmark_module(stem: str) -> Iterator[ModuleType]:
    """``benchmarks/STEM.py`` loaded under a private name (with ``benchmarks/`` importable for
    its own imports), removed from ``sys.modules`` afterwards: the body of a module fixture."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    name = f"_{stem}"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(name, None)
