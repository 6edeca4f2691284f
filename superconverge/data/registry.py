"""The data-set registry: ``load(name, ...)`` and ``available()``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from superconverge.data.cifar import load_cifar10
from superconverge.data.errors import CorruptDataError, UnknownDatasetError
from superconverge.data.image_folder import load_image_folder
from superconverge.data.mnist1d_gen import load_mnist1d
from superconverge.data.mnist_idx import load_fashion_mnist, load_mnist
from superconverge.data.splits import DatasetSplits, RawData, finalize
from superconverge.data.synthetic import load_synthetic
from superconverge.errors import ArgumentError

__all__ = ["available", "load", "register"]

Loader = Callable[..., RawData]

_LOADERS: dict[str, Loader] = {
    "fashion_mnist": load_fashion_mnist,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "image_folder": load_image_folder,
    "mnist1d": load_mnist1d,
    "synthetic": load_synthetic,
}


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def available() -> list[str]:
    """Names accepted by :func:`load`, sorted."""
    return sorted(_LOADERS)


def register(name: str, loader: Loader, *, overwrite: bool = False) -> None:
    """Add a loader ``loader(path, *, download, **kwargs) -> RawData`` under ``name``."""
    key = _canonical(name)
    if key in _LOADERS and not overwrite:
        raise ArgumentError(f"a data set named {key!r} is already registered")
    _LOADERS[key] = loader


def load(
    name: str,
    *,
    path: str | os.PathLike[str] | None = None,
    validation_split: float | int = 0.1,
    seed: int = 0,
    train_subset: int | None = None,
    download: bool = False,
    standardize: bool = False,
    **kwargs: Any,
) -> DatasetSplits:
    """Load a data set, hold out a validation split, and return :class:`DatasetSplits`.

    Args:
        name: one of :func:`available` (``"fashion_mnist"``, ``"mnist"``, ``"cifar10"``,
            ``"image_folder"``, ``"mnist1d"``, ``"synthetic"``); ``-`` and case are ignored.
        path: where the files are (a directory). Without it, file-based data sets search
            ``$SUPERCONVERGE_DATA``, ``/usr/share/datasets/<name>`` and Keras' cache.
        validation_split: fraction in ``[0, 1)`` (or a count) of the training data held out,
            stratified, with ``seed``. The test set is never touched.
        seed: seed of the validation hold-out and of the training-order shuffle.
        train_subset: keep only the first ``N`` of the shuffled training part (taken *after*
            the validation hold-out, so ``val`` is the same for every ``train_subset``).
        download: allow ``keras.datasets`` to download a missing data set.
        standardize: per-channel standardisation with training-split statistics instead of
            ``[0, 1]`` scaling.
        **kwargs: loader options, e.g. ``image_size``/``color_mode``/``test_split`` for
            ``image_folder``; ``num_classes``/``n_train``/``image_size`` for ``synthetic``;
            ``num_samples`` for ``mnist1d``.

    Raises:
        UnknownDatasetError: unknown ``name`` (the message lists the valid ones).
        DataNotFoundError: the files are not where we looked and ``download`` is false.
        CorruptDataError: the files are malformed (bad header, truncated, counts disagree,
            labels out of range, empty folder).
    """
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a string, got {name!r}")
    key = _canonical(name)
    if key not in _LOADERS:
        raise UnknownDatasetError(f"unknown data set {name!r}; available: {', '.join(available())}")
    raw = _LOADERS[key](path, download=download, **kwargs)
    if raw.x_test.shape[1:] != raw.x_train.shape[1:]:
        raise CorruptDataError(
            f"{key}: training examples have shape {raw.x_train.shape[1:]} but test examples "
            f"{raw.x_test.shape[1:]}"
        )
    return finalize(
        key,
        raw,
        validation_split=validation_split,
        seed=seed,
        train_subset=train_subset,
        standardize=standardize,
    )
