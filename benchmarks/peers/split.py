"""Project venv: write the peers benchmark's split file and the Keras parameter count.

``DATA_DIR/fashion_mnist_split.npz``: the raw Fashion-MNIST arrays and, per seed, the
pipeline's own validation hold-out (``superconverge.data.splits.stratified_holdout``, 10%,
stratified) and training order. Before writing, every seed's arrays are checked against
``superconverge.data.load("fashion_mnist", seed=seed)``: the peers get exactly what the
pipeline trains on. ``DATA_DIR/keras_simple_cnn.json``: parameter counts of the Keras
``simple_cnn`` (all, trainable, non-trainable), which the PyTorch twin must match.

    PYTHONPATH=. .venv/bin/python benchmarks/peers/split.py [--seeds 0 1 2] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers_common import (
    SEEDS,
    SPLIT_FILE,
    VALIDATION_SPLIT,
    atomic_write_json,
    load_split,
    split_arrays,
    split_meta,
    write_split,
)

PARAMS_FILE = "keras_simple_cnn.json"


def keras_param_counts(input_shape=(28, 28, 1), num_classes: int = 10) -> dict[str, int]:
    """Parameter counts of ``superconverge.models.build("simple_cnn", ...)``."""
    import keras

    from superconverge import models

    model = models.build("simple_cnn", input_shape, num_classes, seed=0)
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    return {"total": int(model.count_params()), "trainable": trainable,
            "non_trainable": non_trainable, "keras": keras.__version__}


def build_split(seeds: list[int], path: str | None = None) -> dict[str, np.ndarray]:
    from superconverge.data.mnist_idx import load_fashion_mnist
    from superconverge.data.splits import stratified_holdout

    raw = load_fashion_mnist(path)
    y_train = np.asarray(raw.y_train).astype(np.int32)
    indices = {s: stratified_holdout(y_train, VALIDATION_SPLIT, s) for s in seeds}
    meta: dict[str, Any] = {"dataset": "fashion_mnist", "source": raw.source,
                            "validation_split": VALIDATION_SPLIT, "seeds": list(seeds),
                            "scaling": "uint8 / 255", "layout": "NHWC"}
    return split_arrays(raw.x_train, y_train, raw.x_test, raw.y_test, indices, meta)


def check_against_pipeline(split_file: Path, seeds: list[int],
                           train_subset: int | None = None) -> None:
    """Every seed's arrays equal what the pipeline's loader gives (raises otherwise)."""
    from superconverge import data

    for seed in seeds:
        mine = load_split(split_file, seed, train_subset)
        theirs = data.load("fashion_mnist", seed=seed, validation_split=VALIDATION_SPLIT,
                           train_subset=train_subset)
        for name, split in (("train", theirs.train), ("val", theirs.val), ("test", theirs.test)):
            if not (np.array_equal(mine[f"x_{name}"], split.x)
                    and np.array_equal(mine[f"y_{name}"], split.y)):
                raise SystemExit(f"seed {seed}: the {name} split differs from data.load's")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    p.add_argument("--out", default=str(SPLIT_FILE))
    p.add_argument("--data-path", default=None, help="Fashion-MNIST folder (default: search)")
    p.add_argument("--force", action="store_true", help="rewrite an existing split file")
    args = p.parse_args(argv)
    out = Path(args.out)
    params_path = out.parent / PARAMS_FILE
    if out.exists() and params_path.exists() and not args.force:
        have = split_meta(out)["seeds"]
        if set(args.seeds) <= set(have):
            print(f"{out} exists (seeds {have}); --force rewrites it")
            return 0
    write_split(out, build_split(args.seeds, args.data_path))
    check_against_pipeline(out, args.seeds)
    atomic_write_json(params_path, keras_param_counts())
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, seeds {args.seeds}) and "
          f"{params_path}: {json.loads(params_path.read_text())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
