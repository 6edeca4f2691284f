"""Input-pipeline benchmark: is feeding Fashion-MNIST batches ever what limits training?

Measures, under the backend chosen with ``KERAS_BACKEND``:

* ``pipeline``: time to produce one batch of 128 with ``DatasetSplits.train_batches`` (NumPy
  gather, plus pad-2 crop + flip when augmenting) — the input pipeline alone;
* ``fit``: time per training step of ``simple_cnn`` (SGD + momentum) through ``model.fit`` fed by
  that PyDataset, with and without augmentation (after a warm-up epoch that compiles);
* ``compute``: time per step training on one fixed in-memory batch (``train_on_batch``), i.e.
  with no input pipeline at all;
* optionally (``--models``) the same ``fit`` throughput for other models, e.g. ``resnet20``.

Reports mean ± std over repeats and writes ``benchmarks/results/input_pipeline.json`` and
``.md`` (results of other backends already in the JSON are kept; one section per backend).

    KERAS_BACKEND=torch python benchmarks/input_pipeline.py
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

from superconverge import data, models

RESULTS = Path(__file__).resolve().parent / "results"
logger = logging.getLogger("benchmarks.input_pipeline")


class StepTimer(keras.callbacks.Callback):
    """Wall time of every whole step (data fetch + compute), from one batch end to the next."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._last: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now


def stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "median": float(np.median(a)), "n": int(a.size)}  # fmt: skip


def time_pipeline(splits, batch_size, augment, repeats, steps, seed):
    per_batch = []
    for r in range(repeats):
        ds = splits.train_batches(batch_size, augment=augment, seed=seed + r)
        t0 = time.perf_counter()
        for i in range(steps):
            ds[i]
        per_batch.append((time.perf_counter() - t0) / steps)
    return stats(per_batch)


def time_fit(splits, model_name, batch_size, augment, repeats, steps, seed):
    keras.utils.set_random_seed(seed)
    model = models.build(model_name, splits.input_shape, splits.num_classes, seed=seed)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")  # fmt: skip
    ds = splits.train_batches(batch_size, augment=augment, seed=seed, drop_remainder=True)
    model.fit(ds, epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)  # warm-up / compile
    per_step = []
    for _ in range(repeats):
        timer = StepTimer()
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[timer])
        per_step.append(float(np.median(timer.times[1:])))  # skip the epoch's first step
    # compute only: the same model on one fixed batch, no input pipeline
    xb, yb = ds[0]
    for _ in range(3):
        model.train_on_batch(xb, yb)
    compute = []
    for _ in range(repeats):
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            model.train_on_batch(xb, yb)
            times.append(time.perf_counter() - t0)
        compute.append(float(np.median(times)))
    return stats(per_step), stats(compute)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=[], help="extra models for throughput")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    backend = keras.backend.backend()
    splits = data.load("fashion_mnist", seed=args.seed)
    bs, steps, reps, seed = args.batch_size, args.steps, args.repeats, args.seed
    result: dict = {
        "backend": backend,
        "dataset": "fashion_mnist",
        "model": "simple_cnn",
        "batch_size": bs,
        "steps_per_repeat": steps,
        "repeats": reps,
        "seed": seed,
        "augmentation": splits.augmentation.describe(),
        "versions": {
            "python": platform.python_version(),
            "keras": keras.__version__,
            "numpy": np.__version__,
            backend: importlib.import_module(backend).__version__,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "seconds_per_batch": {},
    }
    t_start = time.perf_counter()
    for augment in (False, True):
        key = "augment" if augment else "plain"
        pipe = time_pipeline(splits, bs, augment, reps, steps, seed)
        fit, compute = time_fit(splits, "simple_cnn", bs, augment, reps, steps, seed)
        result["seconds_per_batch"][key] = {"pipeline": pipe, "fit_step": fit, "compute": compute}
        logger.info(
            "%s: pipeline %.2f ms, fit step %.2f ms, compute-only %.2f ms (%s)",
            key,
            pipe["mean"] * 1e3,
            fit["mean"] * 1e3,
            compute["mean"] * 1e3,
            backend,
        )
    for row in result["seconds_per_batch"].values():
        row["pipeline_share_of_step"] = row["pipeline"]["mean"] / row["fit_step"]["mean"]
        row["images_per_s"] = bs / row["fit_step"]["mean"]
    throughput = {"simple_cnn": result["seconds_per_batch"]["plain"]["images_per_s"]}
    for name in args.models:
        if name == "simple_cnn":
            continue
        fit, _ = time_fit(splits, name, bs, False, max(1, reps - 1), max(5, steps // 4), seed)
        throughput[name] = bs / fit["mean"]
        logger.info("%s: %.0f img/s (fit, no augmentation)", name, throughput[name])
    result["train_images_per_s"] = throughput
    result["wall_seconds"] = time.perf_counter() - t_start
    result["machine"]["load_average_at_end"] = list(os.getloadavg())

    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / "input_pipeline.json"
    merged = json.loads(json_path.read_text()) if json_path.exists() else {}
    merged.setdefault("runs", {})[backend] = result
    merged["description"] = __doc__.strip().split("\n\n")[0]
    json_path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    (RESULTS / "input_pipeline.md").write_text(render_markdown(merged))
    logger.info("wrote %s and .md", json_path)
    return 0


def render_markdown(merged: dict) -> str:
    lines = [
        "# Input pipeline benchmark (Fashion-MNIST, simple_cnn)",
        "",
        "Written by `benchmarks/input_pipeline.py`. Per-batch times in ms, mean ± std over "
        "repeats (each repeat: the median step of a `fit` epoch or of `train_on_batch` "
        "calls, or the mean time to produce a batch). "
        "*pipeline* = producing one batch alone; *fit step* = a full `model.fit` step fed by "
        "`train_batches`; *compute* = `train_on_batch` on a fixed batch (no pipeline). "
        "*share* = pipeline / fit step (an upper bound: Keras prefetches on some backends).",
        "",
    ]
    for backend, r in sorted(merged.get("runs", {}).items()):
        v = r["versions"]
        lines += [
            f"## {backend}",
            "",
            f"batch {r['batch_size']}, {r['repeats']} repeats × {r['steps_per_repeat']} steps, "
            f"seed {r['seed']}, augmentation: {r['augmentation']}; "
            + ", ".join(f"{k} {val}" for k, val in v.items())
            + f"; {r['machine']['cpu_count']} CPUs, load average (1 min) at start "
            f"{r['machine']['load_average_at_start'][0]:.1f} (other jobs shared the CPUs)",
            "",
            "| augmentation | pipeline ms | fit step ms | compute ms | share | img/s |",
            "|---|---|---|---|---|---|",
        ]
        for key, row in r["seconds_per_batch"].items():

            def ms(s):
                return f"{s['mean'] * 1e3:.2f} ± {s['std'] * 1e3:.2f}"

            lines.append(
                f"| {key} | {ms(row['pipeline'])} | {ms(row['fit_step'])} | "
                f"{ms(row['compute'])} | {row['pipeline_share_of_step']:.1%} | "
                f"{row['images_per_s']:.0f} |"
            )
        tp = ", ".join(f"{k} {val:.0f} img/s" for k, val in r["train_images_per_s"].items())
        lines += ["", f"Training throughput (fit, no augmentation): {tp}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
