"""Repeated range tests, trained at their pick: does averaging k sweeps lower `auto`'s regret
(issue 19)?

For every repetition (task, seed) of an ``lr_selection.py`` run (its flags after ``--``), the
range test that run stored is sweep 0; sweeps 1 … k-1 are new range tests of the same task,
data and settings from the initial weights and shuffle of seed ``seed + i · 104729`` (what the
pipeline's ``range_repeats`` does). ``auto`` reads their per-step average
(``RangeTestResult.average``), and a One Cycle run of each budget trains at that pick from the
repetition's own initial weights and batch order, exactly as ``lr_selection.py`` trains its
grid and its picks. Regret = best grid accuracy − accuracy at the pick (validation, points),
paired with the same repetition's single-sweep ``auto`` run from the ``lr_selection.py``
cache. New range tests and runs go to this benchmark's own cache (JSON lines per task), so a
killed run resumes.

    OMP_NUM_THREADS=1 python benchmarks/lr_repeats.py --repeats 3 -- --tasks fmnist_cnn \\
        mnist1d_cnn fmnist_mlp mnist1d_mlp --fmnist-train 6400 --range-steps 100 \\
        --grid-min 0.03 --grid-max 6.463 --grid-points 8 \\
        --cache-dir benchmarks/results/lr_selection_budget_cache
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULTS,
    split_forwarded_args,
    system_info,
    write_results,
)

NAME = "lr_repeats"
logger = logging.getLogger(NAME)


def main(argv: list[str] | None = None) -> None:
    import lr_selection

    from superconverge.finder import RangeTestResult
    from superconverge.pipeline.pipeline import range_repeat_seed

    own, forwarded = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cache-dir", type=Path, default=RESULTS / "lr_repeats_cache")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(own)
    if args.repeats < 2:
        raise SystemExit("--repeats must be >= 2 (1 is the lr_selection.py run itself)")
    if not forwarded:
        raise SystemExit("name the lr_selection.py run after `--` (its flags)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sel = lr_selection.parse_args(forwarded)
    cfg = lr_selection.run_config(sel)
    load_start = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    for spec, splits, task_reps, selection_cache, cache in task_repetitions(sel, args.cache_dir):
        task, fp = spec.name, lr_selection.fingerprint(spec, cfg)
        for seed in sorted({r["seed"] for r in task_reps}):
            sweeps = [RangeTestResult.from_dict(
                selection_cache[lr_selection.range_key(task, seed, fp)]["curve"])]
            for index in range(1, args.repeats):
                sweep_seed = range_repeat_seed(seed, index)
                key = lr_selection.range_key(task, sweep_seed, fp)
                if key not in cache:
                    started = time.time()
                    result = lr_selection.run_range_test(spec, splits, sweep_seed, cfg)
                    cache.add({"key": key, "kind": "range", "task": task, "seed": sweep_seed,
                               "curve": result.to_dict(), "wall_s": time.time() - started,
                               "load_average": list(os.getloadavg())})
                    logger.info("%s seed %d sweep %d: %s", task, seed, index, result.summary())
                sweeps.append(RangeTestResult.from_dict(cache[key]["curve"]))
            single = sweeps[0].suggest(method="auto").max_lr
            averaged = RangeTestResult.average(sweeps).suggest(method="auto").max_lr
            for rep in [r for r in task_reps if r["seed"] == seed]:
                run = (spec, splits, seed, rep["epochs"], cfg)
                rows.append({
                    "task": task, "seed": seed, "epochs": rep["epochs"],
                    "max_lr_single": float(single), "max_lr_averaged": float(averaged),
                    "regret_single": 100.0 * (rep["best_grid_acc"] - accuracy_at(
                        single, run, selection_cache, cache)),
                    "regret_averaged": 100.0 * (rep["best_grid_acc"] - accuracy_at(
                        averaged, run, selection_cache, cache)),
                })
        payload = summarize(rows, args, forwarded, load_start)
        write_results(NAME, payload, markdown(payload), out_dir=args.out_dir)


def task_repetitions(sel: argparse.Namespace, cache_dir: Path) -> Iterator[tuple[Any, ...]]:
    """Per task of the ``lr_selection.py`` run ``sel`` that has finished repetitions
    (``lr_budget_rule.load_repetitions``): ``(spec, splits, repetitions, that run's cache,
    this benchmark's cache in cache_dir)``."""
    import lr_budget_rule
    import lr_selection

    specs = lr_selection.make_tasks(sel)
    reps = lr_budget_rule.load_repetitions(lr_selection, sel)
    for task in sel.tasks:
        task_reps = [r for r in reps if r["task"] == task]
        if task_reps:
            yield (specs[task], specs[task].load(), task_reps,
                   lr_selection.Cache(sel.cache_dir / f"{task}.jsonl"),
                   lr_selection.Cache(cache_dir / f"{task}.jsonl"))


def accuracy_at(lr: float, run: tuple, selection_cache: Any, cache: Any) -> float:
    """Validation accuracy of the One Cycle run at ``lr`` of ``run`` = (spec, splits, seed,
    epochs, cfg): from the ``lr_selection.py`` cache when that run trained it, else from this
    benchmark's cache (trained there first if needed: ``lr_selection.cached_train``)."""
    import lr_selection

    spec, splits, seed, epochs, cfg = run
    key = lr_selection.train_key(spec.name, seed, lr,
                                 lr_selection.fingerprint(spec, cfg, epochs))
    if key in selection_cache:
        return float(selection_cache[key]["val_acc"])
    return float(lr_selection.cached_train(cache, spec, splits, seed, lr, cfg, epochs,
                                           logger.info)["val_acc"])


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def summarize(rows: list[dict[str, Any]], args: argparse.Namespace, forwarded: list[str],
              load_start: list[float]) -> dict[str, Any]:
    """Regret per budget and pooled (single sweep vs averaged, paired), and the spread of the
    picks over the seeds per task."""
    budgets = sorted({r["epochs"] for r in rows})
    by_budget = {}
    for budget in [*budgets, "pooled"]:
        sel = [r for r in rows if budget == "pooled" or r["epochs"] == budget]
        by_budget[str(budget)] = {
            "single": _stats([r["regret_single"] for r in sel]),
            "averaged": _stats([r["regret_averaged"] for r in sel]),
            "paired_difference": _stats([r["regret_averaged"] - r["regret_single"]
                                         for r in sel])}
    spread = {}
    for task in sorted({r["task"] for r in rows}):
        picks = {r["seed"]: r for r in rows if r["task"] == task}
        spread[task] = {
            kind: statistics.stdev(math.log10(r[f"max_lr_{kind}"]) for r in picks.values())
            if len(picks) > 1 else None for kind in ("single", "averaged")}
    return {"benchmark": NAME, "system": system_info(), "repeats": args.repeats,
            "lr_selection_flags": forwarded,
            "load_average": {"start": load_start, "end": list(os.getloadavg())},
            "by_budget": by_budget, "spread_decades": spread, "rows": rows}


def markdown(payload: dict[str, Any]) -> list[str]:
    k = payload["repeats"]
    lines = [
        f"# {k} range tests averaged, trained at their pick (issue 19)", "",
        f"Per repetition of the `lr_selection.py` run below (task × seed × budget): `auto` on "
        f"the seed's stored range test alone, and on the per-step average of it and {k - 1} "
        f"new range tests of the same task and data from other initial weights and shuffles "
        f"(seed + i·104729, as `range_repeats = {k}` runs them). Each pick is trained (One "
        "Cycle, the repetition's own initial weights and batch order) unless `lr_selection.py` "
        "already trained that LR. Regret = best grid accuracy − accuracy at the pick "
        "(validation, points); Δ = averaged − single, paired. Target: ≤ 0.5 at every budget. "
        "Accuracy runs on a shared machine (one thread), load average "
        f"{payload['load_average']['start'][0]:.2f} → {payload['load_average']['end'][0]:.2f}.",
        "", "| budget (epochs) | repetitions | one sweep | averaged sweeps | Δ (paired) |",
        "|---|---|---|---|---|"]
    for budget, s in payload["by_budget"].items():
        def cell(x: dict[str, Any]) -> str:
            return f"{x['mean']:.2f}" + (f" ± {x['std']:.2f}" if x["std"] is not None else "")
        lines.append(f"| {budget} | {s['single']['n']} | {cell(s['single'])} "
                     f"| {cell(s['averaged'])} | {cell(s['paired_difference'])} |")
    lines += ["", "Seed-to-seed spread of the pick, std of log10(max LR) in decades: " + "; ".join(
        f"`{task}` {v['single']:.3f} → {v['averaged']:.3f}"
        for task, v in payload["spread_decades"].items() if v["single"] is not None) + ".", "",
        "| task | seed | budget | max LR, one sweep | averaged | regret, one sweep | averaged |",
        "|---|---|---|---|---|---|---|"]
    for r in payload["rows"]:
        lines.append(f"| {r['task']} | {r['seed']} | {r['epochs']} | {r['max_lr_single']:.3g} "
                     f"| {r['max_lr_averaged']:.3g} | {r['regret_single']:.2f} "
                     f"| {r['regret_averaged']:.2f} |")
    lines += ["", f"Command: `python benchmarks/lr_repeats.py --repeats {k} -- "
              + " ".join(payload["lr_selection_flags"]) + "`.", ""]
    return lines


if __name__ == "__main__":
    main()
