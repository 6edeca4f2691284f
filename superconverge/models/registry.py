"""The model registry: ``build(name, ...)`` and ``available()``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import keras

from superconverge.errors import ArgumentError
from superconverge.models.errors import UnknownModelError
from superconverge.models.resnet9 import resnet9
from superconverge.models.resnet_cifar import cifar_resnet
from superconverge.models.simple_cnn import simple_cnn

__all__ = ["available", "build", "register"]

Builder = Callable[..., keras.Model]

_BUILDERS: dict[str, Builder] = {
    "resnet20": functools.partial(cifar_resnet, 20),
    "resnet56": functools.partial(cifar_resnet, 56),
    "resnet9": resnet9,
    "simple_cnn": simple_cnn,
}


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def available() -> list[str]:
    """Names accepted by :func:`build`, sorted."""
    return sorted(_BUILDERS)


def register(name: str, builder: Builder, *, overwrite: bool = False) -> None:
    """Add ``builder(input_shape, num_classes, *, bn_momentum, weight_decay, seed, **kw)``."""
    key = _canonical(name)
    if key in _BUILDERS and not overwrite:
        raise ArgumentError(f"a model named {key!r} is already registered")
    _BUILDERS[key] = builder


def build(
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    bn_momentum: float = 0.99,
    weight_decay: float = 0.0,
    seed: int | None = None,
    **options: Any,
) -> keras.Model:
    """Build an uncompiled Keras model.

    Args:
        name: one of :func:`available`: ``"resnet20"``, ``"resnet56"`` (He et al. CIFAR
            ResNets, option-A shortcuts; ``shortcut="B"`` for projections), ``"resnet9"``
            (Myrtle/DAWNBench), ``"simple_cnn"`` (small, fast; also accepts 1-D input).
        input_shape: one example's shape, channels last, e.g. ``(32, 32, 3)``.
        num_classes: output units.
        bn_momentum: Keras convention (``moving = m·moving + (1-m)·batch``; 0.99 = slow).
        weight_decay: Caffe/Smith ``λ``: adds ``λ·w`` to the gradient of every conv/dense
            kernel, i.e. ``loss += (λ/2)·||w||²`` via ``keras.regularizers.L2(λ / 2)``.
        seed: seeds the initialisers (layer ``k`` gets ``seed + k``); ``None``: Keras' global
            seeding.
        **options: architecture options: ``output="softmax"`` (default, probabilities — compile
            with ``"sparse_categorical_crossentropy"``) or ``"logits"``; ``width`` (simple_cnn,
            resnet9); ``shortcut`` (resnets).

    Raises:
        UnknownModelError: unknown ``name`` (the message lists the valid ones).
        ModelInputError: an input shape the architecture cannot take (e.g. a ResNet on 1-D
            input, or too small to down-sample), or ``num_classes < 2``.
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {name!r}")
    key = _canonical(name)
    if key not in _BUILDERS:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _BUILDERS[key](
        input_shape,
        num_classes,
        bn_momentum=bn_momentum,
        weight_decay=weight_decay,
        seed=seed,
        **options,
    )
