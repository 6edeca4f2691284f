"""Overhead of the LR range test against a plain `model.fit` over the same steps.

Same model (small BN CNN), same synthetic 28×28×1 data, same number of steps and batch size.
The range test runs with ``diverge=None`` so it always does every step. Each backend runs in
its own subprocess (the Keras backend is fixed at import). Per backend: one warm-up call of
each (compilation), then ``--repeats`` alternating timed calls; we report medians, mean ± std
and the ratio of medians, all measured in the same process.

    python benchmarks/range_test_overhead.py                # torch, tensorflow, jax
    python benchmarks/range_test_overhead.py --backends torch --steps 60 --repeats 5

Writes benchmarks/results/range_test_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


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
    for _ in range(repeats):
        t_plain.append(plain())
        t_range.append(range_test())

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
        "restored_exactly": snapshot.differences(model) == [],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", nargs="+", default=["torch", "tensorflow", "jax"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        json.dump(_worker(args.steps, args.batch, args.repeats, args.seed), sys.stdout)
        return

    runs = []
    for backend in args.backends:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        cmd = [sys.executable, __file__, "--worker", "--steps", str(args.steps), "--batch",
               str(args.batch), "--repeats", str(args.repeats), "--seed", str(args.seed)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              cwd=HERE.parent, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            runs.append({"backend": backend, "error": proc.stderr[-500:]})
            continue
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        r = runs[-1]
        sys.stderr.write(f"{backend}: ratio {r['ratio_of_medians']:.3f}\n")

    out = {
        "benchmark": "range_test_overhead",
        "description": "LR range test vs plain model.fit, same model/data/steps/batch",
        "model": "Conv16-BN-ReLU-Pool-Conv32-BN-ReLU-GAP-Dense10, SGD momentum 0.9",
        "data": "synthetic uniform 28x28x1, 10 random classes",
        "steps": args.steps,
        "batch_size": args.batch,
        "repeats": args.repeats,
        "seed": args.seed,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "range_test_overhead.json").write_text(json.dumps(out, indent=1) + "\n")
    lines = [
        "# LR range test overhead",
        "",
        f"{out['description']}. Model: {out['model']}. Data: {out['data']}.",
        f"{args.steps} steps × batch {args.batch}; {args.repeats} timed repeats after one "
        f"warm-up each; seed {args.seed}; {out['machine']['cpus']} CPUs, "
        f"Python {out['machine']['python']}.",
        "Range test = snapshot + fit with the LRRangeTest callback (LR assignment and "
        "`reset_metrics()` every batch) + restore. Ratio = median range test / median fit.",
        "",
        "| backend | plain fit median s (mean ± std) | range test median s (mean ± std) "
        "| ms/step fit | ms/step range | ratio | restored exactly |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['backend']} | error | | | | | |")
            continue
        p, q = r["plain_fit"], r["range_test"]
        lines.append(
            f"| {r['backend']} | {p['median_s']:.3f} ({p['mean_s']:.3f} ± {p['std_s']:.3f}) "
            f"| {q['median_s']:.3f} ({q['mean_s']:.3f} ± {q['std_s']:.3f}) "
            f"| {p['median_step_ms']:.1f} | {q['median_step_ms']:.1f} "
            f"| {r['ratio_of_medians']:.3f} | {r['restored_exactly']} |"
        )
    (RESULTS / "range_test_overhead.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
