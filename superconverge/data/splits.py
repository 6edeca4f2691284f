"""Train / validation / test containers and the deterministic hold-out logic.

Conventions (the same for every data set):

* ``x`` is ``float32``, channels last: ``(N, H, W, C)`` for images, ``(N, L, C)`` for 1-D
  signals. Image data sets are scaled to ``[0, 1]`` (``uint8 / 255``) unless loaded with
  ``standardize=True``, which subtracts the per-channel mean and divides by the per-channel std
  of the *training* part (after the validation hold-out), applied identically to all three
  splits. ``DatasetSplits.scaling`` says which (``"unit"``, ``"standardized"``; MNIST-1D comes
  standardized by its generator).
* ``y`` is ``int32`` class indices in ``0 … num_classes-1``.
* The validation split is held out of the *training* data only — the test set is never used to
  choose anything. The hold-out is stratified (each class contributes in proportion, total
  ``round(validation_split · N)`` with largest-remainder rounding) and depends only on
  ``seed``. The remaining training examples are shuffled with the same seed, and
  ``train_subset=N`` keeps the first ``N`` of them, so the validation set does not change with
  ``train_subset``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.errors import CorruptDataError, EmptyDatasetError
from superconverge.errors import ArgumentError

if TYPE_CHECKING:  # pragma: no cover
    from superconverge.data.batches import ArrayBatches

__all__ = ["DatasetSplits", "RawData", "Split", "finalize", "stratified_holdout"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Split:
    """One split: ``x`` (float32) and ``y`` (int32) NumPy arrays of equal length."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``, e.g. for ``model.fit(validation_data=...)``."""
        return self.x, self.y


@dataclass(frozen=True, eq=False)
class RawData:
    """What a loader returns before splitting/scaling (internal to :mod:`superconverge.data`).

    ``x_*`` are ``uint8`` in ``0…255`` when ``scaling == "unit"`` (divided by 255 later), or
    already-float data when ``scaling == "standardized"``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] | None = None
    scaling: str = "unit"
    augmentation: Augmentation = field(default_factory=Augmentation)
    source: str = ""


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """A data set split three ways, plus what a model needs to know about it.

    Attributes:
        name: registry name (``"fashion_mnist"``, ...).
        train, val, test: the splits (``val`` may be empty when ``validation_split=0``).
        num_classes: number of classes; labels are ``0 … num_classes-1``.
        input_shape: shape of one example, e.g. ``(28, 28, 1)``.
        class_names: human-readable class names when known.
        scaling: ``"unit"`` (``[0, 1]``) or ``"standardized"`` (zero mean, unit variance).
        augmentation: what ``train_batches(augment=True)`` applies for this data set.
        source: where the data came from (a path, ``"generated"``, ``"download"``).
        normalization: per-channel ``mean``/``std`` when ``standardize=True`` was used.
        seed: the seed used for the validation hold-out and shuffling.
    """

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...] | None = None
    scaling: str = "unit"
    augmentation: Augmentation = field(default_factory=Augmentation)
    source: str = ""
    normalization: dict[str, list[float]] | None = None
    seed: int = 0

    def train_batches(
        self,
        batch_size: int,
        *,
        augment: bool | Augmentation = False,
        shuffle: bool = True,
        seed: int = 0,
        drop_remainder: bool = False,
        **pydataset_kwargs: Any,
    ) -> ArrayBatches:
        """A :class:`keras.utils.PyDataset` over the training split for ``model.fit``.

        Args:
            batch_size: examples per batch.
            augment: ``True`` applies this data set's standard augmentation
                (:attr:`augmentation`), ``False`` none, or pass an :class:`Augmentation`.
            shuffle: reshuffle the examples every epoch (deterministically from ``seed`` and the
                epoch number).
            seed: seed of the shuffling and augmentation randomness.
            drop_remainder: drop the last, smaller batch.
            **pydataset_kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size``.

        Note: pass ``shuffle=False`` to ``model.fit`` for bit-exact reruns: the batches are
        already shuffled here, and Keras would otherwise also permute the batch order with
        Python's unseeded ``random`` module.
        """
        from superconverge.data.batches import ArrayBatches  # imports Keras

        if augment is True:
            augmentation: Augmentation | None = self.augmentation
            if augmentation.is_identity:
                logger.warning(
                    "data set %r has no standard augmentation; augment=True does nothing. "
                    "Pass augment=Augmentation(pad=..., flip=...) to choose one.",
                    self.name,
                )
        elif augment is False or augment is None:
            augmentation = None
        elif isinstance(augment, Augmentation):
            augmentation = augment
        else:
            raise TypeError(f"augment must be a bool or an Augmentation, got {augment!r}")
        return ArrayBatches(
            self.train.x,
            self.train.y,
            batch_size,
            augmentation=augmentation,
            shuffle=shuffle,
            seed=seed,
            drop_remainder=drop_remainder,
            **pydataset_kwargs,
        )

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (sizes, shapes, scaling, augmentation, source)."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "scaling": self.scaling,
            "augmentation": self.augmentation.describe(),
            "class_names": list(self.class_names) if self.class_names else None,
            "source": self.source,
            "normalization": self.normalization,
            "seed": self.seed,
        }


def validate_pair(x: np.ndarray, y: np.ndarray, num_classes: int, *, what: str) -> np.ndarray:
    """Check that ``x`` and ``y`` agree and labels are in range; return ``y`` as ``int32``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' (N, 1) label convention
        y = y[:, 0]
    if y.ndim != 1:
        raise CorruptDataError(f"{what}: labels must be 1-D, got shape {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise CorruptDataError(
            f"{what}: {x.shape[0]} images but {y.shape[0]} labels; the image and label files "
            "do not belong together (or one is truncated)"
        )
    if np.issubdtype(np.asarray(x).dtype, np.floating) and not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise CorruptDataError(
            f"{what}: the inputs contain {bad} non-finite values (NaN or inf); clean or impute "
            "them first (a NaN input makes every loss NaN, which looks like divergence)"
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise CorruptDataError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise CorruptDataError(
                f"{what}: labels must lie in 0..{num_classes - 1}, found range {lo}..{hi}"
            )
    return y.astype(np.int32)


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0…len(y)-1`` into ``(train_idx, val_idx)``, stratified by label.

    ``len(val_idx) == round(fraction · len(y))``; each class gives its proportional share
    (largest-remainder rounding). Both index arrays come back in a seeded random order.
    """
    n = int(y.shape[0])
    rng = np.random.default_rng(seed)
    n_val = round(fraction * n)
    if n_val == 0:
        return rng.permutation(n), np.zeros(0, dtype=np.int64)
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (n_val / n)
    share = np.floor(exact).astype(np.int64)
    remainder = n_val - int(share.sum())
    if remainder:
        order = np.argsort(-(exact - share), kind="stable")
        share[order[:remainder]] += 1
    val_parts = []
    train_parts = []
    for cls, k in zip(classes, share, strict=True):
        idx = rng.permutation(np.flatnonzero(y == cls))
        val_parts.append(idx[:k])
        train_parts.append(idx[k:])
    train_idx = np.concatenate(train_parts)
    val_idx = np.concatenate(val_parts)
    return train_idx[rng.permutation(train_idx.size)], val_idx[rng.permutation(val_idx.size)]


def _to_float(x: np.ndarray, scaling: str) -> np.ndarray:
    if scaling == "unit" and x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1.0 / 255.0)
    return np.asarray(x, dtype=np.float32)


def finalize(
    name: str,
    raw: RawData,
    *,
    validation_split: float | int = 0.1,
    seed: int = 0,
    train_subset: int | None = None,
    standardize: bool = False,
) -> DatasetSplits:
    """Validate ``raw``, hold out validation data, subset, scale; return :class:`DatasetSplits`.

    ``validation_split`` is a fraction in ``[0, 1)`` or an absolute count (an ``int >= 1``).
    """
    y_train = validate_pair(raw.x_train, raw.y_train, raw.num_classes, what=f"{name} train")
    y_test = validate_pair(raw.x_test, raw.y_test, raw.num_classes, what=f"{name} test")
    n = int(y_train.shape[0])
    if n == 0:
        raise EmptyDatasetError(f"{name}: the training data is empty")
    if isinstance(validation_split, bool) or not isinstance(
        validation_split, int | float | np.integer | np.floating
    ):
        raise TypeError(f"validation_split must be a number, got {validation_split!r}")
    if isinstance(validation_split, int | np.integer) and validation_split >= 1:
        if validation_split >= n:
            raise ArgumentError(
                f"validation_split={validation_split} examples leaves nothing to train on "
                f"({name} has {n} training examples)"
            )
        fraction = validation_split / n
    else:
        fraction = float(validation_split)
        if not 0.0 <= fraction < 1.0:
            raise ArgumentError(
                f"validation_split must be a fraction in [0, 1) or a count >= 1, got "
                f"{validation_split!r}"
            )
    train_idx, val_idx = stratified_holdout(y_train, fraction, seed)
    if train_subset is not None:
        if isinstance(train_subset, bool) or not isinstance(train_subset, int | np.integer):
            raise TypeError(f"train_subset must be an int or None, got {train_subset!r}")
        if not 1 <= train_subset <= train_idx.size:
            raise ArgumentError(
                f"train_subset={train_subset} but {name} has {train_idx.size} training examples "
                f"after holding out {val_idx.size} for validation"
            )
        train_idx = train_idx[:train_subset]

    x_tr = _to_float(raw.x_train[train_idx], raw.scaling)
    x_va = _to_float(raw.x_train[val_idx], raw.scaling)
    x_te = _to_float(raw.x_test, raw.scaling)
    scaling = raw.scaling
    normalization = None
    if standardize:
        axes = tuple(range(x_tr.ndim - 1))
        mean = x_tr.mean(axis=axes, dtype=np.float64).astype(np.float32)
        std = x_tr.std(axis=axes, dtype=np.float64).astype(np.float32)
        std = np.where(std > 0, std, np.float32(1.0))
        x_tr, x_va, x_te = ((a - mean) / std for a in (x_tr, x_va, x_te))
        scaling = "standardized"
        normalization = {"mean": mean.tolist(), "std": std.tolist()}

    splits = DatasetSplits(
        name=name,
        train=Split(x_tr, y_train[train_idx]),
        val=Split(x_va, y_train[val_idx]),
        test=Split(x_te, y_test),
        num_classes=int(raw.num_classes),
        input_shape=tuple(int(d) for d in raw.x_train.shape[1:]),
        class_names=raw.class_names,
        scaling=scaling,
        augmentation=raw.augmentation,
        source=raw.source,
        normalization=normalization,
        seed=seed,
    )
    logger.info(
        "loaded %s from %s: train %d, val %d, test %d, input %s, %d classes",
        name,
        raw.source or "?",
        len(splits.train),
        len(splits.val),
        len(splits.test),
        splits.input_shape,
        splits.num_classes,
    )
    return splits
