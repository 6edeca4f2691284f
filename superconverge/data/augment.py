"""Vectorised NumPy data augmentation applied per batch (no per-image Python loop).

The two standard CIFAR augmentations — zero-pad by ``pad`` pixels then take a random crop of the
original size (a random translation by up to ``±pad`` pixels), and a random horizontal flip —
for batches shaped ``(batch, height, width, channels)`` (channels last) or
``(batch, length, channels)`` for 1-D signals (pad/crop and flip act on the length axis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from superconverge.errors import ArgumentError

__all__ = ["Augmentation", "random_crop", "random_flip"]


def random_crop(x: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    """Zero-pad the spatial axes of ``x`` by ``pad`` and crop back to the input size at a
    random offset drawn independently per example (uniform on ``0 … 2·pad``)."""
    if pad <= 0:
        return x
    batch = x.shape[0]
    spatial = x.shape[1:-1]
    widths = [(0, 0)] + [(pad, pad)] * len(spatial) + [(0, 0)]
    padded = np.pad(x, widths)
    b = np.arange(batch)
    if len(spatial) == 1:
        (length,) = spatial
        off = rng.integers(0, 2 * pad + 1, size=batch)
        idx = off[:, None] + np.arange(length)
        return padded[b[:, None], idx]
    if len(spatial) == 2:
        height, width = spatial
        oy = rng.integers(0, 2 * pad + 1, size=batch)
        ox = rng.integers(0, 2 * pad + 1, size=batch)
        rows = (oy[:, None] + np.arange(height))[:, :, None]
        cols = (ox[:, None] + np.arange(width))[:, None, :]
        return padded[b[:, None, None], rows, cols]
    raise ArgumentError(f"random_crop expects 1 or 2 spatial axes, got batch shape {x.shape}")


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Reverse the width axis (axis ``-2``: width of an image, length of a 1-D signal) of each
    example with probability ``p``."""
    flip = rng.random(x.shape[0]) < p
    if not flip.any():
        return x
    out = x.copy()
    out[flip] = x[flip][:, ..., ::-1, :]
    return out


@dataclass(frozen=True)
class Augmentation:
    """Random translation (pad + crop) and horizontal flip.

    Attributes:
        pad: pixels of zero padding before the random crop back to the original size (0 = none).
        flip: whether to flip horizontally with probability 1/2.
    """

    pad: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.pad, int | np.integer) or self.pad < 0:
            raise ArgumentError(f"Augmentation.pad must be a non-negative int, got {self.pad!r}")

    @property
    def is_identity(self) -> bool:
        return self.pad == 0 and not self.flip

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment one batch ``x`` (first axis = examples); returns a new array."""
        if self.pad:
            x = random_crop(x, self.pad, rng)
        if self.flip:
            x = random_flip(x, rng)
        return x

    def describe(self) -> str:
        parts = []
        if self.pad:
            parts.append(f"pad-{self.pad} random crop")
        if self.flip:
            parts.append("horizontal flip")
        return " + ".join(parts) if parts else "none"
