"""``ArrayBatches``: a :class:`keras.utils.PyDataset` over in-memory NumPy arrays.

Works unchanged with ``model.fit`` on the TensorFlow, JAX and PyTorch backends. Each batch is a
pure function of ``(seed, epoch, batch index)``: the example order of epoch ``e`` is
``default_rng([seed, e]).permutation(N)`` and batch ``i`` is augmented with
``default_rng([seed, e, i])``, so batches can be produced in any order, by several workers, and
reproduced after a resume (``set_epoch``). Augmentation is vectorised over the batch.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.errors import ArgumentError

__all__ = ["ArrayBatches"]


class ArrayBatches(keras.utils.PyDataset):
    """Batches ``(x[idx], y[idx])`` of in-memory arrays, shuffled per epoch, optionally augmented.

    Args:
        x, y: examples and labels (first axes equal).
        batch_size: examples per batch.
        augmentation: applied to each training batch, or ``None``.
        shuffle: new seeded permutation every epoch; ``False`` keeps the stored order.
        seed: seed of shuffling and augmentation.
        drop_remainder: drop the final incomplete batch.
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of ``PyDataset``.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        *,
        augmentation: Augmentation | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ArgumentError(f"batch_size must be >= 1, got {batch_size}")
        if x.shape[0] != y.shape[0]:
            raise ArgumentError(f"x has {x.shape[0]} examples but y has {y.shape[0]}")
        n = int(x.shape[0])
        if n == 0 or (drop_remainder and n < batch_size):
            raise ArgumentError(
                f"no batches: {n} examples, batch_size={batch_size}, "
                f"drop_remainder={drop_remainder}"
            )
        self.x = x
        self.y = y
        self.batch_size = int(batch_size)
        self.augmentation = (
            None if augmentation is None or augmentation.is_identity else augmentation
        )
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        self.epoch = 0
        self._order = self._make_order(0)

    def _make_order(self, epoch: int) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng([self.seed, epoch]).permutation(self.x.shape[0])

    @property
    def num_examples(self) -> int:
        return int(self.x.shape[0])

    def __len__(self) -> int:
        n = self.num_examples
        return n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range for {len(self)} batches")
        start = index * self.batch_size
        stop = min(start + self.batch_size, self.num_examples)
        if self._order is None:
            xb, yb = self.x[start:stop], self.y[start:stop]
        else:
            idx = self._order[start:stop]
            xb, yb = self.x[idx], self.y[idx]
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            xb = self.augmentation(xb, rng)
        return xb, yb

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (0-based), e.g. when resuming training."""
        self.epoch = int(epoch)
        self._order = self._make_order(self.epoch)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)
