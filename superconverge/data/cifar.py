"""CIFAR-10 from the ``cifar-10-batches-py`` pickle directory (Python version of the data set).

The directory holds ``data_batch_1`` … ``data_batch_5``, ``test_batch`` and ``batches.meta``.
Each batch is a pickled dict with ``b"data"``: ``uint8`` array ``(N, 3072)`` — row-major,
channel first (1024 red, then 1024 green, then 1024 blue values of a 32×32 image) — and
``b"labels"``: a list of ``N`` ints in ``0…9``. ``batches.meta`` has ``b"label_names"``.

Unpickling is restricted to the NumPy array reconstruction globals the format needs, so a
malicious or corrupt file cannot execute code. Standard augmentation: pad-4 random crop +
horizontal flip.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.errors import CorruptDataError, DataNotFoundError, keras_download
from superconverge.data.locate import ENV_VAR, candidate_dirs
from superconverge.data.splits import RawData

__all__ = ["CIFAR10_CLASSES", "TRAIN_BATCHES", "load_cifar10", "read_cifar_batch"]

logger = logging.getLogger(__name__)

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes pickled by Python 3 with protocol <= 2
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _unpickle(path: Path) -> Any:
    try:
        return _RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, ImportError, UnicodeDecodeError) as exc:  # fmt: skip
        raise CorruptDataError(
            f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc}). "
            "Delete the directory and fetch the data again."
        ) from exc


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR batch file; return ``(x, y)``, ``x`` as ``uint8 (N, 32, 32, 3)``."""
    path = Path(path)
    obj = _unpickle(path)
    if not isinstance(obj, dict) or b"data" not in obj:
        raise CorruptDataError(f"{path}: expected a dict with keys b'data' and b'labels'")
    labels_key = b"labels" if b"labels" in obj else b"fine_labels"
    if labels_key not in obj:
        raise CorruptDataError(f"{path}: no b'labels' entry")
    data = np.asarray(obj[b"data"])
    labels = np.asarray(obj[labels_key])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise CorruptDataError(f"{path}: b'data' must have shape (N, 3072), got {data.shape}")
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.integer) or data.min() < 0 or data.max() > 255:
            raise CorruptDataError(f"{path}: b'data' must be uint8 pixels, got {data.dtype}")
        data = data.astype(np.uint8)
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise CorruptDataError(
            f"{path}: {data.shape[0]} images but {labels.size} labels; the file is inconsistent"
        )
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


def _is_cifar_dir(directory: Path) -> bool:
    return all((directory / name).is_file() for name in (*TRAIN_BATCHES, "test_batch"))


def _class_names(directory: Path) -> tuple[str, ...]:
    meta = directory / "batches.meta"
    if not meta.is_file():
        return CIFAR10_CLASSES
    obj = _unpickle(meta)
    names = obj.get(b"label_names") if isinstance(obj, dict) else None
    if not names or len(names) != 10:
        raise CorruptDataError(f"{meta}: expected 10 b'label_names'")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def load_cifar10(path: str | os.PathLike[str] | None = None, *, download: bool = False) -> RawData:
    """CIFAR-10 as :class:`RawData` (``uint8 (N, 32, 32, 3)``, channels last).

    ``path`` may be the ``cifar-10-batches-py`` directory itself or its parent. Without
    ``path``: ``$SUPERCONVERGE_DATA``, ``/usr/share/datasets``, then Keras' cache
    (``~/.keras/datasets/cifar-10-batches-py`` and Keras ≥3.8's
    ``cifar-10-batches-py-target/cifar-10-batches-py``).
    """
    subdirs = ("cifar-10-batches-py", "cifar10", "cifar-10")
    searched = candidate_dirs(
        path,
        subdirs,
        keras_subdirs=("cifar-10-batches-py", "cifar-10-batches-py-target/cifar-10-batches-py"),
    )
    directory = next((d for d in searched if d.is_dir() and _is_cifar_dir(d)), None)
    if path is not None and directory is None:
        partial = [d for d in searched if d.is_dir() and any(d.glob("data_batch_*"))]
        if partial:
            missing = [n for n in (*TRAIN_BATCHES, "test_batch") if not (partial[0] / n).is_file()]
            raise DataNotFoundError(
                f"{partial[0]} is an incomplete CIFAR-10 directory: missing {missing}"
            )
    if directory is not None:
        parts = [read_cifar_batch(directory / name) for name in TRAIN_BATCHES]
        x_tr = np.concatenate([p[0] for p in parts])
        y_tr = np.concatenate([p[1] for p in parts])
        x_te, y_te = read_cifar_batch(directory / "test_batch")
        names = _class_names(directory)
        source = str(directory)
    elif download and path is None:
        import keras

        logger.info("downloading CIFAR-10 through keras.datasets.cifar10 (~170 MB)")
        (x_tr, y_tr), (x_te, y_te) = keras_download(keras.datasets.cifar10.load_data, "CIFAR-10")
        if x_tr.shape[1] == 3:  # channels_first image_data_format
            x_tr, x_te = x_tr.transpose(0, 2, 3, 1), x_te.transpose(0, 2, 3, 1)
        names = CIFAR10_CLASSES
        source = "download (keras.datasets.cifar10)"
    else:
        where = "\n".join(f"  - {d}" for d in searched)
        raise DataNotFoundError(
            "CIFAR-10 (the cifar-10-batches-py folder: data_batch_1..5, test_batch) not found. "
            f"Looked in:\n{where}\nTo get it:\n"
            "  * let Keras download it: data.load('cifar10', download=True) / the CLI's "
            "--download\n"
            "  * or extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and pass "
            f"path=<folder> or set {ENV_VAR}=<parent folder>"
        )
    return RawData(
        x_tr, y_tr, x_te, y_te, 10, names, "unit", Augmentation(pad=4, flip=True), source
    )
