"""Overhead of the LR range test against a plain `model.fit` over the same steps.

Same model (small BN CNN), same synthetic 28×28×1 data, same number of steps and batch size.
The range test runs with ``diverge=None`` so it always does every step. Each backend runs in
its own subprocess (the Keras backend is fixed at import). Per backend: one warm-up call of
each (compilation), then ``--repeats`` pairs of timed calls, the order alternating from pair to
pair. Ratio: geometric mean over the pairs of range test / plain fit, with a 95 % t-interval
of the mean log ratio (neighbouring calls share the machine's state, so slow drifts cancel).
Run it alone on the machine; the 1-minute load average is recorded per backend.

    python benchmarks/range_test_overhead.py                # torch, tensorflow, jax
    python benchmarks/range_test_overhead.py --backends torch --steps 60 --repeats 30

Writes benchmarks/results/range_test_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, geometric_interval, run_worker, system_info, write_results


def _worker(steps: int, batch: int, repeats: int, seed: int) -> dict:
    import keras
    import numpy as np

    from superconverge.finder import lr_range_test
    from superconverge.finder.state import TrainingState

    rng = np.random.default_rng(seed)
    n = steps * batch
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=n).astype("int32")
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.optimizer.build(model.trainable_variables)
    snapshot = TrainingState.capture(model)

    def plain() -> float:
        t = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, steps_per_epoch=steps, shuffle=False,
                  verbose=0)
        dt = time.perf_counter() - t
        snapshot.restore(model)  # same starting point each time (not timed)
        return dt

    def range_test() -> float:
        t = time.perf_counter()
        r = lr_range_test(model, x, y, batch_size=batch, steps=steps, start_lr=1e-5,
                          end_lr=1.0, diverge=None, shuffle=False)
        dt = time.perf_counter() - t
        assert len(r) == steps
        return dt

    plain(), range_test()  # warm-up: compile both paths
    t_plain, t_range = [], []
    for i in range(repeats):
        if i % 2 == 0:
            t_plain.append(plain())
            t_range.append(range_test())
        else:
            t_range.append(range_test())
            t_plain.append(plain())

    def stats(ts: list[float]) -> dict:
        return {
            "median_s": statistics.median(ts),
            "mean_s": statistics.fmean(ts),
            "std_s": statistics.stdev(ts) if len(ts) > 1 else 0.0,
            "median_step_ms": 1e3 * statistics.median(ts) / steps,
            "all_s": ts,
        }

    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "plain_fit": stats(t_plain),
        "range_test": stats(t_range),
        "ratio_of_medians": statistics.median(t_range) / statistics.median(t_plain),
        "pair_ratios": [r / p for r, p in zip(t_range, t_plain, strict=True)],
        "restored_exactly": snapshot.differences(model) == [],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        print(json.dumps(_worker(args.steps, args.batch, args.repeats, args.seed)))
        return

    runs = []
    for backend in args.backends:
        load = os.getloadavg()[0]
        try:
            r = run_worker(Path(__file__), backend, [
                "--steps", str(args.steps), "--batch", str(args.batch),
                "--repeats", str(args.repeats), "--seed", str(args.seed)])
        except RuntimeError as error:
            sys.stderr.write(f"{error}\n")
            runs.append({"backend": backend, "error": str(error)[-500:]})
            continue
        ratio, low, high = geometric_interval(r["pair_ratios"])
        r.update(ratio=ratio, ratio_95=[low, high], load_average_1m=round(load, 2))
        runs.append(r)
        sys.stderr.write(f"{backend}: ratio {ratio:.4f} ({low:.4f} – {high:.4f})\n")

    out = {
        "benchmark": "range_test_overhead",
        "description": "LR range test vs plain model.fit, same model/data/steps/batch",
        "model": "Conv16-BN-ReLU-Pool-Conv32-BN-ReLU-GAP-Dense10, SGD momentum 0.9",
        "data": "synthetic uniform 28x28x1, 10 random classes",
        "steps": args.steps,
        "batch_size": args.batch,
        "repeats": args.repeats,
        "seed": args.seed,
        "system": system_info(),
        "measured": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "runs": runs,
    }
    system = out["system"]
    lines = [
        "# LR range test overhead",
        "",
        f"{out['description']}. Model: {out['model']}. Data: {out['data']}.",
        f"{args.steps} steps × batch {args.batch}; {args.repeats} timed pairs (order "
        f"alternating) after one warm-up each; seed {args.seed}; {system['cpus']} CPUs "
        f"({system['cpu']}), Python {system['python']}; measured {out['measured']} UTC, run "
        "alone on the machine (1-minute load average per row).",
        "Range test = snapshot + fit with the LRRangeTest callback (LR assignment and "
        "`reset_metrics()` every batch) + restore. Ratio = geometric mean over the pairs of "
        "range test / plain fit, 95 % t-interval of the mean log ratio.",
        "",
        "| backend | plain fit median s (mean ± std) | range test median s (mean ± std) "
        "| ms/step fit | ms/step range | ratio | 95 % interval | restored exactly | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['backend']} | error | | | | | | | |")
            continue
        p, q = r["plain_fit"], r["range_test"]
        lines.append(
            f"| {r['backend']} | {p['median_s']:.3f} ({p['mean_s']:.3f} ± {p['std_s']:.3f}) "
            f"| {q['median_s']:.3f} ({q['mean_s']:.3f} ± {q['std_s']:.3f}) "
            f"| {p['median_step_ms']:.1f} | {q['median_step_ms']:.1f} "
            f"| {r['ratio']:.4f} | {r['ratio_95'][0]:.4f} – {r['ratio_95'][1]:.4f} "
            f"| {r['restored_exactly']} | {r['load_average_1m']:.2f} |"
        )
    write_results("range_test_overhead", out, lines, RESULTS)


if __name__ == "__main__":
    main()
