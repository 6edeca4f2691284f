"""Does the batch rule pick the better batch? One-cycle at the same budget with two batch sizes.

``superconverge.batch_rule`` halves the one-cycle batch (64) while the cycle would have fewer
than 1,000 optimizer steps. This script reads two (or more) ``epoch_economy.json`` files of the
same model, data, seeds and fractions that differ only in the one-cycle batch size (the
``--one-cycle-config batch_size=…`` of ``epoch_economy.py``), pairs their one-cycle runs by
seed and fraction, and reports per cell: the steps of the cycle at each batch, the batch the
rule chooses, the final validation accuracy (what the rule is judged on: the validation split;
after precise BN) and the test accuracy (reported only), with the paired differences
(smaller batch − larger) and each arm's difference to the same seed's 20-epoch baseline.

    python benchmarks/batch_rule_check.py --name batch_rule_check \\
        --arm benchmarks/results/epoch_economy_simple_cnn_12k/epoch_economy.json \\
        --arm benchmarks/results/epoch_economy_simple_cnn_12k_batch32/epoch_economy.json \\
        --arm ...   # any number of pairs; the cells are grouped by model and training size
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from common import RESULTS, stats, write_results

from superconverge.batch_rule import choose_batch_size
from superconverge.io import read_json


def one_cycle_rows(path: Path) -> list[dict[str, Any]]:
    """The one-cycle runs of an ``epoch_economy.json``, each with its batch, training size,
    and the same seed's baseline test accuracy where the file has it."""
    payload = read_json(path)
    base = {(r["model"], r["seed"]): r["test_accuracy"] for r in payload["runs"]
            if r["variant"] == "baseline"}
    rows = []
    for r in payload["runs"]:
        if r["variant"] == "baseline":
            continue
        batch = (r.get("bounds") or {}).get("batch_size")
        if batch is None:
            raise SystemExit(f"{path}: run {r['run_dir']} does not record its batch size; "
                             "rerun epoch_economy.py with the same flags to re-collect it")
        rows.append({**r, "batch_size": int(batch), "source": str(path),
                     "baseline_test": base.get((r["model"], r["seed"]))})
    return rows


def cells(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group by (model, training examples, epochs); within a cell, pair the batch sizes by
    seed."""
    grouped: dict[tuple, dict[int, dict[int, dict]]] = {}
    for r in rows:
        key = (r["model"], int(r["train_examples"]), int(r["epochs"]))
        grouped.setdefault(key, {}).setdefault(r["batch_size"], {})[r["seed"]] = r
    out = []
    for (model, n, epochs), arms in sorted(grouped.items()):
        if len(arms) < 2:
            continue
        batches = sorted(arms)
        seeds = sorted(set.intersection(*(set(a) for a in arms.values())))
        if not seeds:
            continue
        rule = choose_batch_size(n, epochs)
        entry: dict[str, Any] = {
            "model": model, "train_examples": n, "epochs": epochs, "seeds": seeds,
            "rule_batch_size": rule.batch_size, "rule_reason": rule.reason, "arms": {},
        }
        for b in batches:
            sel = [arms[b][s] for s in seeds]
            entry["arms"][b] = {
                "cycle_steps": epochs * math.ceil(n / b),
                "val_accuracy": stats([r["val_accuracy_final"] for r in sel]),
                "test_accuracy": stats([r["test_accuracy"] for r in sel]),
                "test_vs_baseline": stats([r["test_accuracy"] - r["baseline_test"] for r in sel])
                if all(r["baseline_test"] is not None for r in sel) else None,
                "per_seed": {s: {"val": arms[b][s]["val_accuracy_final"],
                                 "test": arms[b][s]["test_accuracy"]} for s in seeds},
                "sources": sorted({r["source"] for r in sel}),
            }
        small, large = batches[0], batches[-1]
        entry["smaller_minus_larger"] = {"batches": [small, large], **{
            name: stats([arms[small][s][key] - arms[large][s][key] for s in seeds])
            for name, key in (("val", "val_accuracy_final"), ("test", "test_accuracy"))}}
        best = max(batches, key=lambda b: entry["arms"][b]["val_accuracy"]["mean"])
        entry["best_on_validation"] = best
        entry["rule_agrees"] = best == rule.batch_size
        if not entry["rule_agrees"] and rule.batch_size in arms:
            # how much the rule's pick gives away, paired by seed; within one sample std of
            # the seed-to-seed differences it is a tie, not a measured loss
            lost = stats([arms[best][s]["val_accuracy_final"]
                          - arms[rule.batch_size][s]["val_accuracy_final"] for s in seeds])
            entry["rule_loses_on_validation"] = lost
            entry["rule_ties"] = lost["mean"] <= lost["std"]
        out.append(entry)
    return out


def _pm(s: dict[str, float] | None, scale: float = 100.0, sign: bool = False) -> str:
    if s is None:
        return "—"
    fmt = "+.2f" if sign else ".2f"
    return f"{scale * s['mean']:{fmt}} ± {scale * s['std']:.2f}"


def _verdict(cell: dict[str, Any]) -> str:
    if cell["rule_agrees"]:
        return "yes"
    lost = cell.get("rule_loses_on_validation")
    if lost is None:
        return "no (its batch was not run)"
    return (f"{'tie' if cell['rule_ties'] else 'no'}: the pick gives away "
            f"{100 * lost['mean']:.2f} ± {100 * lost['std']:.2f}")


def markdown(payload: dict[str, Any]) -> list[str]:
    lines = [
        "# The batch rule against the measured better batch",
        "",
        "One-cycle (today's default recipe otherwise, bounds from each run's own range test) at "
        "the same epochs with two batch sizes, paired by seed. val = the final model's "
        "validation accuracy (after precise BN), on which the rule is judged; test is reported "
        "only. The rule: 64, halved while the cycle has fewer than 1,000 steps "
        "(`superconverge.batch_rule`). Δ = smaller batch − larger, mean ± sample std over the "
        "seeds; 'vs baseline' = test accuracy − the same seed's 20-epoch step-decay baseline.",
        "",
        "| model | training examples | epochs | batch | cycle steps | val (%) | test (%) "
        "| test vs baseline (pp) | Δval small − large (pp) | rule picks | best on val "
        "| rule agrees (a tie: it gives away less than one sample std) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in payload["cells"]:
        d = c["smaller_minus_larger"]
        for i, (b, a) in enumerate(sorted(c["arms"].items(), key=lambda kv: int(kv[0]))):
            first = i == 0
            lines.append(
                f"| {c['model'] if first else ''} | {c['train_examples'] if first else ''} "
                f"| {c['epochs'] if first else ''} | {b} | {a['cycle_steps']} "
                f"| {_pm(a['val_accuracy'])} | {_pm(a['test_accuracy'])} "
                f"| {_pm(a['test_vs_baseline'], sign=True)} "
                + (f"| {_pm(d['val'], sign=True)} | {c['rule_batch_size']} "
                   f"| {c['best_on_validation']} | {_verdict(c)} |"
                   if first else "| | | | |")
            )
    lines += ["", "Seeds per cell: " + "; ".join(
        f"{c['model']} {c['train_examples']} × {c['epochs']} ep: {c['seeds']}"
        for c in payload["cells"]) + ".", "",
        "Sources: " + ", ".join(f"`{s}`" for s in payload["sources"]) + ".", "",
        f"Command: `{payload['command']}`"]
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arm", action="append", required=True, type=Path,
                   help="an epoch_economy.json (give at least two of the same model)")
    p.add_argument("--name", default="batch_rule_check")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    rows = [r for path in args.arm for r in one_cycle_rows(path)]
    found = cells(rows)
    if not found:
        raise SystemExit("no (model, training size, epochs) cell has runs at two batch sizes "
                         "with a seed in common")
    payload = {
        "benchmark": "batch_rule_check", "cells": found,
        "sources": [str(p) for p in args.arm],
        "command": "python benchmarks/batch_rule_check.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
    }
    write_results(args.name, payload, markdown(payload), args.out_dir)
    print("\n".join(markdown(payload)))


if __name__ == "__main__":
    main()
