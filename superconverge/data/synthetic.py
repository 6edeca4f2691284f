"""A small, fast, learnable synthetic image data set for tests and smoke runs.

Each class ``k`` is a Gaussian blob centred at a class-specific point on a circle around the
image centre; every example jitters the centre, the width and the brightness, and adds pixel
noise. Pixel values are ``uint8`` (like real images), scaled to ``[0, 1]`` by ``load``. A small
CNN reaches high accuracy within an epoch or two. The data are fixed by ``data_seed``.
"""

from __future__ import annotations

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.splits import RawData
from superconverge.errors import ArgumentError

__all__ = ["load_synthetic", "make_blobs"]


def make_blobs(
    n: int,
    *,
    num_classes: int = 4,
    image_size: int = 16,
    channels: int = 1,
    noise: float = 0.1,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``uint8 (n, image_size, image_size, channels)`` and balanced labels."""
    y = np.arange(n) % num_classes
    rng.shuffle(y)
    angle = 2 * np.pi * y / num_classes
    radius = image_size / 4
    centre = (image_size - 1) / 2
    cy = centre + radius * np.sin(angle) + rng.normal(0, image_size / 16, n)
    cx = centre + radius * np.cos(angle) + rng.normal(0, image_size / 16, n)
    sigma = image_size / 8 * rng.uniform(0.8, 1.2, n)
    grid = np.arange(image_size, dtype=np.float64)
    dy = (grid[None, :] - cy[:, None]) ** 2
    dx = (grid[None, :] - cx[:, None]) ** 2
    img = np.exp(-(dy[:, :, None] + dx[:, None, :]) / (2 * sigma[:, None, None] ** 2))
    img = img * rng.uniform(0.7, 1.0, n)[:, None, None]
    img = img[..., None] * np.ones(channels) + rng.normal(0, noise, (*img.shape, channels))
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8), y.astype(np.int64)


def load_synthetic(
    path: object = None,
    *,
    download: bool = False,
    num_classes: int = 4,
    n_train: int = 512,
    n_test: int = 128,
    image_size: int = 16,
    channels: int = 1,
    noise: float = 0.1,
    data_seed: int = 1234,
) -> RawData:
    """Synthetic blobs as :class:`RawData` (``path``/``download`` are ignored)."""
    del path, download
    if num_classes < 2 or image_size < 4 or channels < 1 or n_train < 1 or n_test < 0:
        raise ArgumentError(
            "synthetic needs num_classes >= 2, image_size >= 4, channels >= 1, n_train >= 1, "
            f"n_test >= 0; got {num_classes=}, {image_size=}, {channels=}, {n_train=}, {n_test=}"
        )
    rng = np.random.default_rng(data_seed)
    kw = dict(num_classes=num_classes, image_size=image_size, channels=channels, noise=noise)
    x_tr, y_tr = make_blobs(n_train, rng=rng, **kw)
    x_te, y_te = make_blobs(n_test, rng=rng, **kw)
    return RawData(
        x_tr,
        y_tr,
        x_te,
        y_te,
        num_classes,
        tuple(f"blob{k}" for k in range(num_classes)),
        "unit",
        Augmentation(pad=max(1, image_size // 8), flip=False),
        f"generated (synthetic, data_seed={data_seed})",
    )
