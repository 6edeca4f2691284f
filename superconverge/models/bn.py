"""Batch-norm utilities: find BN layers, change their momentum on a live model."""

from __future__ import annotations

import logging

import keras

from superconverge.errors import ArgumentError

__all__ = ["batch_norm_layers", "set_bn_momentum"]

logger = logging.getLogger(__name__)


def batch_norm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """All ``BatchNormalization`` layers of ``model``, nested models included, each once."""
    found: list[keras.layers.BatchNormalization] = []
    seen: set[int] = set()

    def visit(layer: keras.layers.Layer) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        for sub in getattr(layer, "layers", None) or ():
            visit(sub)

    for layer in model.layers:
        visit(layer)
    return found


def set_bn_momentum(model: keras.Model, momentum: float) -> int:
    """Set the momentum of every BN layer in ``model``; return the number of BN layers set
    (all of them, including any that already had this value; 0 means the model has no BN).

    Keras convention: ``moving = momentum·moving + (1 - momentum)·batch_stat`` — ``0.99`` is a
    slow average (PyTorch's ``momentum=0.1`` corresponds to ``0.9`` here).

    Works on a built, compiled, even already-trained model: BN reads ``momentum`` as a Python
    float when the train step is traced (TensorFlow ``tf.function``, JAX ``jit``), so an
    existing compiled train function is rebuilt to pick up the new value (also when called from
    a callback during ``fit``; the next step uses it).
    """
    momentum = float(momentum)
    if not 0.0 <= momentum <= 1.0:
        raise ArgumentError(f"BN momentum must be in [0, 1] (Keras convention), got {momentum}")
    layers = batch_norm_layers(model)
    differed = 0
    for layer in layers:
        if layer.momentum != momentum:
            layer.momentum = momentum
            differed += 1
    if differed and getattr(model, "train_function", None) is not None:
        model.make_train_function(force=True)
    logger.debug("BN momentum %.4g on %d layers (%d changed)", momentum, len(layers), differed)
    return len(layers)
