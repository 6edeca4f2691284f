"""Training throughput (images/s) of the default model on each backend, and the fraction of
this CPU's peak floating-point rate it reaches.

* images/s: plain ``model.fit`` on Fashion-MNIST (batch 128), one warm-up epoch, then the
  median over ``--repeats`` timed epochs of ``--steps`` batches; the BN layers run as the
  pipeline runs them (PyTorch's fused kernel on torch, ``models.fuse_batch_norm``).
* model FLOPs per training image: the forward multiply-adds of every Conv2D/Dense layer
  (``2 · H_out · W_out · C_out · k_h · k_w · C_in / groups`` and ``2 · in · out``), times 3 for
  forward + backward (gradients with respect to inputs and weights); batch norm, activations
  and pooling are not counted, so the fraction is a lower bound.
* peak: ``cores × clock × 32`` FP32 FLOP/cycle (two 256-bit FMA pipes per core, which is
  what AVX2 and Zen 4's AVX-512 give) — and, as a practical ceiling, the rate NumPy's
  float32 matrix product reaches on this machine (2048³, median of 5).

* ``--precisions float32 mixed_bfloat16``: the same under a Keras ``mixed_precision`` policy
  (bf16 compute, float32 variables); the speed-up column is images/s over the same backend's
  float32 row. The % of peak column is always against the FP32 peak.

    python benchmarks/throughput.py [--backends torch tensorflow jax]
        [--precisions float32 mixed_bfloat16] [--name throughput]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from common import BACKENDS, run_worker, stats, system_info, write_results

FLOP_PER_CYCLE_FP32 = 32


def model_training_flops(model) -> float:
    """FLOPs of one training example (forward + backward ≈ 3 × forward) of Conv2D/Dense."""
    import keras

    total = 0.0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w = layer.kernel_size
            c_in = layer.input.shape[-1]
            total += 2.0 * h * w * c_out * k_h * k_w * c_in / layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.input.shape[-1] * layer.units
    return 3.0 * total


def _worker(model_name: str, steps: int, batch: int, repeats: int, seed: int,
            precision: str = "float32") -> dict:
    import keras

    from superconverge import data, models

    keras.mixed_precision.set_global_policy(precision)
    splits = data.load("fashion_mnist", seed=seed, train_subset=steps * batch)
    x, y = splits.train.as_tuple()
    keras.utils.set_random_seed(seed)
    model = models.build(model_name, splits.input_shape, splits.num_classes)
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # as the pipeline trains it: BN on PyTorch's fused kernel (torch; no-op elsewhere)
    fused_bn_layers = models.fuse_batch_norm(model)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return {"backend": keras.backend.backend(), "precision": precision,
            "model": model_name, "images": len(x), "fused_bn_layers": fused_bn_layers,
            "epoch_s": times, "flops_per_image": model_training_flops(model)}


def cpu_clock_ghz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except OSError:
        pass
    return float("nan")


def numpy_sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    import numpy as np

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precisions", nargs="+", default=["float32"],
                        choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--name", default="throughput", help="results file stem")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.model, args.steps, args.batch, args.repeats, args.seed,
                                 args.precisions[0])))
        return
    cores = os.cpu_count() or 1
    clock = cpu_clock_ghz()
    peak = cores * clock * FLOP_PER_CYCLE_FP32
    sgemm = numpy_sgemm_gflops()
    rows = []
    for backend, precision in [(b, q) for b in args.backends for q in args.precisions]:
        r = run_worker(Path(__file__), backend,
                       ["--model", args.model, "--steps", str(args.steps), "--batch",
                        str(args.batch), "--repeats", str(args.repeats), "--seed", str(args.seed),
                        "--precisions", precision])
        epoch = stats(r["epoch_s"])
        r["images_per_s"] = r["images"] / epoch["median"]
        r["images_per_s_std"] = statistics.stdev([r["images"] / t for t in r["epoch_s"]])
        r["gflops"] = r["images_per_s"] * r["flops_per_image"] / 1e9
        r["fraction_of_peak"] = r["gflops"] / peak
        r["fraction_of_sgemm"] = r["gflops"] / sgemm
        rows.append(r)
        print(f"{backend} {precision}: {r['images_per_s']:.0f} img/s", file=sys.stderr)
    for r in rows:
        fp32 = next((q for q in rows if q["backend"] == r["backend"]
                     and q["precision"] == "float32"), None)
        r["speedup_over_float32"] = r["images_per_s"] / fp32["images_per_s"] if fp32 else None
    payload = {"benchmark": args.name, "system": system_info(), "seed": args.seed,
               "cpu_clock_ghz": clock, "peak_gflops": peak, "numpy_sgemm_gflops": sgemm,
               "results": rows}
    lines = [
        "# Training throughput per backend",
        "",
        f"`{args.model}`, Fashion-MNIST, batch {args.batch}, plain `model.fit`; median of "
        f"{args.repeats} timed epochs of {args.steps} batches after a warm-up epoch; seed "
        f"{args.seed}. {cores} cores at {clock:.2f} GHz: peak {peak:.0f} GFLOP/s FP32 "
        f"({FLOP_PER_CYCLE_FP32} FLOP/cycle/core); NumPy float32 matmul reaches {sgemm:.0f} "
        "GFLOP/s. Model FLOPs count Conv2D/Dense multiply-adds × 3 (forward + backward). "
        "The clock is the one /proc/cpuinfo reports; where the sgemm rate exceeds the computed "
        "peak the cores boost above it, and % of sgemm is the better guide.",
        "",
        "| backend | precision | images/s (mean ± std) | × float32 | GFLOP/s | % of FP32 peak "
        "| % of NumPy sgemm |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["images_per_s"]):
        lines.append(
            f"| {r['backend']} | {r['precision']} | {r['images_per_s']:.0f} ± "
            f"{r['images_per_s_std']:.0f} | "
            + (f"{r['speedup_over_float32']:.2f}" if r["speedup_over_float32"] else "—")
            + f" | {r['gflops']:.1f} | {100 * r['fraction_of_peak']:.1f}% | "
            f"{100 * r['fraction_of_sgemm']:.1f}% |"
        )
    write_results(args.name, payload, lines)


if __name__ == "__main__":
    main()
