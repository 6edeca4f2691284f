"""The one way the library compiles a classifier for training (range test, tuning, pipeline)."""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["DEFAULT_LOSS", "compile_classifier"]

#: the built-in models end in a float32 softmax (see ``models.build``)
DEFAULT_LOSS = "sparse_categorical_crossentropy"


def compile_classifier(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, *, loss: Any = None
) -> keras.Model:
    """Compile ``model`` with ``optimizer`` and an accuracy metric.

    The loss is the model's own when it arrives compiled (a user's model keeps what its owner
    chose), else ``loss``, else :data:`DEFAULT_LOSS`. Returns the model.
    """
    own = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
    model.compile(optimizer=optimizer, loss=own or loss or DEFAULT_LOSS, metrics=["accuracy"])
    return model
