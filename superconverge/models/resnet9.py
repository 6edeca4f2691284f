"""ResNet-9 of the Myrtle.ai DAWNBench CIFAR-10 entry (David Page, "How to train your ResNet").

prep: conv-BN-ReLU(64) → layer1: conv-BN-ReLU(128), max-pool 2, residual(2 × conv-BN-ReLU(128))
→ layer2: conv-BN-ReLU(256), max-pool 2 → layer3: conv-BN-ReLU(512), max-pool 2,
residual(2 × conv-BN-ReLU(512)) → global max-pool → dense (no bias) → × 0.125.
Residual: ``x + f(x)`` with no activation after the add, as in the original.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from superconverge.errors import ArgumentError
from superconverge.models.layers import Builder, check_input

__all__ = ["resnet9"]


def resnet9(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    bn_momentum: float = 0.99,
    weight_decay: float = 0.0,
    seed: int | None = None,
    width: int = 64,
    output: str | None = "softmax",
) -> keras.Model:
    """ResNet-9 (Myrtle), uncompiled; ``width`` is the prep-layer channel count (64)."""
    shape = check_input("resnet9", input_shape, num_classes, ranks=(3,), min_spatial=8)
    b = Builder(bn_momentum=bn_momentum, weight_decay=weight_decay, seed=seed)
    w = int(width)
    inputs = keras.Input(shape=shape, name="image")
    x = b.conv_bn_relu(inputs, w, name="prep")
    for i, (filters, residual) in enumerate(((2 * w, True), (4 * w, False), (8 * w, True)), 1):
        x = b.conv_bn_relu(x, filters, name=f"layer{i}")
        x = keras.layers.MaxPooling2D(2, name=f"layer{i}_pool")(x)
        if residual:
            r = b.conv_bn_relu(x, filters, name=f"layer{i}_res1")
            r = b.conv_bn_relu(r, filters, name=f"layer{i}_res2")
            x = keras.layers.Add(name=f"layer{i}_add")([x, r])
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    x = b.dense(num_classes, use_bias=False, name="fc")(x)
    x = keras.layers.Rescaling(0.125, name="scale")(x)
    if output == "softmax":
        x = keras.layers.Activation("softmax", dtype="float32", name="probs")(x)
    elif output not in (None, "logits"):
        raise ArgumentError(f"output must be 'softmax' or 'logits', got {output!r}")
    return keras.Model(inputs, x, name="resnet9")
