"""Epoch economy: one-cycle with automatic bounds at N/4 and N/5 epochs against the usual
step-decay recipe at N epochs (issue 8).

What is measured
----------------
For every model and seed, two pipeline runs (``superconverge.Pipeline``, exactly what
``superconverge run`` does, minus the HTML report):

* ``quarter``: one-cycle for ``N/4`` epochs **and** the baseline for ``N`` epochs, stages
  prepare → range_test → bounds → one_cycle → baseline → evaluate;
* ``fifth`` (one per further ``--fractions`` entry): one-cycle for ``N/5`` epochs, no baseline.

The baseline is the pipeline's: SGD with momentum 0.9, LR 0.1 divided by 10 at 50% and 75% of
its epochs, weight decay 5e-4 (Caffe-style λ, see ``models.build``), batch-norm momentum 0.99.
One-cycle gets its max/min LR from the run's own range test (``auto`` bounds, no human
choice), momentum 0.95 → 0.85, the same weight decay, and the batch-norm momentum the library
recommends for the run's length. Each run does its own range test, as a user would, and its
cost is reported next to the training time.

Every run holds out the same stratified 10% of the training split for validation (per seed);
the per-epoch curves and every choice (bounds) use only the training and validation data. The
test set is touched once per trained model, by the pipeline's ``evaluate`` stage, for the final
numbers.

Reported per (model, schedule): test accuracy mean ± std over seeds (sample std), the paired
accuracy difference to the baseline of the same seed (mean ± std), training wall time (sum of
the epoch times, validation included, checkpoints excluded) and the same plus the range test,
epochs and wall time as ratios to the baseline measured in the same run, and the per-epoch
validation accuracy. ``meets baseline`` = mean one-cycle test accuracy ≥ mean baseline test
accuracy. For the baseline, a plateau check: the validation accuracy gained in the last
quarter of its epochs (after the second LR drop) and in its last two epochs.

Sizing of the defaults (about two hours on this 2-core machine, torch backend)
-------------------------------------------------------------------------------
Measured training throughput with other jobs running: ``simple_cnn`` ≈ 1,900 images/s,
``resnet20`` ≈ 450 images/s; inference assumed 3× faster. Fashion-MNIST has 54,000 training
images after the 10% validation hold-out (6,000). With ``N = 20`` (divisible by 4 and 5; the
step-decay baseline on Fashion-MNIST levels off well before 20 epochs — the plateau check in
the results says whether it did here) each seed trains ``20 + 5 + 4 = 29`` epochs, plus two
range tests (at most one epoch each; 25 validation probes of 4 batches) and three test
evaluations:

* ``simple_cnn`` on all 54,000 images: 29 × 54,000 / 1,900 ≈ 824 s training, ≈ 31 s
  validation, ≤ 60 s range tests, ≈ 5 s test → ≈ 920 s per seed, × 3 seeds ≈ 46 min;
* ``resnet20`` on the first 18,000 images: 29 × 18,000 / 450 ≈ 1,160 s, ≈ 129 s validation,
  ≤ 100 s range tests, ≈ 22 s test → ≈ 1,410 s per seed, × 3 seeds ≈ 71 min.

Total ≈ 117 min. ``--plan`` prints this estimate for any flags without training. The numbers
come from the constants ``THROUGHPUT`` and ``INFERENCE_SPEEDUP`` below.

Resuming: each run is a pipeline run directory ``WORK/MODEL/seedS/{quarter,fifth}``; a killed
benchmark started again with the same flags skips finished runs and resumes an interrupted one
at its last finished epoch. Outputs: ``OUT/epoch_economy.{json,md}`` and (via
``headline.py``) ``OUT/headline.md`` and ``OUT/epoch_economy_accuracy.png``.

    nice -n 19 env KERAS_BACKEND=torch python benchmarks/epoch_economy.py
    python benchmarks/epoch_economy.py --plan
    python benchmarks/epoch_economy.py --dataset synthetic --models simple_cnn --epochs 4 \\
        --fractions 2 4 --seeds 0 1 --out-dir /tmp/ee --work-dir /tmp/ee/work   # toy run
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import (
    RESULTS,
    economy_baselines,
    run_is_finished,
    stats,
    system_info,
    write_results,
)
from headline import batch_suffix, one_cycle_recipe_text

from superconverge.defaults import BASELINE_BATCH_SIZE, BASELINE_WEIGHT_DECAY

HERE = Path(__file__).resolve().parent
NAME = "epoch_economy"
DEFAULT_WORK = HERE.parent / "runs" / NAME
# training images/s measured on this machine (torch backend, CPU, other jobs running)
THROUGHPUT = {"simple_cnn": 1900.0, "resnet20": 450.0, "resnet56": 150.0, "resnet9": 300.0}
INFERENCE_SPEEDUP = 3.0  # forward only ≈ 3× a training step (assumption for the estimate)
DEFAULT_SUBSETS = {"simple_cnn": None, "resnet20": 18000}
RANGE_PROBES = 25  # the pipeline validates every steps // 25 range-test steps ...
RANGE_PROBE_BATCHES = 4  # ... on 4 batches (lr_range_test's validation_batches)
STAGES = ("prepare", "range_test", "bounds", "one_cycle", "baseline", "evaluate")

logger = logging.getLogger(NAME)


# ------------------------------------------------------------------------------ configuration
def parse_subsets(items: list[str] | None, models: list[str]) -> dict[str, int | None]:
    """``["resnet20=18000", "simple_cnn=all"]`` → per-model training subset (None = all)."""
    subsets = {m: DEFAULT_SUBSETS.get(m) for m in models}
    for item in items or []:
        if "=" in item:
            model, value = item.split("=", 1)
            targets = [model]
        else:
            value, targets = item, list(models)
        for model in targets:
            if model not in subsets:
                raise SystemExit(f"--train-subset names {model!r}, not one of --models {models}")
            subsets[model] = None if value.lower() in ("all", "none", "0") else int(value)
    return subsets


def variant_epochs(n: int, fraction: int) -> int:
    epochs = n // fraction
    if epochs < 1 or epochs * fraction != n:
        raise SystemExit(
            f"--epochs {n} is not divisible by {fraction}: choose N so that N/{fraction} is a "
            "whole number of epochs (e.g. 20 for fractions 4 and 5)"
        )
    return epochs


def run_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The pipeline runs: one per (model, seed, fraction); the first fraction carries the
    baseline."""
    plan = []
    for model in args.models:
        for seed in args.seeds:
            for i, fraction in enumerate(args.fractions):
                plan.append({
                    "model": model,
                    "seed": seed,
                    "fraction": fraction,
                    "epochs": variant_epochs(args.epochs, fraction),
                    "baseline_epochs": args.epochs if i == 0 else 0,
                    "dir": Path(args.work_dir) / model / f"seed{seed}" / f"n{fraction}",
                })
    return plan


def run_config(args: argparse.Namespace, item: dict[str, Any]) -> Any:
    """The pipeline configuration of one run. The step-decay baseline trains with
    ``args.batch_size`` and ``args.weight_decay``; the one-cycle run with the pipeline's own
    defaults (``args.one_cycle_recipe == "pipeline"``) or with the baseline's batch size and
    weight decay (``"baseline"``: how the committed ``epoch_economy.json`` and the ablations
    built on it were made), then ``args.overrides`` (``--one-cycle-config``)."""
    from superconverge.pipeline import RunConfig

    config = RunConfig(
        dataset=args.dataset,
        data_path=args.data_path,
        model=item["model"],
        train_subset=args.subsets[item["model"]],
        seed=item["seed"],
        epochs=item["epochs"],
        augment=args.augment,
        range_steps=args.range_steps,
        baseline_epochs=item["baseline_epochs"],
        baseline_lr=args.baseline_lr,
        baseline_batch_size=args.batch_size,
        baseline_weight_decay=args.weight_decay,
        out=str(item["dir"]),
    )
    if args.one_cycle_recipe == "baseline":
        config = config.replace(batch_size=args.batch_size, weight_decay=args.weight_decay)
    elif args.one_cycle_recipe != "pipeline":
        raise ValueError(f"one_cycle_recipe {args.one_cycle_recipe!r}: 'pipeline' or 'baseline'")
    return config.replace(**args.overrides)


def reusable_baselines(args: argparse.Namespace,
                       sizes: tuple[int, int, int]) -> dict[tuple[str, int], dict[str, Any]]:
    """{(model, seed): baseline row} of ``--economy-results`` made with this invocation's
    baseline settings and N (see ``common.economy_baselines``)."""
    out = {}
    for model in args.models:
        n_train = min(args.subsets[model] or sizes[0], sizes[0])
        rows = economy_baselines(args.economy_results, model, {
            "dataset": args.dataset, "train_examples": n_train,
            "validation_examples": sizes[1], "batch_size": args.batch_size,
            "weight_decay": args.weight_decay, "baseline_lr": args.baseline_lr,
            "augment": args.augment,
        })
        for row in rows:
            if int(row["epochs"]) == args.epochs:
                out[(model, int(row["seed"]))] = {
                    **row, "source": f"reused from {args.economy_results}"}
    return out


# ------------------------------------------------------------------------------- estimate
def dataset_sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    """(train after hold-out, validation, test) sizes, read from the data set itself."""
    from superconverge import data

    splits = data.load(args.dataset, path=args.data_path, seed=0)
    return len(splits.train), len(splits.val), len(splits.test)


def estimate_seconds(args: argparse.Namespace, sizes: tuple[int, int, int],
                     plan: list[dict[str, Any]]) -> dict[str, float]:
    """Expected wall time per model of ``plan``'s runs from ``THROUGHPUT`` (see the module
    docstring); a run whose baseline is reused trains only its one-cycle."""
    n_train_all, n_val, n_test = sizes
    out: dict[str, float] = {m: 0.0 for m in args.models}
    for item in plan:
        model = item["model"]
        rate = THROUGHPUT.get(model, 300.0)
        infer = rate * INFERENCE_SPEEDUP
        n_train = min(args.subsets[model] or n_train_all, n_train_all)
        steps = math.ceil(n_train / args.batch_size)
        range_steps = min(args.range_steps or steps, steps)
        epochs = item["epochs"] + item["baseline_epochs"]
        out[model] += (
            epochs * (n_train / rate + n_val / infer)
            + range_steps * args.batch_size / rate
            + RANGE_PROBES * RANGE_PROBE_BATCHES * args.batch_size / infer
            + (2 if item["baseline_epochs"] else 1) * n_test / infer
        )
    out["total"] = sum(out.values())
    return out


# ---------------------------------------------------------------------------------- running
def execute(args: argparse.Namespace, item: dict[str, Any]) -> None:
    from superconverge.pipeline import Pipeline

    pipeline = Pipeline(run_config(args, item), quiet=True)
    stages = [s for s in STAGES if s in pipeline.planned_stages()]
    pipeline.run(stages)


def collect(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished run's rows: its one-cycle and (if any) its baseline."""
    from superconverge.io import read_csv, read_json

    run_dir = item["dir"]
    metrics = read_json(run_dir / "metrics.json")
    state = read_json(run_dir / "state.json")["stages"]
    bounds = read_json(run_dir / "bounds.json")
    data_summary = read_json(run_dir / "data.json")
    range_s = float(state.get("range_test", {}).get("seconds", 0.0)) + float(
        state.get("bounds", {}).get("seconds", 0.0)
    )
    rows = []
    for name in ("one_cycle", "baseline"):
        if name not in metrics:
            continue
        history = read_csv(run_dir / f"{name}_history.csv")
        m = metrics[name]
        row = {
            "model": item["model"],
            "seed": item["seed"],
            "variant": "baseline" if name == "baseline" else f"one_cycle_n{item['fraction']}",
            "epochs": int(m["epochs"]),
            "test_accuracy": float(m["test_accuracy"]),
            "test_loss": float(m["test_loss"]),
            "wall_time": float(m["wall_time"]),
            "range_test_s": range_s if name == "one_cycle" else 0.0,
            "val_accuracy": [float(r["val_accuracy"]) for r in history],
            # running means over the last epoch, in training mode: how well it fits the data
            "final_train_loss": float(history[-1]["loss"]),
            "final_train_accuracy": float(history[-1]["accuracy"]),
            "train_examples": data_summary.get("train"),
            "run_dir": str(run_dir),
        }
        if name == "one_cycle":
            row["bounds"] = {k: bounds.get(k) for k in (
                "max_lr", "min_lr", "method", "confidence", "bn_momentum", "weight_decay",
                "batch_size")}
            if row["bounds"]["batch_size"] is None:  # a run from before bounds.json said it
                row["bounds"]["batch_size"] = read_json(run_dir / "config.json")["batch_size"]
            # the final model's validation accuracy (after the EMA swap and precise BN, where
            # set): what recipe choices are made on; the last epoch's where not recorded
            training = run_dir / "one_cycle_training.json"
            final = (read_json(training).get("final") or {}) if training.exists() else {}
            row["final_steps"] = final
            row["val_accuracy_final"] = float(final.get("val_accuracy", row["val_accuracy"][-1]))
        rows.append(row)
    return rows


# -------------------------------------------------------------------------------- summaries
def summarize(rows: list[dict[str, Any]], models: list[str], variants: list[str],
              shared_machine: bool = False) -> list[dict]:
    """Mean ± std per (model, variant) and ratios to the baseline of the same benchmark run.
    Wall-time ratios only where every baseline was trained by this run on a machine of its
    own (``None``, with the reason in ``untimed_because``, where one was reused from another
    run or the runs shared the machine)."""
    summary = []
    for model in models:
        base = {r["seed"]: r for r in rows if r["model"] == model and r["variant"] == "baseline"}
        base_wall = stats([r["wall_time"] for r in base.values()]) if base else None
        for variant in variants:
            sel = [r for r in rows if r["model"] == model and r["variant"] == variant]
            if not sel:
                continue
            wall = stats([r["wall_time"] for r in sel])
            wall_all = stats([r["wall_time"] + r["range_test_s"] for r in sel])
            entry: dict[str, Any] = {
                "model": model,
                "variant": variant,
                "epochs": sel[0]["epochs"],
                "seeds": sorted(r["seed"] for r in sel),
                "test_accuracy": stats([r["test_accuracy"] for r in sel]),
                "wall_time": wall,
                "wall_time_with_range_test": wall_all,
                "range_test_s": stats([r["range_test_s"] for r in sel]),
                "reused": any(r.get("source") for r in sel),
            }
            batches = {(r.get("bounds") or {}).get("batch_size") for r in sel} - {None}
            if batches:  # one-cycle runs that recorded their batch (the rule may differ)
                entry["batch_sizes"] = sorted(batches)
            if all("final_train_loss" in r for r in sel):
                entry["final_train_loss"] = stats([r["final_train_loss"] for r in sel])
                entry["final_train_accuracy"] = stats([r["final_train_accuracy"] for r in sel])
            if base and variant != "baseline":
                paired = [r["test_accuracy"] - base[r["seed"]]["test_accuracy"]
                          for r in sel if r["seed"] in base]
                base_acc = stats([r["test_accuracy"] for r in base.values()])
                untimed_because = ("baseline reused" if any(r.get("source")
                                                            for r in base.values())
                                   else "shared machine" if shared_machine else None)
                timed_here = untimed_because is None
                entry["vs_baseline"] = {
                    "baseline_epochs": next(iter(base.values()))["epochs"],
                    "epoch_fraction": sel[0]["epochs"] / next(iter(base.values()))["epochs"],
                    "wall_time_fraction": wall["mean"] / base_wall["mean"] if timed_here
                    else None,
                    "wall_time_fraction_with_range_test": wall_all["mean"] / base_wall["mean"]
                    if timed_here else None,
                    "untimed_because": untimed_because,
                    "accuracy_difference": stats(paired) if paired else None,
                    "meets_baseline": entry["test_accuracy"]["mean"] >= base_acc["mean"],
                }
            summary.append(entry)
    return summary


def plateau(rows: list[dict[str, Any]], models: list[str]) -> dict[str, Any]:
    """How much the baseline's validation accuracy still rose at the end (mean over seeds)."""
    out = {}
    for model in models:
        curves = [r["val_accuracy"] for r in rows
                  if r["model"] == model and r["variant"] == "baseline" and r["val_accuracy"]]
        if not curves:
            continue
        n = len(curves[0])
        q = max(0, round(0.75 * n) - 1)  # index of the epoch ending at 75%
        out[model] = {
            "epochs": n,
            "val_accuracy_at_75pct": stats([c[q] for c in curves])["mean"],
            "val_accuracy_final": stats([c[-1] for c in curves])["mean"],
            "gain_last_quarter": stats([c[-1] - c[q] for c in curves])["mean"],
            "gain_last_two_epochs": stats([c[-1] - c[max(0, n - 3)] for c in curves])["mean"],
        }
    return out


def variant_label(variant: str, n: int) -> str:
    if variant == "baseline":
        return f"step decay, N = {n}"
    return f"one-cycle, N/{variant.removeprefix('one_cycle_n')}"


def markdown(payload: dict[str, Any]) -> list[str]:
    s = payload["settings"]
    lines = [
        "# Epoch economy: one-cycle at N/4 and N/5 epochs against step decay at N",
        "",
        f"{s['dataset']}; baseline: batch {s['batch_size']}, weight decay "
        f"{s['weight_decay']}, SGD momentum 0.9, LR {s['baseline_lr']} ÷10 at 50% and 75%, N = "
        f"{s['epochs']}; {one_cycle_recipe_text(s)}; seeds "
        f"{s['seeds']}; training examples per model {s['train_examples']}; backend "
        f"{payload['backend']}; {payload['system']['cpus']} CPUs ({payload['system']['cpu']}). "
        "Test accuracy mean ± sample std over seeds; Δ = paired difference to the same seed's "
        "baseline; wall time = training epochs incl. validation (+ the range test for "
        "one-cycle); fractions are one-cycle / baseline, measured in this run.",
        "",
        "| model | schedule | epochs | test accuracy (%) | Δ vs baseline (pp) | wall time (s) "
        "| + range test (s) | epochs / baseline | time / baseline (incl. range test) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in payload["summary"]:
        acc = e["test_accuracy"]
        vs = e.get("vs_baseline")
        delta = vs and vs["accuracy_difference"]
        lines.append(
            f"| {e['model']} | {variant_label(e['variant'], s['epochs'])}{batch_suffix(e)} | "
            f"{e['epochs']} | {100 * acc['mean']:.2f} ± {100 * acc['std']:.2f} | "
            + (f"{100 * delta['mean']:+.2f} ± {100 * delta['std']:.2f} | " if delta else "— | ")
            + f"{e['wall_time']['mean']:.0f} | {e['range_test_s']['mean']:.0f} | "
            + (f"{vs['epoch_fraction']:.2f} | {_time_ratio(vs)} |" if vs else "1 | 1 |")
        )
    fit = [e for e in payload["summary"] if "final_train_loss" in e]
    if fit:
        lines += ["", "How well each schedule fits the training data (last epoch, running mean in "
                  "training mode, mean over seeds); a schedule whose training loss stays well "
                  "above the baseline's underfits.", "",
                  "| model | schedule | training loss | training accuracy (%) |",
                  "|---|---|---|---|"]
        for e in fit:
            lines.append(f"| {e['model']} | {variant_label(e['variant'], s['epochs'])} | "
                         f"{e['final_train_loss']['mean']:.3f} | "
                         f"{100 * e['final_train_accuracy']['mean']:.2f} |")
    if payload.get("plateau"):
        lines += ["", "Baseline plateau check (validation accuracy, mean over seeds):", "",
                  "| model | at 75% of N | at N | gain in last quarter (pp) | gain in last 2 "
                  "epochs (pp) |", "|---|---|---|---|---|"]
        for model, p in payload["plateau"].items():
            lines.append(
                f"| {model} | {100 * p['val_accuracy_at_75pct']:.2f} | "
                f"{100 * p['val_accuracy_final']:.2f} | {100 * p['gain_last_quarter']:+.2f} | "
                f"{100 * p['gain_last_two_epochs']:+.2f} |"
            )
    lines += ["", f"Wall time of this invocation {payload['elapsed_s']:.0f} s (runs finished by an "
              f"earlier, interrupted invocation are read, not rerun); estimate for the whole "
              f"benchmark {payload['estimate_s']['total']:.0f} s."]
    return lines


def _time_ratio(vs: dict[str, Any]) -> str:
    if vs["wall_time_fraction"] is None:
        return f"— ({vs.get('untimed_because') or 'baseline reused'})"
    return f"{vs['wall_time_fraction']:.2f} ({vs['wall_time_fraction_with_range_test']:.2f})"


def write_outputs(out_dir: Path, payload: dict[str, Any], lines: list[str]) -> None:
    write_results(NAME, payload, lines, out_dir=out_dir)


# -------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-path", default=None)
    p.add_argument("--models", nargs="+", default=["simple_cnn", "resnet20"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=20, help="N: the baseline's epochs")
    p.add_argument("--fractions", nargs="+", type=int, default=[4, 5],
                   help="one-cycle runs for N/k epochs for each k")
    p.add_argument("--train-subset", nargs="*", metavar="MODEL=N",
                   help="training examples per model ('all' for every one); default "
                        "resnet20=18000, others all")
    p.add_argument("--batch-size", type=int, default=BASELINE_BATCH_SIZE,
                   help="the baseline's batch size (and one-cycle's with "
                        "--one-cycle-recipe baseline)")
    p.add_argument("--weight-decay", type=float, default=BASELINE_WEIGHT_DECAY,
                   help="the baseline's weight decay (and one-cycle's with "
                        "--one-cycle-recipe baseline)")
    p.add_argument("--one-cycle-recipe", choices=("pipeline", "baseline"), default="pipeline",
                   help="one-cycle trains with the pipeline's defaults (default) or with the "
                        "baseline's batch size and weight decay (the committed "
                        "epoch_economy.json)")
    p.add_argument("--one-cycle-config", default=None, metavar="KEY=VALUE,...",
                   help="one-cycle fields changed on top of that recipe "
                        "(recipe_ablation.py's variant syntax)")
    p.add_argument("--economy-results", default=None, metavar="JSON",
                   help="an earlier epoch_economy.json whose baselines (same seeds, N and "
                        "baseline settings) are reused instead of trained again")
    p.add_argument("--baseline-lr", type=float, default=0.1)
    p.add_argument("--range-steps", type=int, default=None,
                   help="range-test steps (default: one epoch, the pipeline's default)")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--work-dir", default=str(DEFAULT_WORK),
                   help="pipeline run directories (checkpoints, models); resumable")
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--shared-machine", action="store_true",
                   help="the runs share the machine (accuracy only): no wall-time ratios")
    p.add_argument("--plan", action="store_true", help="print the runs and the time estimate")
    p.add_argument("--no-headline", action="store_true",
                   help="do not regenerate headline.md and the plot in --out-dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args.subsets = parse_subsets(args.train_subset, args.models)
    if sorted(set(args.fractions)) != sorted(args.fractions) or min(args.fractions) < 2:
        raise SystemExit("--fractions must be distinct whole numbers >= 2")
    try:
        from recipe_ablation import parse_variant

        args.overrides = parse_variant(args.one_cycle_config) if args.one_cycle_config else {}
    except argparse.ArgumentTypeError as error:
        raise SystemExit(f"--one-cycle-config: {error}") from None
    plan = run_plan(args)
    sizes = dataset_sizes(args)
    reused = reusable_baselines(args, sizes)
    for item in plan:
        row = reused.get((item["model"], item["seed"])) if item["baseline_epochs"] else None
        if row is not None:
            item["baseline_epochs"], item["reused_baseline"] = 0, row
    estimate = estimate_seconds(args, sizes, plan)
    logger.info("%d pipeline runs (%d baselines reused); estimated %.0f s (%s)", len(plan),
                len(reused), estimate["total"],
                ", ".join(f"{k} {v:.0f} s" for k, v in estimate.items() if k != "total"))
    if args.plan:
        for item in plan:
            print(f"{item['model']} seed {item['seed']}: one-cycle {item['epochs']} epochs"
                  + (f" + baseline {item['baseline_epochs']}" if item["baseline_epochs"] else "")
                  + (" (baseline reused)" if item.get("reused_baseline") else "")
                  + f" -> {item['dir']}")
        print(f"estimated wall time: {estimate['total'] / 60:.0f} min")
        return 0

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(plan, 1):
        label = f"[{index}/{len(plan)}] {item['model']} seed {item['seed']} n{item['fraction']}"
        if run_is_finished(item["dir"]):
            logger.info("%s: finished earlier, reading %s", label, item["dir"])
        else:
            logger.info("%s: running in %s", label, item["dir"])
            t0 = time.perf_counter()
            execute(args, item)
            logger.info("%s: done in %.0f s", label, time.perf_counter() - t0)
        rows.extend(collect(item))
        if item.get("reused_baseline"):
            rows.append(item["reused_baseline"])

    import keras

    variants = ["baseline"] + [f"one_cycle_n{f}" for f in args.fractions]
    one_cycle = run_config(args, plan[0])
    train_examples = {m: next((r["train_examples"] for r in rows if r["model"] == m), None)
                      for m in args.models}
    payload = {
        "benchmark": NAME,
        "system": system_info(),
        "backend": keras.backend.backend(),
        "versions": {"keras": keras.__version__},
        "settings": {
            "dataset": args.dataset, "models": args.models, "seeds": args.seeds,
            "epochs": args.epochs, "fractions": args.fractions, "batch_size": args.batch_size,
            "one_cycle_recipe": args.one_cycle_recipe,
            "one_cycle_config": {k: list(v) if isinstance(v, tuple) else v
                                 for k, v in args.overrides.items()},
            "one_cycle_batch_size": one_cycle.batch_size,
            "one_cycle_weight_decay": one_cycle.weight_decay,
            "economy_results": args.economy_results,
            "shared_machine": args.shared_machine,
            "train_subset": args.subsets, "train_examples": train_examples,
            "validation_examples": sizes[1], "test_examples": sizes[2],
            "weight_decay": args.weight_decay, "baseline_lr": args.baseline_lr,
            "baseline_momentum": 0.9, "augment": args.augment, "range_steps": args.range_steps,
        },
        "estimate_s": estimate,
        "elapsed_s": time.perf_counter() - started,
        "summary": summarize(rows, args.models, variants, args.shared_machine),
        "plateau": plateau(rows, args.models),
        "runs": rows,
    }
    out_dir = Path(args.out_dir)
    write_outputs(out_dir, payload, markdown(payload))
    logger.info("wrote %s", out_dir / f"{NAME}.json")
    if not args.no_headline:
        import headline

        headline.main(["--results-dir", str(out_dir), "--out-dir", str(out_dir)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
