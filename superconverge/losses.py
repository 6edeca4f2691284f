"""Losses the pipeline compiles with, registered so that saved models load again."""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["SparseSmoothedCrossentropy", "flip_tta_predict"]


@keras.saving.register_keras_serializable(package="superconverge")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (Szegedy et al. 2016).

    Keras's ``SparseCategoricalCrossentropy`` has no ``label_smoothing``: this one turns the
    labels into one-hot vectors of the prediction's width and calls
    ``keras.losses.categorical_crossentropy(..., label_smoothing=...)``, i.e. the target is
    ``(1 - ε)·onehot + ε / K``. ``label_smoothing = 0`` equals the sparse cross-entropy.
    """

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False,
                 name: str = "sparse_smoothed_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        classes = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        onehot = keras.ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            onehot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits}


def flip_tta_predict(model: keras.Model, x: Any, *, batch_size: int = 512) -> Any:
    """Class probabilities averaged over each image and its horizontal mirror image (TTA).

    ``x`` is channels-last, ``(N, H, W, C)`` (the width axis, ``-2``, is reversed). The model
    must output probabilities (softmax), as the built-in models do.
    """
    import numpy as np

    x = np.asarray(x)
    plain = model.predict(x, batch_size=batch_size, verbose=0)
    mirrored = model.predict(np.ascontiguousarray(x[..., ::-1, :]), batch_size=batch_size,
                             verbose=0)
    return (np.asarray(plain, dtype=np.float64) + np.asarray(mirrored, dtype=np.float64)) / 2.0
