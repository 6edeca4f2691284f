"""Which short run predicts the final run's ranking of weight decay × BN momentum? (issue 17)

The tuning procedure judges candidate regularisation values by short runs. This benchmark
measures how well a short run's ranking of a weight-decay × batch-norm-momentum grid agrees
with the ranking the *final* one-cycle runs give the same grid, and what picking by it would
cost or gain.

* **Final runs**: the default pipeline (``prepare → range_test → bounds → one_cycle``; its own
  range test, exactly what ``superconverge run`` trains) for ``--epochs`` epochs on
  ``--train-subset`` images, once per grid cell and seed, plus the untuned default cell
  (``weight_decay`` and ``bn_momentum`` left at their defaults). Judged by the final
  validation accuracy (after precise BN). The test split is never touched.
* **Short runs** (``--signals SUBSETxEPOCHS``): the same recipe on the first ``SUBSET``
  training images for ``EPOCHS`` epochs, one-cycle compressed to that length, at the max LR
  the seed's default final run picked (no range test per candidate), same validation split
  (``data.load`` holds it out before taking the subset). Judged by final validation accuracy
  and validation loss.

With precise BN (the pipeline's default) the BN-momentum axis is flat: BN momentum only sets
how the moving statistics follow the batches, training uses batch statistics, and precise BN
recomputes the statistics of the final model, so runs that differ only in BN momentum end
identical (the tune stage does not search it either). The default grid is therefore weight
decay alone at one BN momentum; ``--bn-momenta`` widens it for runs without precise BN.

Reported per signal: Spearman's rank correlation with the final validation accuracy over the
grid (per seed, then mean), the *pick regret* (best final cell − final accuracy of the cell
the signal ranks first, pp) and the *gain over the default* (final accuracy of that cell −
the default cell's, pp), and the cost of one grid evaluation in final-run epochs
(``SUBSET·EPOCHS / (train_subset·epochs)`` per cell). Resumable: a finished run directory is
read back, not retrained. Accuracy only: it may share the machine.

    python benchmarks/tuning_signal.py --seeds 0 1 [--train-subset 10000] [--epochs 4]
        [--weight-decays 1e-5 3e-5 1e-4 3e-4 1e-3] [--signals 2500x1 2500x2 5000x1]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULTS,
    exclusive,
    merge_runs,
    run_is_finished,
    spearman,
    stats,
    system_info,
    write_results,
)

NAME = "tuning_signal"
STAGES = ["prepare", "range_test", "bounds", "one_cycle"]
SHORT_STAGES = ["prepare", "bounds", "one_cycle"]  # max_lr given: no range test


def _signal(text: str) -> tuple[int, int]:
    subset, sep, epochs = text.partition("x")
    if not sep or int(subset) < 1 or int(epochs) < 1:
        raise argparse.ArgumentTypeError(f"a signal is SUBSETxEPOCHS like 5000x1, got {text!r}")
    return int(subset), int(epochs)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--model", default="simple_cnn")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--train-subset", type=int, default=10_000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--weight-decays", nargs="+", type=float,
                   default=[1e-5, 3e-5, 1e-4, 3e-4, 1e-3])
    p.add_argument("--bn-momenta", nargs="+", type=float, default=[0.99])
    p.add_argument("--signals", nargs="*", type=_signal,
                   default=[(2500, 1), (2500, 2), (5000, 1)])
    p.add_argument("--arms", action="store_true",
                   help="also `run --tune` per seed, and test accuracy (touched once per final "
                   "model) of the default, the tuned run and the oracle cell")
    p.add_argument("--rebuild", action="store_true",
                   help="train nothing: recompute the analysis and the Markdown of the "
                   "existing OUT/NAME.json from its runs (after a change to the analysis)")
    p.add_argument("--name", default=NAME)
    p.add_argument("--work-dir", type=Path, default=HERE.parent / "runs" / NAME)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    return p


def _run(run_dir: Path, stages: list[str], **config: Any) -> dict[str, Any]:
    """One pipeline run (or its finished directory read back): final val accuracy and loss;
    with ``evaluate`` among the stages also the test accuracy (and, with ``tune``, what the
    tuning chose and cost)."""
    from superconverge.io import read_json
    from superconverge.pipeline import Pipeline, RunConfig

    last = stages[-1]
    if not run_is_finished(run_dir, last):
        Pipeline(RunConfig(baseline_epochs=0, out=str(run_dir), **config), quiet=True).run(stages)
    training = read_json(run_dir / "one_cycle_training.json")
    final = training.get("final") or {}
    bounds = read_json(run_dir / "bounds.json")
    row = {"val_accuracy": float(final["val_accuracy"]), "val_loss": float(final["val_loss"]),
           "val_data_loss": float(final["val_loss"]) - _penalty(run_dir),
           "max_lr": float(bounds["max_lr"]), "bn_momentum": float(bounds["bn_momentum"]),
           "weight_decay": float(bounds["weight_decay"]),
           "train_seconds": float(training.get("wall_time", 0.0))}
    if last == "evaluate":
        row["test_accuracy"] = float(read_json(run_dir / "metrics.json")["one_cycle"]
                                     ["test_accuracy"])
    if (run_dir / "tuning.json").exists():
        tuning = read_json(run_dir / "tuning.json")
        row.update({"tuning_cost_final_runs": tuning.get("cost_final_runs"),
                    "tuning_seconds": tuning.get("wall_time"),
                    "tuning_reason": tuning.get("reason")})
    return row


def _penalty(run_dir: Path) -> float:
    """The L2 term Keras added to the run's final validation loss, from its saved model."""
    import keras

    from superconverge.tuning.trial import weight_penalty

    model = keras.saving.load_model(run_dir / "models" / "one_cycle.keras", compile=False)
    return weight_penalty(model)


def _label(wd: float | None, bn: float | None) -> str:
    return "default" if wd is None else f"wd{wd:g}-bn{bn:g}"


def run_seed(seed: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    base = {"dataset": args.dataset, "model": args.model, "seed": seed}
    root = (args.work_dir / f"{args.model}-{args.train_subset or 'full'}x{args.epochs}"
            / f"seed{seed}")
    rows = []
    stages = [*STAGES, "evaluate"] if args.arms else STAGES
    subset = args.train_subset or None  # 0: the whole training split
    default = _run(root / "final" / "default", stages, train_subset=subset,
                   epochs=args.epochs, **base)
    rows.append({"kind": "final", "seed": seed, "cell": "default", **default})
    if args.arms:
        tuned = _run(root / "tuned", ["prepare", "tune", *stages[1:]], train_subset=subset,
                     epochs=args.epochs, tune=True, **base)
        rows.append({"kind": "tuned", "seed": seed, "cell": "tuned", **tuned})
        print(f"seed {seed} tuned: weight decay {tuned['weight_decay']:g}, val "
              f"{100 * tuned['val_accuracy']:.2f}", flush=True)
    grid = list(itertools.product(args.weight_decays, args.bn_momenta))
    for wd, bn in grid:
        row = _run(root / "final" / _label(wd, bn), stages, train_subset=subset,
                   epochs=args.epochs, weight_decay=wd, bn_momentum=bn, **base)
        rows.append({"kind": "final", "seed": seed, "cell": _label(wd, bn), **row})
        print(f"seed {seed} final {_label(wd, bn)}: val {100 * row['val_accuracy']:.2f}",
              flush=True)
    for subset, epochs in args.signals:
        signal = f"{subset}x{epochs}"
        for wd, bn in grid:
            row = _run(root / signal / _label(wd, bn), SHORT_STAGES, train_subset=subset,
                       epochs=epochs, weight_decay=wd, bn_momentum=bn,
                       max_lr=default["max_lr"], **base)
            rows.append({"kind": signal, "seed": seed, "cell": _label(wd, bn), **row})
        print(f"seed {seed} signal {signal} done", flush=True)
    return rows


def analyse(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    final = {(r["seed"], r["cell"]): r for r in runs if r["kind"] == "final"}
    seeds = sorted({r["seed"] for r in runs if (r["seed"], "default") in final})
    kinds = sorted({r["kind"] for r in runs if r["kind"] not in ("final", "tuned")},
                   key=_signal)
    out: dict[str, Any] = {}
    for kind in kinds:
        per_seed = {}
        for seed in seeds:
            short = {r["cell"]: r for r in runs if r["kind"] == kind and r["seed"] == seed}
            cells = [c for c in short if (seed, c) in final]
            if len(cells) < 3:
                continue
            target = [final[(seed, c)]["val_accuracy"] for c in cells]
            best_final = max(target)
            default = final[(seed, "default")]
            picks = {
                "accuracy": max(cells, key=lambda c: short[c]["val_accuracy"]),
                "loss": min(cells, key=lambda c: short[c]["val_loss"]),
                "data_loss": min(cells, key=lambda c: short[c]["val_data_loss"]),
                "tolerant": _tolerant_pick(cells, short, final, seed, default),
            }
            per_seed[seed] = {
                "cells": len(cells),
                "rho_accuracy": spearman([short[c]["val_accuracy"] for c in cells], target),
                "rho_loss": spearman([-short[c]["val_loss"] for c in cells], target),
                "rho_data_loss": spearman([-short[c]["val_data_loss"] for c in cells], target),
                **{f"pick_by_{k}": c for k, c in picks.items()},
                **{f"regret_{k}": best_final - final[(seed, c)]["val_accuracy"]
                   for k, c in picks.items()},
                **{f"gain_{k}": final[(seed, c)]["val_accuracy"] - default["val_accuracy"]
                   for k, c in picks.items()},
            }
        if not per_seed:
            continue
        subset, epochs = _signal(kind)
        out[kind] = {
            "per_seed": per_seed,
            "cost_final_epochs_per_cell": subset * epochs / (args.train_subset * args.epochs),
            **{key: stats([p[key] for p in per_seed.values()])
               for key in (*(f"rho_{k}" for k in SIGNAL_KEYS[:3]),
                           *(f"{what}_{k}" for what in ("regret", "gain") for k in SIGNAL_KEYS))},
        }
    oracle = {}
    for seed in seeds:
        # the default's values are a cell of the grid in hindsight too
        cells = {c: r for (s, c), r in final.items() if s == seed}
        if cells:
            best = max(cells, key=lambda c: cells[c]["val_accuracy"])
            oracle[seed] = {"cell": best, "gain": cells[best]["val_accuracy"]
                            - final[(seed, "default")]["val_accuracy"]}
    # the criterion itself, on the final runs: does their own validation loss rank the cells
    # like their accuracy? (Keras's loss holds the L2 term; the data loss does not)
    criterion = {}
    for seed in seeds:
        # every final cell of the seed (the default's included), with or without short runs
        cells = sorted(c for (s, c) in final if s == seed)
        if len(cells) < 2:
            continue
        target = [final[(seed, c)]["val_accuracy"] for c in cells]
        criterion[seed] = {
            "rho_loss": spearman([-final[(seed, c)]["val_loss"] for c in cells], target),
            "rho_data_loss": spearman([-final[(seed, c)]["val_data_loss"] for c in cells], target)}
    return {"signals": out, "oracle": oracle, "seeds": seeds, "final_criterion": criterion,
            "arms": _arms(runs, final, oracle),
            "successive_halving": _successive_halving_arm(runs, final, seeds, kinds, args)}


#: successive halving's reduction factor: each rung keeps the best 1/ETA of the candidates
SH_ETA = 2


def successive_halving(scores_by_rung: list[dict[str, float]],
                       eta: int = SH_ETA) -> list[list[str]]:
    """Successive halving (Jamieson & Talwalkar 2016) over stored evaluations, lower score =
    better: rung 0 scores every candidate; rung ``k + 1`` scores only the best
    ``⌈n_k / eta⌉`` of rung ``k``'s ``n_k``. Returns the candidates each rung evaluated; the
    winner is the best of the last rung's. ``scores_by_rung[k]`` must hold every candidate
    rung ``k`` needs (``KeyError`` otherwise)."""
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")
    alive = list(scores_by_rung[0])
    evaluated = []
    for k, scores in enumerate(scores_by_rung):
        ranked = sorted(alive, key=lambda c: scores[c])
        evaluated.append(ranked)
        if k + 1 < len(scores_by_rung):
            alive = ranked[:max(1, -(-len(ranked) // eta))]
    return evaluated


def _successive_halving_arm(runs: list[dict[str, Any]], final: dict[Any, Any],
                            seeds: list[int], kinds: list[str],
                            args: argparse.Namespace) -> dict[str, Any]:
    """Successive halving over the weight-decay grid, simulated on the stored short runs: rung
    ``k`` is the ``k``-th cheapest signal that trains on more images than the rung before
    (e.g. 2500×1 for every cell, then 5000×1 for the best half, judged by validation data
    loss like the tuner); the winner's final run is the arm's model. Its cost counts every
    rung's short runs in final-run epochs, as the tuner's would."""
    rungs: list[str] = []
    for kind in kinds:  # cheapest first
        if not rungs or _signal(kind)[0] > _signal(rungs[-1])[0]:
            rungs.append(kind)
    if len(rungs) < 2:
        return {}
    per_seed = {}
    for seed in seeds:
        short = {kind: {r["cell"]: r["val_data_loss"] for r in runs
                        if r["kind"] == kind and r["seed"] == seed and (seed, r["cell"]) in final}
                 for kind in rungs}
        if any(len(short[k]) < 2 for k in rungs) or set(short[rungs[0]]) - set(short[rungs[-1]]):
            continue
        evaluated = successive_halving([short[k] for k in rungs])
        pick = evaluated[-1][0]
        cost = sum(len(cells) * math.prod(_signal(k))
                   for cells, k in zip(evaluated, rungs, strict=True))
        n_train = args.train_subset or final[(seed, "default")].get("train_examples") or 0
        default, chosen = final[(seed, "default")], final[(seed, pick)]
        per_seed[seed] = {
            "pick": pick, "rung_sizes": [len(e) for e in evaluated],
            "cost_final_runs": cost / (n_train * args.epochs) if n_train else None,
            **{f"{split}_gain": (chosen.get(f"{split}_accuracy") - default[f"{split}_accuracy"]
                                 if chosen.get(f"{split}_accuracy") is not None
                                 and default.get(f"{split}_accuracy") is not None else None)
               for split in ("val", "test")},
        }
    if not per_seed:
        return {}
    out: dict[str, Any] = {"rungs": rungs, "eta": SH_ETA, "per_seed": per_seed}
    for key in ("val_gain", "test_gain", "cost_final_runs"):
        values = [p[key] for p in per_seed.values() if p[key] is not None]
        if values:
            out[key] = stats(values)
    return out


def _arms(runs: list[dict[str, Any]], final: dict[Any, Any],
          oracle: dict[int, Any]) -> dict[str, Any]:
    """Default, `run --tune` and the oracle cell per seed (test where evaluated), paired
    differences against the default, and the tuning's cost."""
    tuned = {r["seed"]: r for r in runs if r["kind"] == "tuned"}
    per_seed = {}
    for seed, t in sorted(tuned.items()):
        default = final.get((seed, "default"))
        if default is None or seed not in oracle:
            continue
        best = final[(seed, oracle[seed]["cell"])]
        arms = {"default": default, "tuned": t, "oracle": best}
        per_seed[seed] = {
            **{f"{k}_{m}": v.get(m) for k, v in arms.items()
               for m in ("val_accuracy", "test_accuracy", "weight_decay")},
            "oracle_cell": oracle[seed]["cell"],
            "tuning_cost_final_runs": t.get("tuning_cost_final_runs"),
            "tuning_seconds": t.get("tuning_seconds"),
            "default_train_seconds": default.get("train_seconds"),
        }
    if not per_seed:
        return {}
    summary: dict[str, Any] = {"per_seed": per_seed}
    for arm in ("tuned", "oracle"):
        for split in ("val", "test"):
            diffs = [p[f"{arm}_{split}_accuracy"] - p[f"default_{split}_accuracy"]
                     for p in per_seed.values()
                     if p[f"{arm}_{split}_accuracy"] is not None
                     and p[f"default_{split}_accuracy"] is not None]
            if diffs:
                summary[f"{arm}_minus_default_{split}"] = stats(diffs)
    costs = [p["tuning_cost_final_runs"] for p in per_seed.values()
             if p["tuning_cost_final_runs"] is not None]
    if costs:
        summary["tuning_cost_final_runs"] = stats(costs)
    return summary


#: how a signal picks a cell: best short-run accuracy, lowest Keras val_loss (L2 term
#: included), lowest data loss, and the tuner's rule (the default's weight decay unless the
#: lowest data loss is more than WD_TOLERANCE below its own)
SIGNAL_KEYS = ("accuracy", "loss", "data_loss", "tolerant")


def _tolerant_pick(cells: list[str], short: dict[str, Any], final: dict[Any, Any], seed: int,
                   default: dict[str, Any]) -> str:
    from superconverge.tuning.procedure import WD_TOLERANCE

    best = min(cells, key=lambda c: short[c]["val_data_loss"])
    prior = [c for c in cells if abs(final[(seed, c)]["weight_decay"]
                                     - default["weight_decay"]) < 1e-12]
    if not prior:
        return best
    prior_loss = short[prior[0]]["val_data_loss"]
    return best if short[best]["val_data_loss"] < (1 - WD_TOLERANCE) * prior_loss else prior[0]


def markdown(payload: dict[str, Any]) -> list[str]:
    s, a = payload["settings"], payload["analysis"]
    final = [r for r in payload["runs"] if r["kind"] == "final"]
    grid = [c for c in dict.fromkeys(r["cell"] for r in final) if c != "default"]
    lines = [
        "# Short runs as a tuning signal: do they rank weight decay × BN momentum like the "
        "final run?",
        "",
        f"`{s['model']}` on {s['dataset']} ({s['train_subset'] or 'all'} training images, the "
        "usual "
        f"validation hold-out), final runs of the default pipeline for {s['epochs']} epochs "
        "(each with its own range test), the grid of weight decay × BN momentum plus the "
        "untuned default cell; short runs of the same recipe on a subset for a few epochs at "
        "the max LR of the seed's default run, same validation split. Validation accuracy "
        "after precise BN; test split "
        + ("touched once per final model (three-arm table)" if s.get("arms") else "untouched")
        + f". Seeds {a['seeds']}; backend "
        f"{payload['backend']}. "
        + ("Command: " if len(payload["commands"]) == 1 else "Commands, in turn: ")
        + "; ".join(f"`{c}`" for c in payload["commands"]) + ".",
        "",
        "Signals: short-run validation **accuracy**; Keras's validation **loss** (which holds "
        "the L2 term (λ/2)·Σ‖w‖², growing with the weight decay itself); the **data loss** "
        "(that loss less the L2 term, recomputed from the saved model: what the tuner judges "
        "on); **tolerant**: the tuner's rule, the default's weight decay unless the lowest "
        "data loss is more than `WD_TOLERANCE` below its own. Regret = best final cell − the "
        "picked cell's final accuracy; gain = picked − default (validation, pp).",
        "",
        "| signal (images × epochs) | cost per cell (final-run epochs) | ρ accuracy | ρ −loss "
        "| ρ −data loss | regret / gain by accuracy (pp) | by loss | by data loss "
        "| tolerant |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def pm(x: dict[str, float], scale: float = 1.0) -> str:
        return f"{scale * x['mean']:+.2f} ± {scale * x['std']:.2f}"

    for kind, v in a["signals"].items():
        lines.append(
            f"| {kind} | {v['cost_final_epochs_per_cell'] * s['epochs']:.2f} "
            f"| {pm(v['rho_accuracy'])} | {pm(v['rho_loss'])} | {pm(v['rho_data_loss'])} | "
            + " | ".join(f"{pm(v['regret_' + k], 100)} / {pm(v['gain_' + k], 100)}"
                         for k in SIGNAL_KEYS) + " |")
    crit = a.get("final_criterion") or {}
    if crit:
        lines += ["", "The criterion on the final runs themselves (Spearman ρ with their own "
                  "validation accuracy over the grid): Keras's validation loss "
                  + ", ".join(f"{c['rho_loss']:+.2f}" for c in crit.values())
                  + "; the data loss " + ", ".join(f"{c['rho_data_loss']:+.2f}"
                                                   for c in crit.values())
                  + f" (seeds {', '.join(str(k) for k in crit)})."]
    arms = a.get("arms") or {}
    if arms:
        lines += ["", "## Three arms: the untuned default, `run --tune`, the oracle cell", "",
                  "Each arm its own final run (own range test); the oracle is the grid cell "
                  "with the best final validation accuracy, in hindsight. Test accuracy is "
                  "measured once per trained model.", "",
                  "| seed | default val / test (%) | `--tune`: weight decay, val / test (%) "
                  "| oracle: cell, val / test (%) | tuning cost (final runs, s) | default "
                  "training (s) |", "|---|---|---|---|---|---|"]

        def vt(p: dict[str, Any], arm: str) -> str:
            test = p[f"{arm}_test_accuracy"]
            return (f"{100 * p[f'{arm}_val_accuracy']:.2f} / "
                    + (f"{100 * test:.2f}" if test is not None else "–"))

        for seed, p in arms["per_seed"].items():
            lines.append(
                f"| {seed} | {vt(p, 'default')} | {p['tuned_weight_decay']:g}, "
                f"{vt(p, 'tuned')} | {p['oracle_cell']}, {vt(p, 'oracle')} | "
                f"{p['tuning_cost_final_runs'] or 0:.2f}, {p['tuning_seconds'] or 0:.0f} | "
                f"{p['default_train_seconds'] or 0:.0f} |")
        parts = [f"{arm} − default on {split}: {pm(arms[key], 100)} pp"
                 for arm in ("tuned", "oracle") for split in ("val", "test")
                 if (key := f"{arm}_minus_default_{split}") in arms]
        lines += ["", "Paired by seed: " + "; ".join(parts) + "."]
    sh = a.get("successive_halving") or {}
    if sh:
        lines += ["", f"**Successive halving** (η = {sh['eta']}) over the same grid, simulated on "
                  "the stored short runs: rungs " + " → ".join(sh["rungs"]) + ", each rung "
                  "judged by validation data loss, the winner's final run as its model. Picks: "
                  + ", ".join(f"seed {k}: {p['pick']}" for k, p in sh["per_seed"].items())
                  + "; gain over the default "
                  + "; ".join(f"{split} {pm(sh[f'{split}_gain'], 100)} pp"
                              for split in ("val", "test") if f"{split}_gain" in sh)
                  + (f"; cost {sh['cost_final_runs']['mean']:.2f} final runs"
                     if "cost_final_runs" in sh else "") + "."]
    oracle = a["oracle"]
    if oracle:
        gains = stats([o["gain"] for o in oracle.values()])
        lines += ["", "Oracle (best grid cell on the final runs' validation accuracy, in "
                  f"hindsight): gain over the default {pm(gains, 100)} pp; cells "
                  + ", ".join(f"seed {k}: {o['cell']}" for k, o in oracle.items()) + "."]
    lines += ["", "Final runs: validation accuracy (%) per cell and seed.", "",
              "| cell | " + " | ".join(f"seed {x}" for x in a["seeds"]) + " | max LR |",
              "|---|" + "---|" * (len(a["seeds"]) + 1)]
    by = {(r["seed"], r["cell"]): r for r in final}
    for cell in ["default", *grid]:
        vals = [by.get((x, cell)) for x in a["seeds"]]
        lrs = [v["max_lr"] for v in vals if v]
        lines.append(f"| {cell} | " + " | ".join(
            f"{100 * v['val_accuracy']:.2f}" if v else "–" for v in vals)
            + f" | {sum(lrs) / max(len(lrs), 1):.3g} |")
    default_bn = [r["bn_momentum"] for r in final if r["cell"] == "default"]
    if default_bn:
        lines += ["", f"The default cell's BN momentum (chosen for the run's length): "
                  f"{', '.join(f'{b:.3g}' for b in default_bn)}; its weight decay "
                  f"{final[0]['weight_decay'] if final[0]['cell'] == 'default' else '–'}."]
    return lines


def main(argv: list[str] | None = None) -> None:
    import keras

    from superconverge.io import read_json

    args = build_parser().parse_args(argv)
    json_path = args.out_dir / f"{args.name}.json"
    if args.rebuild and not json_path.exists():
        raise SystemExit(f"--rebuild: {json_path} does not exist")
    ours = [] if args.rebuild else [row for seed in args.seeds for row in run_seed(seed, args)]
    with exclusive(json_path):
        old = read_json(json_path) if json_path.exists() else {}
        if args.rebuild:  # the file's own settings, not this invocation's defaults
            for key in ("train_subset", "epochs"):
                setattr(args, key, old["settings"][key])
        runs = merge_runs(ours, old.get("runs", []),
                          key=lambda r: (r["kind"], r["seed"], r["cell"]))
        command = "python benchmarks/tuning_signal.py " + " ".join(argv or sys.argv[1:])
        # each invocation adds its seeds to the file: keep every command that made its rows
        commands = list(dict.fromkeys(
            [*old.get("commands", [old["command"]] if "command" in old else []),
             *([] if args.rebuild else [command])]))
        payload = {
            "benchmark": NAME, "backend": keras.backend.backend(), "system": system_info(),
            "commands": commands,
            "settings": (old["settings"] if args.rebuild else
                         {"model": args.model, "dataset": args.dataset, "arms": args.arms,
                          "train_subset": args.train_subset, "epochs": args.epochs,
                          "weight_decays": args.weight_decays, "bn_momenta": args.bn_momenta}),
            "runs": runs,
        }
        payload["analysis"] = analyse(runs, args)
        write_results(args.name, payload, markdown(payload), args.out_dir)
    print("\n".join(markdown(payload)))


if __name__ == "__main__":
    main()
