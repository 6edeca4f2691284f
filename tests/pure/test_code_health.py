"""Contracts that keep the layers honest (issue 18)."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_building_a_config_does_not_import_keras():
    # the CLI sets KERAS_BACKEND after parsing; a config that imported Keras would pre-empt it
    out = _run(
        "import sys\n"
        "from superconverge.pipeline.config import RunConfig\n"
        "RunConfig(model='resnet20', dataset='synthetic')\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules))"
    )
    assert out == "[]"


def test_builtin_model_names_match_the_registry():
    out = _run(
        "from superconverge.names import BUILTIN_MODELS\n"
        "from superconverge.models import available\n"
        "print(sorted(BUILTIN_MODELS) == available())"
    )
    assert out == "True"


def test_every_error_class_derives_from_the_one_base():
    out = _run(
        "import inspect, pkgutil, importlib, superconverge\n"
        "from superconverge.errors import SuperconvergeError\n"
        "bad = []\n"
        "for info in pkgutil.walk_packages(superconverge.__path__, 'superconverge.'):\n"
        "    if info.name == 'superconverge.__main__': continue\n"
        "    module = importlib.import_module(info.name)\n"
        "    for name, obj in vars(module).items():\n"
        "        if (inspect.isclass(obj) and issubclass(obj, Exception)\n"
        "                and obj.__module__ == module.__name__ and not name.startswith('_')\n"
        "                and not issubclass(obj, SuperconvergeError)):\n"
        "            bad.append(f'{module.__name__}.{name}')\n"
        "print(bad)"
    )
    assert out == "[]"


def test_the_bounds_package_and_the_suggest_function_have_different_names():
    out = _run(
        "import superconverge.bounds as bounds\n"
        "import superconverge as sc\n"
        "print(type(bounds).__name__, callable(sc.suggest), sc.suggest is bounds.suggest)"
    )
    assert out == "module True True"
