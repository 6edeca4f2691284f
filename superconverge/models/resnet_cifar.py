"""He et al. (2016) CIFAR ResNets: ResNet-20/32/44/56/110 (``6n + 2`` layers).

3×3 conv (16) → BN → ReLU, then three stages of ``n`` basic blocks with 16, 32, 64 filters
(the first block of stages 2 and 3 has stride 2), global average pooling, dense classifier.
Basic block: conv3×3 → BN → ReLU → conv3×3 → BN, add the shortcut, ReLU.

Shortcuts: **option A** by default, as in the paper's CIFAR experiments — identity, and where
the shape changes, spatial subsampling (stride 2) with the extra channels zero-padded, so it
adds no parameters. Option B (``shortcut="B"``) uses a 1×1 stride-2 conv + BN projection
where the shape changes. Option A is built from stock layers (``MaxPooling2D(1, 2)`` ==
``x[:, ::2, ::2]``, and ``Concatenate`` with ``Rescaling(0)`` zeros), so saved models load
without custom objects.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from superconverge.errors import ArgumentError
from superconverge.models.layers import Builder, check_input

__all__ = ["cifar_resnet"]


def _shortcut_a(x, filters: int, stride: int, name: str):
    in_ch = x.shape[-1]
    if stride != 1:
        x = keras.layers.MaxPooling2D(pool_size=1, strides=stride, name=f"{name}_sub")(x)
    extra = filters - in_ch
    if extra > 0:
        zeros = keras.layers.Rescaling(0.0, name=f"{name}_zeros")(x)
        parts = [x]
        while extra > 0:  # pad with as many zero channels as needed
            take = min(extra, in_ch)
            parts.append(zeros if take == in_ch else zeros[..., :take])
            extra -= take
        x = keras.layers.Concatenate(name=f"{name}_pad")(parts)
    return x


def _basic_block(b: Builder, x, filters: int, stride: int, shortcut: str, name: str):
    in_ch = x.shape[-1]
    y = b.conv_bn_relu(x, filters, 3, stride, name=f"{name}_a")
    y = b.conv(filters, 3, 1, name=f"{name}_b_conv")(y)
    y = b.bn(name=f"{name}_b_bn")(y)
    if stride == 1 and in_ch == filters:
        s = x
    elif shortcut == "A":
        s = _shortcut_a(x, filters, stride, f"{name}_short")
    else:
        s = b.conv(filters, 1, stride, name=f"{name}_short_conv")(x)
        s = b.bn(name=f"{name}_short_bn")(s)
    y = keras.layers.Add(name=f"{name}_add")([y, s])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def cifar_resnet(
    depth: int,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    bn_momentum: float = 0.99,
    weight_decay: float = 0.0,
    seed: int | None = None,
    shortcut: str = "A",
    output: str | None = "softmax",
) -> keras.Model:
    """A ``depth``-layer CIFAR ResNet (``depth = 6n + 2``), uncompiled.

    Args:
        shortcut: ``"A"`` (zero-padding identity, paper default for CIFAR) or ``"B"``.
        output: ``"softmax"`` (probabilities; use ``sparse_categorical_crossentropy``) or
            ``"logits"`` (use ``from_logits=True``).
    """
    name = f"resnet{depth}"
    if (depth - 2) % 6 or depth < 8:
        raise ArgumentError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 44, 56, 110), got {depth}")
    shortcut = str(shortcut).upper()
    if shortcut not in ("A", "B"):
        raise ArgumentError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
    shape = check_input(name, input_shape, num_classes, ranks=(3,), min_spatial=4)
    n = (depth - 2) // 6
    b = Builder(bn_momentum=bn_momentum, weight_decay=weight_decay, seed=seed)
    inputs = keras.Input(shape=shape, name="image")
    x = b.conv_bn_relu(inputs, 16, 3, 1, name="stem")
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(n):
            stride = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(b, x, filters, stride, shortcut, f"s{stage}b{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = Builder.head(x, num_classes, b.dense(num_classes, name="fc"), output=output)
    return keras.Model(inputs, outputs, name=f"{name}{'' if shortcut == 'A' else '_b'}")
