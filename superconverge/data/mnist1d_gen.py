"""MNIST-1D (Greydanus 2020), generated locally with the ``mnist1d`` package (never downloaded).

40-sample 1-D signals in 10 classes, shaped ``(N, 40, 1)`` for ``Conv1D``. The generator
standardises the whole data set (zero mean, unit std), so ``scaling == "standardized"``, not
``[0, 1]``. The data set itself is fixed by ``data_seed`` (the package default, 42) — ``seed``
of :func:`superconverge.data.load` only moves the validation split. Default: the package's 5000
examples, 4000 train / 1000 test.
"""

from __future__ import annotations

import functools
import random

import numpy as np

from superconverge.data.augment import Augmentation
from superconverge.data.splits import RawData

__all__ = ["load_mnist1d"]


@functools.lru_cache(maxsize=4)
def _generate(num_samples: int, data_seed: int, shuffle_seq: bool) -> tuple:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = data_seed
    args.shuffle_seq = shuffle_seq
    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset reseeds the *global* RNGs; do not leak that to the caller
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    out = tuple(np.ascontiguousarray(a) for a in (d["x"], d["y"], d["x_test"], d["y_test"]))
    for a in out:
        a.setflags(write=False)
    return out


def load_mnist1d(
    path: object = None,
    *,
    download: bool = False,
    num_samples: int = 5000,
    data_seed: int = 42,
    shuffle_seq: bool = False,
) -> RawData:
    """MNIST-1D as :class:`RawData` (``path``/``download`` are ignored: always generated)."""
    del path, download
    try:
        import mnist1d  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'mnist1d' data set needs the mnist1d package: pip install 'superconverge[mnist1d]'"
        ) from exc
    x_tr, y_tr, x_te, y_te = _generate(int(num_samples), int(data_seed), bool(shuffle_seq))
    return RawData(
        x_tr.astype(np.float32)[..., None],
        y_tr,
        x_te.astype(np.float32)[..., None],
        y_te,
        10,
        tuple(str(i) for i in range(10)),
        "standardized",
        Augmentation(),
        f"generated (mnist1d, data_seed={data_seed})",
    )
