"""Data formats and loading logic that need no Keras: IDX, CIFAR pickles, splits, errors."""

from __future__ import annotations

import gzip
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest

from superconverge import data
from superconverge.data import locate
from superconverge.data.augment import Augmentation, random_crop, random_flip
from superconverge.data.cifar import read_cifar_batch
from superconverge.data.errors import (
    CorruptDataError,
    DataNotFoundError,
    UnknownDatasetError,
)
from superconverge.data.idx import encode_idx, parse_idx, read_idx
from superconverge.data.splits import stratified_holdout

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data locations: empty system roots, HOME/KERAS_HOME in tmp, no env var."""
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(locate, "SYSTEM_ROOTS", [tmp_path / "system"])
    monkeypatch.setattr(locate, "keras_cache_dirs", lambda: [tmp_path / "keras_home" / "datasets"])
    from superconverge.data import mnist_idx

    monkeypatch.setattr(mnist_idx, "keras_cache_dirs", locate.keras_cache_dirs)


def write_idx_set(folder, *, n_train=60, n_test=20, gz=True, seed=0, overrides=None):
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    arrays.update(overrides or {})
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_NAMES.items():
        payload = arrays[key] if isinstance(arrays[key], bytes) else encode_idx(arrays[key])
        if gz:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)
    return arrays


# ---------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4)
    a = np.abs(a).astype(dtype) if dtype == "uint8" else a.astype(dtype)
    buf = encode_idx(a)
    path = tmp_path / "f.idx"
    path.write_bytes(gzip.compress(buf) if gz else buf)
    out = read_idx(path)
    assert out.dtype == a.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_idx_header_is_big_endian():
    buf = encode_idx(np.zeros((2, 300), np.int32))
    assert buf[:4] == bytes([0, 0, 0x0C, 2])
    assert buf[4:12] == bytes([0, 0, 0, 2, 0, 0, 1, 0x2C])


@pytest.mark.parametrize(
    "buf, match",
    [
        (b"\x00\x00", "only 2 bytes"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "bad IDX magic"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "bad IDX magic"),
        (b"\x00\x00\x08\x00", "bad IDX magic"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated IDX header"),
    ],
)
def test_idx_bad_headers(buf, match):
    with pytest.raises(CorruptDataError, match=match):
        parse_idx(buf)


def test_idx_truncated_and_trailing_payload():
    buf = encode_idx(np.zeros((5, 4), np.uint8))
    with pytest.raises(CorruptDataError, match="truncated"):
        parse_idx(buf[:-1])
    with pytest.raises(CorruptDataError, match="trailing bytes"):
        parse_idx(buf + b"\x00")


def test_idx_corrupt_gzip(tmp_path):
    comp = gzip.compress(encode_idx(np.zeros((100, 100), np.uint8)))
    path = tmp_path / "t.gz"
    path.write_bytes(comp[: len(comp) // 2])
    with pytest.raises(CorruptDataError, match="gzip"):
        read_idx(path)
    assert issubclass(CorruptDataError, ValueError)


# ----------------------------------------------------------- Fashion-MNIST / MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_path(tmp_path, gz):
    arrays = write_idx_set(tmp_path / "fm", gz=gz)
    s = data.load("fashion_mnist", path=tmp_path / "fm", validation_split=0.1, seed=3)
    assert (len(s.train), len(s.val), len(s.test)) == (54, 6, 20)
    assert s.input_shape == (28, 28, 1) and s.num_classes == 10 and s.name == "fashion_mnist"
    assert s.train.x.dtype == np.float32 and s.train.y.dtype == np.int32
    assert s.train.x.min() >= 0.0 and s.train.x.max() <= 1.0
    np.testing.assert_allclose(s.test.x[..., 0], arrays["x_test"] / 255.0, rtol=1e-6)
    assert s.class_names[0] == "T-shirt/top" and s.scaling == "unit"
    # each training image is still paired with its label
    flat = arrays["x_train"].reshape(60, -1).astype(np.float32) / 255.0
    for x, y in zip(s.train.x[:5], s.train.y[:5], strict=True):
        (i,) = np.flatnonzero(np.all(np.isclose(flat, x.reshape(-1)), axis=1))
        assert arrays["y_train"][i] == y


def test_split_is_deterministic_stratified_and_subset_keeps_val(tmp_path):
    write_idx_set(tmp_path / "fm", n_train=200)
    a = data.load("fashion_mnist", path=tmp_path / "fm", seed=1)
    b = data.load("fashion_mnist", path=tmp_path / "fm", seed=1)
    c = data.load("fashion_mnist", path=tmp_path / "fm", seed=2)
    np.testing.assert_array_equal(a.val.x, b.val.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert not np.array_equal(a.val.x, c.val.x)
    assert np.bincount(a.val.y, minlength=10).tolist() == [2] * 10
    sub = data.load("fashion_mnist", path=tmp_path / "fm", seed=1, train_subset=17)
    assert len(sub.train) == 17
    np.testing.assert_array_equal(sub.val.x, a.val.x)
    np.testing.assert_array_equal(sub.train.x, a.train.x[:17])
    none = data.load("fashion_mnist", path=tmp_path / "fm", validation_split=0)
    assert len(none.val) == 0 and none.val.x.shape == (0, 28, 28, 1)
    count = data.load("fashion_mnist", path=tmp_path / "fm", validation_split=30)
    assert len(count.val) == 30


def test_standardize_uses_training_statistics(tmp_path):
    write_idx_set(tmp_path / "fm", n_train=100)
    s = data.load("fashion_mnist", path=tmp_path / "fm", standardize=True)
    assert s.scaling == "standardized"
    assert abs(float(s.train.x.mean())) < 1e-4 and abs(float(s.train.x.std()) - 1) < 1e-3
    assert len(s.normalization["mean"]) == 1


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"validation_split": 1.0}, ValueError),
        ({"validation_split": -0.1}, ValueError),
        ({"validation_split": 60}, ValueError),
        ({"validation_split": "0.1"}, TypeError),
        ({"train_subset": 0}, ValueError),
        ({"train_subset": 55}, ValueError),
        ({"train_subset": 2.5}, TypeError),
    ],
)
def test_bad_split_arguments(tmp_path, kwargs, exc):
    write_idx_set(tmp_path / "fm")
    with pytest.raises(exc):
        data.load("fashion_mnist", path=tmp_path / "fm", **kwargs)


def test_image_and_label_counts_differ(tmp_path):
    write_idx_set(tmp_path / "fm", overrides={"y_train": np.zeros(59, np.uint8)})
    with pytest.raises(CorruptDataError, match=r"59 labels.*60 images"):
        data.load("fashion_mnist", path=tmp_path / "fm")


def test_labels_out_of_range(tmp_path):
    write_idx_set(tmp_path / "fm", overrides={"y_test": np.full(20, 10, np.uint8)})
    with pytest.raises(CorruptDataError, match=r"0\.\.9.*10\.\.10"):
        data.load("fashion_mnist", path=tmp_path / "fm")


def test_wrong_image_size_and_truncated_file(tmp_path):
    write_idx_set(tmp_path / "a", overrides={"x_test": np.zeros((20, 32, 32), np.uint8)})
    with pytest.raises(CorruptDataError, match="28, 28"):
        data.load("fashion_mnist", path=tmp_path / "a")
    good = encode_idx(np.zeros((60, 28, 28), np.uint8))
    write_idx_set(tmp_path / "b", overrides={"x_train": good[:-100]})
    with pytest.raises(CorruptDataError, match="truncated"):
        data.load("fashion_mnist", path=tmp_path / "b")


def test_not_found_lists_places_and_remedies(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        data.load("fashion_mnist")
    msg = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "download=True" in msg and "SUPERCONVERGE_DATA" in msg
    assert str(tmp_path / "system" / "fashion-mnist") in msg
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "nowhere")):
        data.load("fashion_mnist", path=tmp_path / "nowhere", download=True)


def test_search_order(tmp_path, monkeypatch):
    write_idx_set(tmp_path / "system" / "fashion-mnist", n_train=30, gz=False)
    assert data.load("fashion_mnist").source == str(tmp_path / "system" / "fashion-mnist")
    write_idx_set(tmp_path / "env" / "fashion-mnist", n_train=40)
    monkeypatch.setenv(locate.ENV_VAR, str(tmp_path / "env"))
    s = data.load("fashion_mnist", validation_split=0)
    assert len(s.train) == 40 and s.source == str(tmp_path / "env" / "fashion-mnist")
    write_idx_set(tmp_path / "explicit", n_train=50)
    assert (
        len(data.load("fashion_mnist", path=tmp_path / "explicit", validation_split=0).train) == 50
    )
    # a folder with only some of the files is skipped
    monkeypatch.delenv(locate.ENV_VAR)
    (tmp_path / "keras_home" / "datasets" / "fashion-mnist").mkdir(parents=True)
    assert data.load("fashion_mnist").source.endswith("system/fashion-mnist")


def test_mnist_from_keras_npz(tmp_path):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(
        cache / "mnist.npz",
        x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        y_train=np.arange(40) % 10,
        x_test=rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        y_test=np.arange(10),
    )
    s = data.load("mnist", validation_split=0.25)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 10)
    assert s.augmentation == Augmentation(pad=2, flip=False)
    (cache / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(CorruptDataError):
        data.load("mnist")


def test_mnist_idx_and_not_found(tmp_path):
    write_idx_set(tmp_path / "m")
    assert len(data.load("mnist", path=tmp_path / "m").test) == 20
    with pytest.raises(DataNotFoundError, match="MNIST"):
        data.load("mnist")


# ---------------------------------------------------------------------------- CIFAR


def write_cifar(folder, *, per_batch=6, n_test=5, seed=0, corrupt=None):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        img = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        images[name] = img
        d = {
            b"batch_label": name.encode(),
            b"data": img.transpose(0, 3, 1, 2).reshape(n, 3072),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"filenames": [b"x.png"] * n,
        }
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)
    meta = {b"label_names": [n.encode() for n in data.cifar.CIFAR10_CLASSES], b"num_vis": 3072}
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump(meta, f)
    return images


def test_cifar_round_trip_and_channel_order(tmp_path):
    images = write_cifar(tmp_path / "cifar-10-batches-py")
    x, _ = read_cifar_batch(tmp_path / "cifar-10-batches-py" / "test_batch")
    np.testing.assert_array_equal(x, images["test_batch"])  # (N, 32, 32, 3), channels last
    # parent folder works too
    s = data.load("cifar10", path=tmp_path, validation_split=0.2)
    assert (len(s.train), len(s.val), len(s.test)) == (24, 6, 5)
    assert s.input_shape == (32, 32, 3) and s.class_names[-1] == "truck"
    assert s.augmentation == Augmentation(pad=4, flip=True)
    np.testing.assert_allclose(s.test.x, images["test_batch"] / 255.0, rtol=1e-6)


def test_cifar_raw_layout_is_channel_first_row_major(tmp_path):
    folder = tmp_path / "c"
    write_cifar(folder)
    row = np.zeros((1, 3072), np.uint8)
    row[0, 0] = 11  # red, pixel (0, 0)
    row[0, 1024 + 31] = 22  # green, pixel (0, 31)
    row[0, 2048 + 32] = 33  # blue, pixel (1, 0)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": row, b"labels": [3]}, f)
    x, y = read_cifar_batch(folder / "test_batch")
    assert x[0, 0, 0, 0] == 11 and x[0, 0, 31, 1] == 22 and x[0, 1, 0, 2] == 33
    assert x.sum() == 66 and y.tolist() == [3]


def test_cifar_corrupt_pickle(tmp_path):
    folder = tmp_path / "c"
    write_cifar(folder)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:500])
    with pytest.raises(CorruptDataError, match="data_batch_3"):
        data.load("cifar10", path=folder)
    (folder / "data_batch_3").write_bytes(b"garbage that is not a pickle")
    with pytest.raises(CorruptDataError):
        data.load("cifar10", path=folder)


def test_cifar_refuses_code_in_pickle(tmp_path):
    folder = tmp_path / "c"
    write_cifar(folder)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(CorruptDataError, match="refusing"):
        data.load("cifar10", path=folder)


def test_cifar_count_mismatch_and_bad_shape(tmp_path):
    folder = tmp_path / "c"
    write_cifar(folder)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [1, 2, 3]}, f)
    with pytest.raises(CorruptDataError, match="4 images but 3 labels"):
        data.load("cifar10", path=folder)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3000), np.uint8), b"labels": [1, 2, 3, 4]}, f)
    with pytest.raises(CorruptDataError, match="3072"):
        data.load("cifar10", path=folder)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, f)
    with pytest.raises(CorruptDataError, match=r"0\.\.9"):
        data.load("cifar10", path=folder)


def test_cifar_missing(tmp_path):
    folder = tmp_path / "c"
    write_cifar(folder)
    (folder / "data_batch_5").unlink()
    with pytest.raises(DataNotFoundError, match="data_batch_5"):
        data.load("cifar10", path=folder)
    with pytest.raises(DataNotFoundError, match="download"):
        data.load("cifar10")


# ------------------------------------------------------------ generated data sets


def test_synthetic_is_deterministic_and_balanced():
    a = data.load("synthetic", seed=0)
    b = data.load("synthetic", seed=0)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.input_shape == (16, 16, 1) and a.num_classes == 4
    assert np.bincount(a.test.y).tolist() == [32] * 4
    c = data.load("synthetic", num_classes=3, n_train=90, image_size=12, channels=3)
    assert c.input_shape == (12, 12, 3) and len(c.train) + len(c.val) == 90
    with pytest.raises(ValueError):
        data.load("synthetic", num_classes=1)


def test_mnist1d_generated_locally_without_touching_global_rng():
    random.seed(7)
    np.random.seed(7)
    before = (np.random.random(), random.random())
    random.seed(7)
    np.random.seed(7)
    s = data.load("mnist1d", num_samples=1000)
    assert (np.random.random(), random.random()) == before
    assert s.input_shape == (40, 1) and s.num_classes == 10 and s.scaling == "standardized"
    assert (len(s.train), len(s.val), len(s.test)) == (720, 80, 200)
    assert s.train.x.dtype == np.float32


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownDatasetError) as info:
        data.load("imagenet")
    for name in ("fashion_mnist", "mnist", "cifar10", "image_folder", "mnist1d", "synthetic"):
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)
    assert data.available() == sorted(
        ["cifar10", "fashion_mnist", "image_folder", "mnist", "mnist1d", "synthetic"]
    )


def test_name_normalisation(tmp_path):
    write_idx_set(tmp_path / "fm")
    assert data.load("Fashion-MNIST", path=tmp_path / "fm").name == "fashion_mnist"


def test_importing_data_does_not_import_keras():
    code = "import sys, superconverge.data; assert 'keras' not in sys.modules, 'keras imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------ splits & augmentation


def test_stratified_holdout_exact_size_and_disjoint():
    y = np.repeat(np.arange(3), [50, 30, 20])
    tr, va = stratified_holdout(y, 0.15, seed=0)
    assert va.size == 15 and tr.size == 85
    assert np.intersect1d(tr, va).size == 0 and np.union1d(tr, va).size == 100
    assert np.bincount(y[va]).tolist() == [8, 4, 3] or sorted(np.bincount(y[va])) == [3, 4, 8]


def test_random_crop_is_a_translation_and_flip_mirrors():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 3)).astype(np.float32)
    out = random_crop(x, 2, np.random.default_rng(1))
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = set()
    for i in range(64):
        hits = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(out[i], padded[i, dy : dy + 8, dx : dx + 8])
        ]
        assert hits, f"example {i} is not a crop"
        offsets.add(hits[0])
    assert len(offsets) > 10  # offsets vary per example
    flipped = random_flip(x, np.random.default_rng(2))
    same = [np.array_equal(f, o) for f, o in zip(flipped, x, strict=True)]
    mirrored = [np.array_equal(f, o[:, ::-1]) for f, o in zip(flipped, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 10 < sum(mirrored) < 54
    sig = rng.random((16, 40, 1))
    assert random_crop(sig, 4, rng).shape == sig.shape


def test_augmentation_validation():
    with pytest.raises(ValueError):
        Augmentation(pad=-1)
    assert Augmentation().is_identity and Augmentation(4, True).describe().startswith("pad-4")
