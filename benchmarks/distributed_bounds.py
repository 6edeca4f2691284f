"""LR bounds picked by the range test at the global batch on 1, 2 and 4 devices, against the
linear and square-root scaling rules applied to the 1-device bounds.

Data parallelism with a fixed per-device batch ``b`` trains at the global batch ``k·b`` on
``k`` devices. The range test run there (``sc.lr_range_test`` under
``keras.distribution.DataParallel``) measures the usable LR at that batch; the rules of
:func:`superconverge.distributed.scale_lr` predict it from the 1-device bounds (``lr·k`` or
``lr·√k``). A last row runs the 4-device global batch on one device: the same curve, so the
same bounds, whatever the device count.

JAX backend, ``k`` of 4 virtual CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count
=4``, set for the worker), Fashion-MNIST (standardized) subset, an MLP 784-256-10 with SGD
momentum 0.9, exponential sweep 1e-4 → 10 over a fixed number of steps, bounds by the default
``auto`` method, several seeds (initial weights and data order). Each seed starts from the
same weights in every configuration.

    nice -n 19 python benchmarks/distributed_bounds.py [--seeds 0 1 2] [--steps 120]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from common import HERE, system_info, write_results

PER_DEVICE_BATCH = 32
CONFIGS = [  # (devices, global batch)
    (1, PER_DEVICE_BATCH),
    (2, 2 * PER_DEVICE_BATCH),
    (4, 4 * PER_DEVICE_BATCH),
    (1, 4 * PER_DEVICE_BATCH),
]


def _worker(seeds: list[int], steps: int) -> dict:
    import jax
    import keras
    import numpy as np

    import superconverge as sc
    from superconverge import data

    largest = max(b for _, b in CONFIGS)
    splits = data.load("fashion_mnist", seed=0, train_subset=steps * largest, standardize=True)
    x, y = splits.train.as_tuple()
    x = x.reshape(len(x), -1)
    devices = jax.devices()

    runs = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        init = [
            np.asarray(w)
            for w in keras.Sequential(
                [keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                 keras.layers.Dense(10)]
            ).get_weights()
        ]
        for k, batch in CONFIGS:
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(devices=devices[:k]) if k > 1 else None
            )
            model = keras.Sequential(
                [keras.Input((784,)), keras.layers.Dense(256, activation="relu"),
                 keras.layers.Dense(10)]
            )
            model.compile(
                keras.optimizers.SGD(0.01, momentum=0.9),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            model.set_weights(init)
            keras.utils.set_random_seed(seed)  # the same data order in every configuration
            start = time.perf_counter()
            result = sc.lr_range_test(
                model, x, y, batch_size=batch, start_lr=1e-4, end_lr=10.0, steps=steps
            )
            seconds = time.perf_counter() - start
            s = result.suggest()
            runs.append(
                {
                    "seed": seed,
                    "devices": k,
                    "global_batch": batch,
                    "max_lr": s.max_lr,
                    "min_lr": s.min_lr,
                    "confidence": s.confidence,
                    "reason": s.reason,
                    "stop_reason": result.stop_reason,
                    "steps_run": len(result),
                    "seconds": seconds,
                }
            )
            sys.stderr.write(
                f"seed {seed} devices {k} batch {batch}: max_lr {s.max_lr:.4g} "
                f"(conf {s.confidence:.2f}, {result.stop_reason} after {len(result)} steps, "
                f"{seconds:.1f} s)\n"
            )
    keras.distribution.set_distribution(None)
    return {"keras": keras.__version__, "jax": jax.__version__, "runs": runs}


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _summarize(runs: list[dict]) -> list[dict]:
    from superconverge.distributed import scale_lr

    def of(k: int, batch: int) -> list[dict]:
        return [r for r in runs if r["devices"] == k and r["global_batch"] == batch]

    base = of(1, PER_DEVICE_BATCH)
    base_max = _geomean([r["max_lr"] for r in base])
    rows = []
    for k, batch in CONFIGS:
        group = of(k, batch)
        maxes = [r["max_lr"] for r in group]
        logs = [math.log10(v) for v in maxes]
        measured = _geomean(maxes)
        linear = scale_lr(base_max, PER_DEVICE_BATCH, batch, "linear")
        sqrt = scale_lr(base_max, PER_DEVICE_BATCH, batch, "sqrt")
        rows.append(
            {
                "devices": k,
                "global_batch": batch,
                "max_lr_geomean": measured,
                "max_lr_each_seed": maxes,
                "log10_max_lr_std": statistics.stdev(logs) if len(logs) > 1 else 0.0,
                "min_lr_geomean": _geomean([r["min_lr"] for r in group]),
                "confidence_mean": statistics.fmean(r["confidence"] for r in group),
                "linear_rule": linear,
                "sqrt_rule": sqrt,
                "measured_over_linear": measured / linear,
                "measured_over_sqrt": measured / sqrt,
                "seconds_median": statistics.median(r["seconds"] for r in group),
            }
        )
    return rows


def _markdown(payload: dict) -> list[str]:
    rows = payload["summary"]
    steps, versions, system = payload["sweep"]["steps"], payload["versions"], payload["system"]
    md = [
        "# LR bounds at the global batch: range test on 1, 2, 4 devices vs scaling rules",
        "",
        f"JAX `DataParallel` over virtual CPU devices, {PER_DEVICE_BATCH} examples per device; "
        f"Fashion-MNIST MLP, SGD momentum 0.9; sweep 1e-4 → 10 over {steps} steps; "
        f"`auto` bounds; seeds {payload['seeds']}. Geometric means over seeds; the rules scale the "
        "1-device max LR by k (linear) or √k (sqrt). Script: "
        "`nice -n 19 python benchmarks/distributed_bounds.py`.",
        "",
        "| devices | global batch | max LR (range test) | log10 std | linear rule | sqrt rule "
        "| measured / linear | measured / sqrt | confidence |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        md.append(
            f"| {r['devices']} | {r['global_batch']} | {r['max_lr_geomean']:.3g} | "
            f"{r['log10_max_lr_std']:.2f} | {r['linear_rule']:.3g} | {r['sqrt_rule']:.3g} | "
            f"{r['measured_over_linear']:.2f} | {r['measured_over_sqrt']:.2f} | "
            f"{r['confidence_mean']:.2f} |"
        )
    md += [
        "",
        "Per seed (max LR): "
        + "; ".join(
            f"{r['devices']} dev/batch {r['global_batch']}: "
            + ", ".join(f"{v:.3g}" for v in r["max_lr_each_seed"])
            for r in rows
        ),
        "",
        f"Total {payload['total_seconds']:.0f} s on {system['cpus']} shared CPU cores "
        f"({system['cpu']}); keras {versions['keras']}, jax {versions['jax']}.",
    ]
    same = [r for r in payload["runs"] if r["global_batch"] == 4 * PER_DEVICE_BATCH]
    by_seed: dict[int, dict[int, float]] = {}
    for r in same:
        by_seed.setdefault(r["seed"], {})[r["devices"]] = r["max_lr"]
    gaps = [abs(math.log(v[4] / v[1])) for v in by_seed.values() if 1 in v and 4 in v]
    if gaps:
        md.insert(
            -2,
            f"\nThe last row is the 4-device global batch run on one device: same data order, "
            f"same curve up to float32 summation order; the picked max LR differs from the "
            f"4-device one by at most {100 * (math.exp(max(gaps)) - 1):.1f}% per seed.",
        )
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rewrite-markdown", action="store_true",
                    help="only rewrite the .md from the saved .json")
    args = ap.parse_args()
    if args.rewrite_markdown:
        from common import RESULTS

        from superconverge.io import atomic_write_text

        payload = json.loads((RESULTS / "distributed_bounds.json").read_text())
        atomic_write_text(RESULTS / "distributed_bounds.md", "\n".join(_markdown(payload)) + "\n")
        return
    if args.worker:
        json.dump(_worker(args.seeds, args.steps), sys.stdout)
        return

    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    cmd = [sys.executable, __file__, "--worker", "--seeds", *map(str, args.seeds),
           "--steps", str(args.steps)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=HERE.parent,
                          timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed with exit code {proc.returncode}")
    worker = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = _summarize(worker["runs"])
    payload = {
        "benchmark": "distributed_bounds",
        "description": __doc__.split("\n\n")[0],
        "backend": "jax",
        "devices": "virtual CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=4)",
        "data": "Fashion-MNIST train subset, standardized, flattened",
        "model": "MLP 784-256(relu)-10, SGD momentum 0.9",
        "sweep": {"start_lr": 1e-4, "end_lr": 10.0, "steps": args.steps, "mode": "exp"},
        "bounds_method": "auto",
        "per_device_batch": PER_DEVICE_BATCH,
        "seeds": args.seeds,
        "versions": {"keras": worker["keras"], "jax": worker["jax"]},
        "system": system_info(),
        "total_seconds": time.perf_counter() - start,
        "summary": rows,
        "runs": worker["runs"],
    }
    md = _markdown(payload)
    write_results("distributed_bounds", payload, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
