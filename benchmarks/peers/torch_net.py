"""``simple_cnn`` in PyTorch, layer for layer the Keras model of
``superconverge.models.simple_cnn`` (peers venv).

* five conv(3×3, no bias) → BN → ReLU blocks, widths ``w, 2w, 2w, 4w, 4w`` (``w = 16``),
  strides ``1, 2, 1, 2, 1``, Keras ``padding="same"`` (for stride 2 Keras pads
  ``total = max((ceil(n/s) - 1)·s + k - n, 0)`` with the extra pixel at the bottom/right; so
  does :class:`SameConv2d`), global average pooling, dense head with bias;
* initialisers as Keras: ``he_normal`` is a *truncated* normal (±2σ) with
  ``σ = sqrt(2 / fan_in) / 0.87962566103423978``; the dense kernel is ``glorot_uniform``
  (``U(±sqrt(6 / (fan_in + fan_out)))``), biases zero; BN ``γ = 1, β = 0``;
* BN epsilon ``1e-5`` (``superconverge.models.layers.BN_EPSILON``) and momentum in the PyTorch
  convention: Keras ``momentum = 0.99`` (``moving = 0.99·moving + 0.01·batch``) is PyTorch
  ``momentum = 0.01``;
* the head returns logits (``nn.CrossEntropyLoss`` = Keras' softmax + sparse cross-entropy).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

BN_EPSILON = 1e-5  # superconverge.models.layers.BN_EPSILON
KERAS_TRUNCATED_NORMAL_STD = 0.87962566103423978  # Keras VarianceScaling's correction


def keras_to_torch_bn_momentum(keras_momentum: float) -> float:
    return 1.0 - keras_momentum


class SameConv2d(nn.Conv2d):
    """``Conv2d`` with Keras' ``padding="same"`` for any stride (extra pad bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(functional.pad(x, (left, right, top, bottom)))


class SimpleCNN(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, width: int = 16,
                 bn_momentum: float = 0.99) -> None:
        """``bn_momentum`` in the **Keras** convention, like ``simple_cnn``'s argument."""
        super().__init__()
        w = int(width)
        blocks = []
        channels = in_channels
        for filters, stride in ((w, 1), (2 * w, 2), (2 * w, 1), (4 * w, 2), (4 * w, 1)):
            blocks += [
                SameConv2d(channels, filters, 3, stride=stride, padding=0, bias=False),
                nn.BatchNorm2d(filters, eps=BN_EPSILON,
                               momentum=keras_to_torch_bn_momentum(bn_momentum)),
                nn.ReLU(inplace=True),
            ]
            channels = filters
        self.features = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                std = math.sqrt(2.0 / fan_in) / KERAS_TRUNCATED_NORMAL_STD
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            elif isinstance(m, nn.Linear):
                limit = math.sqrt(6.0 / (m.in_features + m.out_features))
                nn.init.uniform_(m.weight, -limit, limit)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.fc(x.mean(dim=(2, 3)))  # global average pooling


def param_counts(model: nn.Module) -> dict[str, int]:
    """Counted like Keras' ``count_params``: trainable parameters plus the BN moving
    mean/variance (PyTorch buffers; ``num_batches_tracked`` has no Keras counterpart)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for name, b in model.named_buffers()
                  if name.endswith(("running_mean", "running_var")))
    return {"total": trainable + buffers, "trainable": trainable, "non_trainable": buffers}
