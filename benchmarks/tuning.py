"""Tuned weight decay and batch-norm momentum against the defaults, at the same epoch budget.

Each seed runs the pipeline (range test → bounds → one-cycle → test) three times on the same
data (simple_cnn, 10,000 Fashion-MNIST training images, 6,000 validation, 2 epochs, batch 128):

* ``defaults``: weight decay 5e-4, batch-norm momentum 0.99 (Keras' default), no tuning;
* ``principled``: weight decay 5e-4, the run-length BN momentum
  (``superconverge.regularization.recommended_bn_momentum``), no tuning;
* ``tuned``: ``superconverge run --tune`` (Smith's short runs on Optuna choose both).

Each arm reads its own max LR off its own range test, as the pipeline does. The tuning cost is
counted in epochs of the same training data (short runs, pruned ones as far as they ran, plus
the tuning's range test).

    nice -n 19 python benchmarks/tuning.py                # 3 seeds, TensorFlow backend
    python benchmarks/tuning.py --seeds 0 --train-subset 2000   # quick look

Writes ``benchmarks/results/tuning.{json,md}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import run_worker, stats, system_info, write_results

ARMS = {
    "defaults": {"weight_decay": 5e-4, "bn_momentum": 0.99, "tune": False},
    "principled": {"weight_decay": 5e-4, "bn_momentum": None, "tune": False},
    "tuned": {"tune": True},
}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One seed, all arms, in this process (its backend comes from KERAS_BACKEND)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    import keras

    from superconverge.pipeline import Pipeline, RunConfig

    out: dict[str, Any] = {"seed": args.seed, "backend": keras.backend.backend(), "arms": {}}
    with tempfile.TemporaryDirectory(prefix="sc-tuning-bench-") as tmp:
        for arm, settings in ARMS.items():
            run_dir = Path(tmp) / arm
            config = RunConfig(
                dataset=args.dataset, model=args.model, train_subset=args.train_subset,
                epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                baseline_epochs=0, out=str(run_dir), **settings,
            )
            started = time.perf_counter()
            summary = Pipeline(config, quiet=True).run()
            wall = time.perf_counter() - started
            with (run_dir / "one_cycle_history.csv").open() as handle:
                last = list(csv.DictReader(handle))[-1]
            bounds = json.loads((run_dir / "bounds.json").read_text())
            state = json.loads((run_dir / "state.json").read_text())
            row = {
                "val_accuracy": float(last["val_accuracy"]),
                "val_loss": float(last["val_loss"]),
                "test_accuracy": summary.metrics["one_cycle"]["test_accuracy"],
                "test_loss": summary.metrics["one_cycle"]["test_loss"],
                "weight_decay": bounds["weight_decay"],
                "bn_momentum": bounds["bn_momentum"],
                "max_lr": bounds["max_lr"],
                "wall_time": wall,
                "tuning_seconds": state["stages"].get("tune", {}).get("seconds", 0.0),
                "tuning_cost_epochs": 0.0,
            }
            if settings.get("tune"):
                tuning = json.loads((run_dir / "tuning.json").read_text())
                row["tuning_cost_epochs"] = tuning["cost_epochs"]
                row["tuning_runs"] = tuning["runs"]
                row["tuning_reason"] = tuning["reason"]
                row["tuning_max_lr"] = tuning["max_lr"]
                row["evaluations"] = [
                    {k: e[k] for k in ("phase", "weight_decay", "bn_momentum", "val_loss",
                                       "val_accuracy", "state", "epochs_run")}
                    for e in tuning["evaluations"]
                ]
            out["arms"][arm] = row
    return out


def _pm(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    s = stats(values)
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--train-subset", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--name", default="tuning", help="results file stem")
    parser.add_argument("--cache", default=None,
                        help="keep each seed's raw result here and reuse it when present")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    started = time.perf_counter()
    runs = []
    for seed in args.seeds:
        worker_args = ["--seed", str(seed), "--dataset", args.dataset, "--model", args.model,
                       "--train-subset", str(args.train_subset), "--epochs", str(args.epochs),
                       "--batch-size", str(args.batch_size)]
        cached = Path(args.cache) / f"{args.name}-seed{seed}.json" if args.cache else None
        if cached is not None and cached.exists():
            runs.append(json.loads(cached.read_text()))
            continue
        t0 = time.perf_counter()
        runs.append(run_worker(Path(__file__), args.backend, worker_args, timeout=7200))
        runs[-1]["seconds"] = time.perf_counter() - t0
        print(f"seed {seed} done in {runs[-1]['seconds']:.0f} s", file=sys.stderr)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(runs[-1]))
    total = sum(r.get("seconds", 0.0) for r in runs) or time.perf_counter() - started

    summary: dict[str, Any] = {}
    for arm in ARMS:
        rows = [r["arms"][arm] for r in runs]
        summary[arm] = {
            key: stats([row[key] for row in rows])
            for key in ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "max_lr",
                        "bn_momentum", "weight_decay", "tuning_cost_epochs", "wall_time")
        }
    payload = {
        "benchmark": "tuning",
        "settings": {
            "dataset": args.dataset, "model": args.model, "train_subset": args.train_subset,
            "validation_split": 0.1, "epochs": args.epochs, "batch_size": args.batch_size,
            "seeds": args.seeds, "backend": args.backend, "arms": ARMS,
        },
        "system": system_info(),
        "wall_time": total,
        "summary": summary,
        "runs": runs,
    }
    md = [
        "# Tuned weight decay and batch-norm momentum vs the defaults",
        "",
        f"`{args.model}` on {args.dataset} ({args.train_subset} training images, 10% of the "
        f"training set held out for validation), One Cycle for **{args.epochs} epochs** "
        f"(batch {args.batch_size}) after each arm's own LR range test; seeds "
        f"{', '.join(map(str, args.seeds))}; backend {args.backend}; mean ± std over seeds. "
        "Tuning cost is in epochs of the same training data.",
        "",
        "| arm | weight decay | BN momentum | max LR | val accuracy % | test accuracy % "
        "| tuning cost (epochs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        rows = [r["arms"][arm] for r in runs]
        wds = ", ".join(f"{row['weight_decay']:.3g}" for row in rows)
        bns = ", ".join(f"{row['bn_momentum']:g}" for row in rows)
        lrs = ", ".join(f"{row['max_lr']:.3g}" for row in rows)
        md.append(
            f"| {arm} | {wds} | {bns} | {lrs} | {_pm([r['val_accuracy'] for r in rows])} | "
            f"{_pm([r['test_accuracy'] for r in rows])} | "
            f"{_pm([r['tuning_cost_epochs'] for r in rows], 1.0, 1)} |"
        )
    def paired(a: str, b: str, key: str = "test_accuracy") -> str:
        return _pm([r["arms"][a][key] - r["arms"][b][key] for r in runs])

    md += [
        "",
        "Paired differences over seeds (percentage points, mean ± std): tuned − defaults "
        f"{paired('tuned', 'defaults')} test, {paired('tuned', 'defaults', 'val_accuracy')} "
        f"val; principled − defaults {paired('principled', 'defaults')} test; tuned − "
        f"principled {paired('tuned', 'principled')} test, "
        f"{paired('tuned', 'principled', 'val_accuracy')} val. How to read it: "
        "docs/tuning.md (Measured).",
        "",
        "Per seed (test accuracy %, tuned − defaults):",
        "",
    ]
    for r in runs:
        diff = 100 * (r["arms"]["tuned"]["test_accuracy"] - r["arms"]["defaults"]["test_accuracy"])
        md.append(f"- seed {r['seed']}: {diff:+.2f} points; tuning: "
                  f"{r['arms']['tuned'].get('tuning_reason', '')}")
    md += [
        "",
        f"Total wall time {total / 60:.1f} min on {system_info()['cpus']} CPU(s) "
        "(shared machine; times are indicative). Command: "
        f"`nice -n 19 python benchmarks/tuning.py --seeds {' '.join(map(str, args.seeds))}`.",
    ]
    write_results(args.name, payload, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
