"""A folder of images with one sub-folder per class, loaded into NumPy.

Layout: ``path/<class_name>/*.png|jpg|jpeg|bmp|gif``; classes are the sub-folder names in sorted
order (as ``keras.utils.image_dataset_from_directory`` does). If ``path`` has ``train/`` and
``test/`` sub-folders, each laid out like that, they are used as the training and test sets;
otherwise ``test_split`` of each class is held out as the test set with a *fixed* seed
(independent of the ``seed`` used for the validation split, so the test set never moves).

Images are decoded with ``keras.utils.load_img`` (Pillow) — no TensorFlow needed — resized to
``image_size`` (default: the size of the first image), and held in memory: fine for small
folders (the target use: a company's small representative data set), not for ImageNet.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.errors import CorruptDataError, DataNotFoundError, EmptyDatasetError
from superconverge.data.splits import RawData, stratified_holdout
from superconverge.errors import ArgumentError

__all__ = ["IMAGE_EXTENSIONS", "load_image_folder", "read_class_folders"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
#: seed of the train/test hold-out when the folder has no train/ and test/ parts
TEST_SPLIT_SEED = 20180101


def _class_dirs(root: Path) -> list[Path]:
    """Sub-folders that are classes: hidden ones (``.ipynb_checkpoints``, ``.git``) are not."""
    return sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    )


def read_class_folders(
    root: Path,
    *,
    class_names: list[str] | None = None,
    image_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load ``root/<class>/<image>`` into ``(uint8 (N, H, W, C), int labels, class names)``."""
    from keras.utils import img_to_array, load_img

    dirs = _class_dirs(root)
    names = [d.name for d in dirs] if class_names is None else class_names
    if class_names is not None:
        unknown = sorted({d.name for d in dirs} - set(class_names))
        if unknown:
            raise CorruptDataError(f"{root}: classes {unknown} are not in the training set")
    if not names:
        raise EmptyDatasetError(
            f"{root}: no class sub-folders. Expected {root}/<class_name>/<image files>"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            continue
        files = _image_files(folder)
        if not files and class_names is None:
            raise EmptyDatasetError(
                f"{folder}: the class folder {name!r} holds no images with extensions "
                f"{IMAGE_EXTENSIONS}; remove it or add its images"
            )
        for file in files:
            target = None if image_size is None else tuple(image_size)
            try:
                img = load_img(file, color_mode=color_mode, target_size=target)
                # Pillow decodes lazily: force it here, where a bad file can be named
                arr = img_to_array(img, data_format="channels_last", dtype="uint8")
            except Exception as exc:  # Pillow raises a zoo of types for bad files
                raise CorruptDataError(f"{file}: cannot decode image ({exc})") from exc
            if image_size is None:
                image_size = (int(arr.shape[0]), int(arr.shape[1]))
            images.append(arr)
            labels.append(label)
    if not images:
        raise EmptyDatasetError(
            f"{root}: no images with extensions {IMAGE_EXTENSIONS} in the class sub-folders "
            f"{[d.name for d in dirs]}"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64), names


def load_image_folder(
    path: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    image_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    test_split: float = 0.2,
    augmentation: Augmentation | None = None,
) -> RawData:
    """An image folder as :class:`RawData` (see the module docstring).

    Args:
        path: the folder (required).
        download: ignored (nothing to download); accepted for a uniform signature.
        image_size: ``(height, width)`` every image is resized to; default: first image's size.
        color_mode: ``"rgb"``, ``"grayscale"`` or ``"rgba"``.
        test_split: fraction of each class held out as test set when there is no ``test/``.
        augmentation: the ``augment=True`` default; if ``None``, pad ``max(1, H//8)`` random
            crop + horizontal flip (the CIFAR recipe scaled to the image size).
    """
    del download
    if path is None:
        raise DataNotFoundError("image_folder needs path=<folder with one sub-folder per class>")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataNotFoundError(f"image folder {root} does not exist or is not a directory")
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        x_tr, y_tr, names = read_class_folders(
            train_dir, image_size=image_size, color_mode=color_mode
        )
        x_te, y_te, _ = read_class_folders(
            test_dir,
            class_names=names,
            image_size=(x_tr.shape[1], x_tr.shape[2]),
            color_mode=color_mode,
        )
    else:
        x, y, names = read_class_folders(root, image_size=image_size, color_mode=color_mode)
        if not 0.0 <= test_split < 1.0:
            raise ArgumentError(f"test_split must be in [0, 1), got {test_split}")
        tr_idx, te_idx = stratified_holdout(y, test_split, TEST_SPLIT_SEED)
        x_tr, y_tr, x_te, y_te = x[tr_idx], y[tr_idx], x[te_idx], y[te_idx]
    if augmentation is None:
        augmentation = Augmentation(pad=max(1, int(x_tr.shape[1]) // 8), flip=True)
    return RawData(
        x_tr, y_tr, x_te, y_te, len(names), tuple(names), "unit", augmentation, str(root)
    )
