"""Batch feeding, image folders and real data under the current Keras backend."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from superconverge import data
from superconverge.data import Augmentation, CorruptDataError, DataNotFoundError, EmptyDatasetError
from superconverge.data.batches import ArrayBatches

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def synthetic():
    return data.load("synthetic", seed=0, n_train=480, validation_split=32)


def test_batches_cover_each_epoch_and_reshuffle(synthetic):
    x = np.arange(50, dtype=np.float32)[:, None, None, None] * np.ones((1, 4, 4, 1), np.float32)
    y = np.arange(50)
    ds = ArrayBatches(x, y, 16, seed=3)
    assert len(ds) == 4 and ds[3][0].shape == (2, 4, 4, 1)
    first = np.concatenate([ds[i][1] for i in range(len(ds))])
    assert sorted(first.tolist()) == list(range(50))
    np.testing.assert_array_equal(ds[0][0][:, 0, 0, 0], ds[0][1])  # x and y stay paired
    again = ArrayBatches(x, y, 16, seed=3)
    np.testing.assert_array_equal(again[1][1], ds[1][1])
    ds.on_epoch_end()
    second = np.concatenate([ds[i][1] for i in range(len(ds))])
    assert sorted(second.tolist()) == list(range(50)) and not np.array_equal(first, second)
    ds.set_epoch(0)
    np.testing.assert_array_equal(ds[2][1], first[32:48])
    assert len(ArrayBatches(x, y, 16, drop_remainder=True)) == 3
    ordered = ArrayBatches(x, y, 16, shuffle=False)
    np.testing.assert_array_equal(ordered[0][1], np.arange(16))
    with pytest.raises(ValueError):
        ArrayBatches(x, y, 0)
    with pytest.raises(IndexError):
        ds[4]


def test_train_batches_augmentation(synthetic):
    plain = synthetic.train_batches(32, seed=1)
    aug = synthetic.train_batches(32, augment=True, seed=1)
    assert isinstance(plain, keras.utils.PyDataset)
    xp, yp = plain[0]
    xa, ya = aug[0]
    np.testing.assert_array_equal(yp, ya)
    assert xa.shape == xp.shape and xa.dtype == np.float32
    assert not np.array_equal(xa, xp)
    np.testing.assert_array_equal(aug[0][0], xa)  # deterministic per (seed, epoch, index)
    custom = synthetic.train_batches(32, augment=Augmentation(pad=0, flip=True), seed=1)
    xc, _ = custom[0]
    for a, b in zip(xc, xp, strict=True):
        assert np.array_equal(a, b) or np.array_equal(a, b[:, ::-1])
    with pytest.raises(TypeError):
        synthetic.train_batches(32, augment="yes")


def test_fit_consumes_train_batches(synthetic):
    keras.utils.set_random_seed(0)
    from superconverge import models

    model = models.build("simple_cnn", synthetic.input_shape, synthetic.num_classes, seed=0)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    hist = model.fit(
        synthetic.train_batches(32, augment=True, drop_remainder=True),
        validation_data=synthetic.val.as_tuple(),
        epochs=2,
        shuffle=False,
        verbose=0,
    )
    assert np.isfinite(hist.history["loss"]).all()
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.5  # 4 classes: chance is 0.25


def _write_images(folder: Path, per_class: dict[str, int], size=(12, 10), mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in per_class.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr).convert(mode).save(folder / cls / f"{i}.png")


def test_image_folder_single_tree(tmp_path):
    _write_images(tmp_path, {"cat": 10, "dog": 10, "eel": 5})
    s = data.load("image_folder", path=tmp_path, validation_split=0.2)
    assert s.class_names == ("cat", "dog", "eel") and s.num_classes == 3
    assert s.input_shape == (12, 10, 3)
    assert len(s.train) + len(s.val) + len(s.test) == 25 and len(s.test) == 5
    assert s.train.x.dtype == np.float32 and 0 <= s.train.x.min() and s.train.x.max() <= 1
    again = data.load("image_folder", path=tmp_path, seed=5)
    np.testing.assert_array_equal(again.test.x, s.test.x)  # the test set ignores `seed`
    g = data.load("image_folder", path=tmp_path, color_mode="grayscale", image_size=(8, 8))
    assert g.input_shape == (8, 8, 1)


def test_image_folder_train_test_layout(tmp_path):
    _write_images(tmp_path / "train", {"a": 6, "b": 6})
    _write_images(tmp_path / "test", {"a": 2, "b": 3}, size=(20, 20))
    s = data.load("image_folder", path=tmp_path, validation_split=0)
    assert len(s.train) == 12 and len(s.test) == 5 and s.input_shape == (12, 10, 3)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        data.load("image_folder", path=tmp_path / "missing")
    with pytest.raises(DataNotFoundError):
        data.load("image_folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="no class sub-folders"):
        data.load("image_folder", path=tmp_path / "empty")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "readme.txt").write_text("hi")
    with pytest.raises(EmptyDatasetError, match="no images"):
        data.load("image_folder", path=tmp_path / "noimg")
    _write_images(tmp_path / "bad", {"a": 2})
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(CorruptDataError, match=r"broken\.png"):
        data.load("image_folder", path=tmp_path / "bad")


def test_real_fashion_mnist():
    # scripts/test.sh installs Debian's dataset-fashion-mnist; without it this must fail
    assert FASHION_DIR.is_dir(), "run scripts/test.sh or apt-get install dataset-fashion-mnist"
    s = data.load("fashion_mnist", seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (54000, 6000, 10000)
    assert s.train.x.shape[1:] == (28, 28, 1) and s.train.x.dtype == np.float32
    assert np.bincount(s.test.y).tolist() == [1000] * 10
    batches = s.train_batches(128, augment=True)
    xb, yb = batches[0]
    assert xb.shape == (128, 28, 28, 1) and yb.dtype == np.int32


def test_image_folder_skips_hidden_folders_and_refuses_empty_classes(tmp_path):
    _write_images(tmp_path / "tree", {"cat": 4, "dog": 4})
    # Jupyter's checkpoints (with an image in it) is no class, and no image of a class either
    _write_images(tmp_path / "tree", {".ipynb_checkpoints": 2})
    _write_images(tmp_path / "tree" / "cat", {".thumbs": 1})
    s = data.load("image_folder", path=tmp_path / "tree", validation_split=0)
    assert s.class_names == ("cat", "dog")
    assert len(s.train) + len(s.test) == 8
    (tmp_path / "tree" / "eel").mkdir()
    with pytest.raises(EmptyDatasetError, match="'eel' holds no images"):
        data.load("image_folder", path=tmp_path / "tree")


def test_a_truncated_png_is_named(tmp_path):
    _write_images(tmp_path, {"a": 3, "b": 3}, size=(32, 32))
    good = (tmp_path / "a" / "0.png").read_bytes()
    # header and the first part of the pixel data only: Pillow opens it, decoding fails later
    (tmp_path / "a" / "0.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptDataError, match=r"a/0\.png: cannot decode"):
        data.load("image_folder", path=tmp_path)


def test_image_size_and_colour_mode_reach_the_loader_from_the_config(tmp_path):
    from superconverge.pipeline import Pipeline, RunConfig

    _write_images(tmp_path / "images", {"a": 6, "b": 6}, size=(12, 10))
    config = RunConfig(dataset="image_folder", data_path=str(tmp_path / "images"),
                       image_size=8, color_mode="grayscale", out=str(tmp_path / "run"))
    assert Pipeline(config).data.input_shape == (8, 8, 1)


def test_a_failed_download_is_a_data_error_not_a_traceback(tmp_path, monkeypatch):
    import urllib.error

    def offline():
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    monkeypatch.setenv("SUPERCONVERGE_DATA", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    from superconverge.data import mnist_idx

    monkeypatch.setattr(mnist_idx, "_search", lambda path, names: ([], [tmp_path]))
    with pytest.raises(DataNotFoundError, match=r"downloading Fashion-MNIST failed.*no network"):
        data.load("fashion_mnist", download=True)


def test_non_finite_inputs_in_a_data_set_are_refused():
    from superconverge.data.splits import RawData, finalize

    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 4, 4, 1)).astype("float32")
    x[3, 1, 1, 0] = np.nan
    y = np.arange(20) % 2
    raw = RawData(x, y, x[:4] * 0, y[:4], 2, ("a", "b"), "standardized")
    with pytest.raises(CorruptDataError, match="1 non-finite values"):
        finalize("mine", raw)
