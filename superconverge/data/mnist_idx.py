"""Fashion-MNIST and MNIST from IDX files (raw or ``.gz``), or Keras' cache / download.

Both are 28×28 grey-scale, 10 classes, 60 000 training and 10 000 test images. Looked for in
the order documented in :mod:`superconverge.data.locate`; MNIST additionally accepts Keras'
``mnist.npz``. Downloading (through ``keras.datasets``) happens only with ``download=True``.

Standard augmentation used by ``train_batches(augment=True)``: there is no single standard for
these data sets (most papers use none). We use a light random translation (pad 2 + random
28×28 crop) for both, plus a horizontal flip for Fashion-MNIST only (clothes are roughly
left-right symmetric, digits are not).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.errors import CorruptDataError, DataNotFoundError, keras_download
from superconverge.data.idx import read_idx
from superconverge.data.locate import ENV_VAR, candidate_dirs, keras_cache_dirs
from superconverge.data.splits import RawData

__all__ = ["FASHION_MNIST_CLASSES", "load_fashion_mnist", "load_mnist", "read_idx_dir"]

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find_file(directory: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for name in (stem + ".gz", stem):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _find_idx_dir(directory: Path) -> dict[str, Path] | None:
    found = {key: _find_file(directory, stems) for key, stems in _FILES.items()}
    if all(found.values()):
        return found  # type: ignore[return-value]
    if any(found.values()):
        missing = [key for key, value in found.items() if value is None]
        logger.warning("%s has only some IDX files (missing %s); skipping it", directory, missing)
    return None


def read_idx_dir(files: dict[str, Path], *, image_shape: tuple[int, int] = (28, 28)) -> tuple:
    """Read the four IDX files, check shapes; return ``(x_train, y_train, x_test, y_test)``
    with images as ``uint8 (N, 28, 28, 1)``."""
    arrays = {key: read_idx(p) for key, p in files.items()}
    for key in ("x_train", "x_test"):
        a = arrays[key]
        if a.ndim != 3 or a.shape[1:] != image_shape or a.dtype != np.uint8:
            raise CorruptDataError(
                f"{files[key]}: expected uint8 images of shape (N, {image_shape[0]}, "
                f"{image_shape[1]}), got {a.dtype} {a.shape}"
            )
        arrays[key] = a[..., None]
    for key in ("y_train", "y_test"):
        a = arrays[key]
        if a.ndim != 1:
            raise CorruptDataError(f"{files[key]}: expected 1-D labels, got shape {a.shape}")
        count = arrays["x" + key[1:]].shape[0]
        if a.shape[0] != count:
            raise CorruptDataError(
                f"{files[key]} has {a.shape[0]} labels but {files['x' + key[1:]]} has {count} "
                "images; the files do not belong together (or one is truncated)"
            )
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _not_found(title: str, searched: list[Path], hints: list[str]) -> DataNotFoundError:
    where = "\n".join(f"  - {d}" for d in searched)
    how = "\n".join(f"  * {h}" for h in hints)
    return DataNotFoundError(f"{title} not found. Looked in:\n{where}\nTo get it:\n{how}")


def _search(path, subdirs: tuple[str, ...]) -> tuple[dict[str, Path] | None, list[Path]]:
    searched = candidate_dirs(path, subdirs, keras_subdirs=subdirs)
    for directory in searched:
        if directory.is_dir():
            files = _find_idx_dir(directory)
            if files:
                return files, searched
    return None, searched


def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None, *, download: bool = False
) -> RawData:
    """Fashion-MNIST as :class:`RawData` (``uint8`` images ``(N, 28, 28, 1)``)."""
    files, searched = _search(path, ("fashion-mnist", "fashion_mnist"))
    augmentation = Augmentation(pad=2, flip=True)
    if files:
        x_tr, y_tr, x_te, y_te = read_idx_dir(files)
        source = str(files["x_train"].parent)
    elif download and path is None:
        import keras

        logger.info("downloading Fashion-MNIST through keras.datasets.fashion_mnist")
        (x_tr, y_tr), (x_te, y_te) = keras_download(
            keras.datasets.fashion_mnist.load_data, "Fashion-MNIST"
        )
        x_tr, x_te = x_tr[..., None], x_te[..., None]
        source = "download (keras.datasets.fashion_mnist)"
    else:
        raise _not_found(
            "Fashion-MNIST (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
            "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
            searched,
            [
                "Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
                "(installs /usr/share/datasets/fashion-mnist)",
                "let Keras download it: data.load(..., download=True) / the CLI's --download",
                f"or put the four files in a folder and set {ENV_VAR}=<folder> "
                "(or pass path=<folder>)",
            ],
        )
    return RawData(x_tr, y_tr, x_te, y_te, 10, FASHION_MNIST_CLASSES, "unit", augmentation, source)


def _load_mnist_npz(npz: Path) -> tuple:
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CorruptDataError(f"{npz}: not a valid Keras mnist.npz ({exc})") from exc
    x_tr, y_tr, x_te, y_te = arrays
    for a, what in ((x_tr, "x_train"), (x_te, "x_test")):
        if a.ndim != 3 or a.shape[1:] != (28, 28):
            raise CorruptDataError(f"{npz}: {what} has shape {a.shape}, expected (N, 28, 28)")
    return x_tr[..., None], y_tr, x_te[..., None], y_te


def load_mnist(path: str | os.PathLike[str] | None = None, *, download: bool = False) -> RawData:
    """MNIST as :class:`RawData`: IDX files (like Fashion-MNIST) or Keras' ``mnist.npz``."""
    files, searched = _search(path, ("mnist",))
    augmentation = Augmentation(pad=2, flip=False)
    if files:
        x_tr, y_tr, x_te, y_te = read_idx_dir(files)
        source = str(files["x_train"].parent)
    else:
        npz_candidates = [d / "mnist.npz" for d in searched]
        if path is None:
            npz_candidates += [c / "mnist.npz" for c in keras_cache_dirs()]
        npz = next((p for p in npz_candidates if p.is_file()), None)
        if npz is not None:
            x_tr, y_tr, x_te, y_te = _load_mnist_npz(npz)
            source = str(npz)
        elif download and path is None:
            import keras

            logger.info("downloading MNIST through keras.datasets.mnist")
            (x_tr, y_tr), (x_te, y_te) = keras_download(keras.datasets.mnist.load_data, "MNIST")
            x_tr, x_te = x_tr[..., None], x_te[..., None]
            source = "download (keras.datasets.mnist)"
        else:
            raise _not_found(
                "MNIST (four IDX files, or Keras' mnist.npz)",
                searched + [p for p in npz_candidates if p.parent not in searched],
                [
                    "let Keras download it: data.load(..., download=True) / the CLI's --download",
                    f"or put the four IDX files (or mnist.npz) in a folder and set "
                    f"{ENV_VAR}=<folder> (or pass path=<folder>)",
                ],
            )
    classes = tuple(str(i) for i in range(10))
    return RawData(x_tr, y_tr, x_te, y_te, 10, classes, "unit", augmentation, source)
