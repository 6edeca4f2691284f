"""``simple_cnn``: a small BN CNN standing in for a company's custom model.

Five conv-BN-ReLU layers (widths ``w, 2w, 2w, 4w, 4w`` with ``w = 16``; the 2nd and 4th have
stride 2), global average pooling, dense classifier: ≈ 70 k parameters, ≈ 5.5 M
multiply-adds per 28×28 image, so it trains at thousands of images/s on two CPU cores. Accepts
images ``(H, W, C)`` (``Conv2D``) or 1-D signals ``(L, C)`` (``Conv1D``, e.g. MNIST-1D).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from superconverge.models.layers import Builder, check_input

__all__ = ["simple_cnn"]


def simple_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    bn_momentum: float = 0.99,
    weight_decay: float = 0.0,
    seed: int | None = None,
    width: int = 16,
    output: str | None = "softmax",
) -> keras.Model:
    """The small CNN described in the module docstring, uncompiled."""
    shape = check_input("simple_cnn", input_shape, num_classes, ranks=(2, 3), min_spatial=4)
    rank = len(shape) - 1
    b = Builder(bn_momentum=bn_momentum, weight_decay=weight_decay, seed=seed)
    w = int(width)
    inputs = keras.Input(shape=shape, name="image" if rank == 2 else "signal")
    x = inputs
    for i, (filters, stride) in enumerate(((w, 1), (2 * w, 2), (2 * w, 1), (4 * w, 2), (4 * w, 1))):
        x = b.conv_bn_relu(x, filters, 3, stride, rank=rank, name=f"block{i + 1}")
    pool = keras.layers.GlobalAveragePooling2D if rank == 2 else keras.layers.GlobalAveragePooling1D
    x = pool(name="pool")(x)
    outputs = Builder.head(x, num_classes, b.dense(num_classes, name="fc"), output=output)
    return keras.Model(inputs, outputs, name="simple_cnn")
