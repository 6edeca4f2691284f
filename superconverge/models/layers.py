"""Shared building blocks: one place decides initialisers, weight decay and BN settings.

Weight decay follows Smith's Caffe convention. Caffe's ``weight_decay = λ`` adds ``λ·w`` to the
gradient of every decayed weight, i.e. it minimises ``loss + (λ/2)·||w||²``; Keras'
``L2(l2)`` adds ``l2·||w||²`` to the loss, hence ``keras.regularizers.L2(λ / 2)``. It is applied
to convolution and dense *kernels* only (not biases, not BN γ/β). Batch-norm momentum uses the
Keras convention: ``moving = momentum·moving + (1 - momentum)·batch`` (0.99 = slow average;
PyTorch's ``momentum=0.1`` is Keras' ``0.9``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from superconverge.errors import ArgumentError
from superconverge.models.errors import ModelInputError

__all__ = ["BN_EPSILON", "Builder", "caffe_l2", "check_input"]

#: BN epsilon of the PyTorch/Caffe reference implementations (Keras' default is 1e-3).
BN_EPSILON = 1e-5


def caffe_l2(weight_decay: float) -> keras.regularizers.Regularizer | None:
    """``keras.regularizers.L2(weight_decay / 2)``: Caffe's ``weight_decay`` (``None`` if 0)."""
    if weight_decay < 0:
        raise ArgumentError(f"weight_decay must be >= 0, got {weight_decay}")
    return keras.regularizers.L2(weight_decay / 2.0) if weight_decay > 0 else None


def check_input(
    model_name: str,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    ranks: tuple[int, ...] = (3,),
    min_spatial: int = 1,
) -> tuple[int, ...]:
    """Validate ``input_shape`` (without the batch axis) and ``num_classes``."""
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(
            f"{model_name}: input_shape must be a tuple of ints, got {input_shape!r}"
        ) from exc
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ModelInputError(f"{model_name}: num_classes must be an int >= 2, got {num_classes!r}")
    kinds = {2: "(length, channels) 1-D signals", 3: "(height, width, channels) images"}
    if len(shape) not in ranks:
        wanted = " or ".join(kinds[r] for r in ranks)
        hint = " Use 'simple_cnn' for 1-D signals." if 2 not in ranks else ""
        raise ModelInputError(
            f"{model_name} needs {wanted} (channels last), got input_shape={shape}.{hint}"
        )
    if any(d < 1 for d in shape):
        raise ModelInputError(f"{model_name}: input_shape {shape} has non-positive sizes")
    if any(d < min_spatial for d in shape[:-1]):
        raise ModelInputError(
            f"{model_name}: spatial size {shape[:-1]} too small; need at least {min_spatial} "
            "per axis for its down-sampling stages"
        )
    return shape


class Builder:
    """Creates layers with consistent settings (BN momentum, weight decay, seeded init).

    With ``seed`` set, layer ``k`` (in creation order) gets initialiser seed ``seed + k``, so a
    model is reproducible yet no two layers share a seed.
    """

    def __init__(
        self, *, bn_momentum: float = 0.99, weight_decay: float = 0.0, seed: int | None = None
    ) -> None:
        if not 0.0 <= bn_momentum <= 1.0:
            raise ArgumentError(
                f"bn_momentum must be in [0, 1] (Keras convention), got {bn_momentum}"
            )
        self.bn_momentum = float(bn_momentum)
        self.regularizer = caffe_l2(float(weight_decay))
        self.seed = seed
        self._count = 0

    def _init(self, kind: str = "he_normal") -> keras.initializers.Initializer:
        seed = None if self.seed is None else self.seed + self._count
        self._count += 1
        return keras.initializers.get({"class_name": kind, "config": {"seed": seed}})

    def conv(
        self,
        filters: int,
        kernel: int = 3,
        stride: int = 1,
        *,
        rank: int = 2,
        name: str | None = None,
    ) -> keras.layers.Layer:
        cls = keras.layers.Conv2D if rank == 2 else keras.layers.Conv1D
        return cls(
            filters,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer=self._init(),
            kernel_regularizer=self.regularizer,
            name=name,
        )

    def bn(self, name: str | None = None) -> keras.layers.BatchNormalization:
        return keras.layers.BatchNormalization(
            momentum=self.bn_momentum, epsilon=BN_EPSILON, name=name
        )

    def dense(self, units: int, *, use_bias: bool = True, name: str | None = None):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=self._init("glorot_uniform"),
            kernel_regularizer=self.regularizer,
            name=name,
        )

    def conv_bn_relu(
        self, x, filters: int, kernel: int = 3, stride: int = 1, *, rank: int = 2,
        name: str = "conv",
    ):  # fmt: skip
        x = self.conv(filters, kernel, stride, rank=rank, name=f"{name}_conv")(x)
        x = self.bn(name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    @staticmethod
    def head(x, num_classes: int, dense: keras.layers.Layer, *, output: str | None):
        """Classifier output: ``softmax`` probabilities (default) or raw logits."""
        x = dense(x)
        if output == "softmax":
            x = keras.layers.Activation("softmax", dtype="float32", name="probs")(x)
        elif output not in (None, "logits"):
            raise ArgumentError(f"output must be 'softmax' or 'logits', got {output!r}")
        return x
