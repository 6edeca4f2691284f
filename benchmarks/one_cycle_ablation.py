"""What closes one-cycle's gap at N/5 epochs? Ablations of its settings (issue 8, follow-up).

``epoch_economy.py`` runs one-cycle exactly as the pipeline does by default: bounds from the
run's own range test (``auto``), the baseline's weight decay (5e-4), batch-norm momentum from
the run length. This script trains the same one-cycle runs (same pipeline, data, seeds and
epochs) with one or more settings changed, and compares them with the epoch-economy runs of
the same seeds. A variant is ``key=value[,key=value…]`` over ``RunConfig`` fields, e.g.

* ``weight_decay=1e-4``: Smith & Topin (2017) and Smith (2018) note that large learning rates
  regularise by themselves, so super-convergence wants *less* of the other regularisation;
* ``max_lr=0.3``: a fixed max LR instead of the range test's (no range test is run), to see
  whether the automatic bound is what holds a model back.

Reported per variant: test accuracy (mean ± sample std over seeds), the paired difference to
the same seed's step-decay baseline (from ``epoch_economy.json``), and the last epoch's
training loss and accuracy (running mean, training mode): whether the run still underfits.

One run per (variant, seed) in ``WORK/MODEL/<variant>/seed<s>`` (a pipeline run directory:
resumable; finished runs are read, not rerun). Writes ``OUT/NAME.{json,md}`` (``--name``).

    nice -n 19 env KERAS_BACKEND=torch python benchmarks/one_cycle_ablation.py \
        --model simple_cnn --variants weight_decay=1e-4 weight_decay=0
    python benchmarks/one_cycle_ablation.py --model resnet20 --variants max_lr=0.3 \
        --name one_cycle_ablation_resnet20
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import epoch_economy as ee  # noqa: E402
from common import RESULTS, stats, system_info, write_results  # noqa: E402

NAME = "one_cycle_ablation"
#: RunConfig fields a variant may change, with their parsers
VARIANT_FIELDS = {"weight_decay": float, "max_lr": float, "bn_momentum": float,
                  "min_lr_ratio": float}
logger = logging.getLogger(NAME)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="simple_cnn")
    p.add_argument("--seeds", nargs="+", type=int, default=None,
                   help="default: the epoch-economy run's seeds")
    p.add_argument("--fraction", type=int, default=5,
                   help="one-cycle for N/k epochs; N comes from the epoch-economy results")
    p.add_argument("--variants", nargs="+", type=parse_variant, default=[{"weight_decay": 1e-4}],
                   help="key=value[,key=value] over " + ", ".join(VARIANT_FIELDS))
    p.add_argument("--name", default=NAME, help="output file name (without extension)")
    p.add_argument("--economy-results", type=Path, default=RESULTS / "epoch_economy.json",
                   help="epoch_economy.json with the baseline and the default weight decay")
    p.add_argument("--work-dir", type=Path, default=HERE.parent / "runs" / NAME)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    return p


def parse_variant(text: str) -> dict[str, float]:
    """``"weight_decay=1e-4,max_lr=0.3"`` → ``{"weight_decay": 1e-4, "max_lr": 0.3}``."""
    from recipe_ablation import parse_variant as parse

    return parse(text, VARIANT_FIELDS)


def variant_label(variant: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in variant.items())


def economy_rows(payload: dict[str, Any], model: str, variant: str,
                 seeds: list[int]) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in payload["runs"]
            if r["model"] == model and r["variant"] == variant and r["seed"] in seeds}


def summary_entry(variant: str, rows: list[dict[str, Any]],
                  baseline: dict[int, dict[str, Any]], source: str) -> dict[str, Any]:
    """Mean ± std over seeds and the paired difference to the same seed's baseline."""
    paired = [r["test_accuracy"] - baseline[r["seed"]]["test_accuracy"]
              for r in rows if r["seed"] in baseline]
    return {
        "variant": variant,
        "source": source,
        "seeds": sorted(r["seed"] for r in rows),
        "test_accuracy": stats([r["test_accuracy"] for r in rows]),
        "accuracy_difference_vs_baseline": stats(paired) if len(paired) > 1 else None,
        "final_train_loss": stats([r["final_train_loss"] for r in rows]),
        "final_train_accuracy": stats([r["final_train_accuracy"] for r in rows]),
        "max_lr": stats([r["bounds"]["max_lr"] for r in rows]),
        "wall_time": stats([r["wall_time"] for r in rows]),
    }


def markdown(payload: dict[str, Any]) -> list[str]:
    s = payload["settings"]
    base = payload["baseline"]
    lines = [
        f"# One-cycle at N/{s['fraction']}: what changes its gap to the baseline",
        "",
        f"{s['dataset']}, `{s['model']}`, one-cycle for {s['epochs']} epochs (N/{s['fraction']} "
        f"of the baseline's {s['baseline_epochs']}); seeds {s['seeds']}; backend "
        f"{payload['backend']}. The `default` row (bounds from each run's own range test by "
        f"`auto`, weight decay {s['economy_weight_decay']:g}) and the baseline are the "
        "epoch-economy runs of the same seeds; every other row changes only what its name says. "
        "Test accuracy mean ± sample std; Δ = paired difference to the same seed's baseline; "
        "training loss/accuracy = last epoch, running mean in training mode.",
        "",
        "| schedule | variant | test accuracy (%) | Δ vs baseline (pp) | training loss "
        "| training accuracy (%) | max LR | wall time (s) |",
        "|---|---|---|---|---|---|---|---|",
        f"| step decay, {s['baseline_epochs']} epochs | — | "
        f"{100 * base['test_accuracy']['mean']:.2f} ± {100 * base['test_accuracy']['std']:.2f} "
        f"| — | {base['final_train_loss']['mean']:.3f} | "
        f"{100 * base['final_train_accuracy']['mean']:.2f} | — | "
        f"{base['wall_time']['mean']:.0f} |",
    ]
    for e in payload["summary"]:
        d = e["accuracy_difference_vs_baseline"]
        lines.append(
            f"| one-cycle, {s['epochs']} epochs | {e['variant']} | "
            f"{100 * e['test_accuracy']['mean']:.2f} ± {100 * e['test_accuracy']['std']:.2f} | "
            + (f"{100 * d['mean']:+.2f} ± {100 * d['std']:.2f}" if d else "—")
            + f" | {e['final_train_loss']['mean']:.3f} | "
            f"{100 * e['final_train_accuracy']['mean']:.2f} | {e['max_lr']['mean']:.3g} | "
            f"{e['wall_time']['mean']:.0f} |"
        )
    lines += ["", f"Wall time of this invocation {payload['elapsed_s']:.0f} s. Command: "
              f"`{payload['command']}`."]
    return lines


def execute(base_args: argparse.Namespace, item: dict[str, Any], changes: dict[str, float]) -> None:
    """One pipeline run: the epoch-economy configuration of ``item`` with ``changes``."""
    from superconverge.pipeline import Pipeline

    config = ee.run_config(base_args, item).replace(**changes)
    pipeline = Pipeline(config, quiet=True)
    pipeline.run([s for s in ee.STAGES if s in pipeline.planned_stages()])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from superconverge.io import read_json

    if not args.economy_results.exists():
        raise SystemExit(f"{args.economy_results} not found: run benchmarks/epoch_economy.py "
                         "first (this script compares with its baseline)")
    economy = read_json(args.economy_results)
    es = economy["settings"]
    if args.model not in es["models"] or args.fraction not in es["fractions"]:
        raise SystemExit(f"{args.economy_results} has no {args.model} at N/{args.fraction}")
    args.seeds = args.seeds or list(es["seeds"])
    baseline = economy_rows(economy, args.model, "baseline", args.seeds)
    default = economy_rows(economy, args.model, f"one_cycle_n{args.fraction}", args.seeds)
    missing = sorted(set(args.seeds) - (baseline.keys() & default.keys()))
    if missing:
        raise SystemExit(f"the epoch-economy results have no runs for seeds {missing}; "
                         f"choose --seeds among {sorted(baseline.keys() & default.keys())}")
    if any("final_train_loss" not in r for r in [*baseline.values(), *default.values()]):
        raise SystemExit("epoch_economy.json predates the training-loss columns: run "
                         "benchmarks/epoch_economy.py again with its flags (it only re-reads "
                         "finished runs)")
    epochs = ee.variant_epochs(es["epochs"], args.fraction)
    base_args = argparse.Namespace(
        dataset=es["dataset"], data_path=None,
        subsets={args.model: es["train_subset"].get(args.model)},
        batch_size=es["batch_size"], augment=es["augment"], range_steps=es["range_steps"],
        baseline_lr=es["baseline_lr"], weight_decay=es["weight_decay"],
        # the recipe the economy runs were made with (a variant changes it key by key)
        one_cycle_recipe=es.get("one_cycle_recipe", "baseline"), overrides={},
    )

    started = time.perf_counter()
    summary = [summary_entry("default", list(default.values()), baseline, "epoch_economy")]
    runs: list[dict[str, Any]] = []
    for changes in args.variants:
        label = variant_label(changes)
        rows = []
        for seed in args.seeds:
            item = {"model": args.model, "seed": seed, "fraction": args.fraction,
                    "epochs": epochs, "baseline_epochs": 0,
                    "dir": args.work_dir / args.model / label / f"seed{seed}"}
            what = f"{args.model} {label} seed {seed}"
            if ee.run_is_finished(item["dir"]):
                logger.info("%s: finished earlier, reading %s", what, item["dir"])
            else:
                logger.info("%s: running in %s", what, item["dir"])
                execute(base_args, item, changes)
            (row,) = ee.collect(item)
            rows.append({**row, "variant": label})
        runs += rows
        summary.append(summary_entry(label, rows, baseline, args.name))

    import keras

    base_rows = list(baseline.values())
    payload = {
        "benchmark": args.name,
        "system": system_info(),
        "backend": keras.backend.backend(),
        "command": "python benchmarks/one_cycle_ablation.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "settings": {"dataset": es["dataset"], "model": args.model, "seeds": args.seeds,
                     "fraction": args.fraction, "epochs": epochs,
                     "baseline_epochs": es["epochs"], "economy_weight_decay": es["weight_decay"],
                     "variants": [variant_label(v) for v in args.variants],
                     "economy_results": os.path.relpath(args.economy_results, HERE.parent)},
        "baseline": {
            "test_accuracy": stats([r["test_accuracy"] for r in base_rows]),
            "final_train_loss": stats([r["final_train_loss"] for r in base_rows]),
            "final_train_accuracy": stats([r["final_train_accuracy"] for r in base_rows]),
            "wall_time": stats([r["wall_time"] for r in base_rows]),
        },
        "summary": summary,
        "runs": runs,
        "elapsed_s": time.perf_counter() - started,
    }
    write_results(args.name, payload, markdown(payload), args.out_dir)
    print("\n".join(markdown(payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
