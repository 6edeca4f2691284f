"""Would averaging several range-test sweeps steady `auto`'s max LR (issue 19)?

Reads the per-seed range tests that ``lr_spread.py`` left in its work directory (the
pipeline's own, one per seed: each seed has its own initial weights, shuffle and validation
split) and, for
a group of ``k`` seeds, averages their raw per-step losses over the steps all of them reached
(the sweeps share their LR grid) into one curve, re-smoothed with the same EMA, and lets
``auto`` read it: what a pipeline that ran ``k`` sweeps from ``k`` initialisations and
averaged them would pick. The seeds are split into disjoint groups of ``k``; the seed-to-seed
spread of the averaged pick is the sample std of ``log10`` over the groups, averaged over every
way of splitting the seeds into such groups. Compared with the single sweeps' std over
subsets of the same size (``n / k`` seeds), so that both are estimated from as many values.

With ``-- <lr_selection.py flags>`` it also estimates the regret: for every repetition
(task, seed, budget) of that ``lr_selection.py`` run, ``auto`` reads the seed's own curve, its
average with each other seed's curve of the task (pairs), and the average of all the task's
seeds; the regret is the best grid accuracy minus the accuracy interpolated in log-LR between
the trained grid points at the pick (``lr_budget_rule.estimated_regret``), in points.

Nothing is trained here: run ``lr_spread.py`` (and ``lr_selection.py``) first.

    python benchmarks/lr_spread_averaged.py --group-sizes 2 4 -- --tasks fmnist_cnn \
        mnist1d_cnn fmnist_mlp mnist1d_mlp --fmnist-train 6400 --range-steps 100 \
        --grid-min 0.03 --grid-max 6.463 --grid-points 8 \
        --cache-dir benchmarks/results/lr_selection_budget_cache
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import statistics
import sys
from collections.abc import Iterator, Sequence
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

NAME = "lr_spread_averaged"
logger = logging.getLogger(NAME)


def partitions(items: Sequence[int], size: int) -> Iterator[list[tuple[int, ...]]]:
    """Every way of splitting ``items`` into disjoint groups of ``size`` (order-free)."""
    if not items:
        yield []
        return
    head, rest = items[0], list(items[1:])
    for others in itertools.combinations(rest, size - 1):
        remaining = [x for x in rest if x not in others]
        for tail in partitions(remaining, size):
            yield [(head, *others), *tail]


def auto_pick(result: Any) -> float:
    """``log10`` of ``auto``'s max LR on ``result``."""
    return math.log10(result.suggest(method="auto").max_lr)


def spread_of_groups(results: Sequence[Any], size: int) -> dict[str, Any]:
    """For groups of ``size`` sweeps: the averaged curves' picks and their spread, against
    the single sweeps' spread over as many values."""
    from superconverge.finder import RangeTestResult

    seeds = list(range(len(results)))
    picks: dict[tuple[int, ...], float] = {}
    stds = []
    for split in partitions(seeds, size):
        for group in split:
            if group not in picks:
                picks[group] = auto_pick(RangeTestResult.average([results[i] for i in group]))
        stds.append(statistics.stdev([picks[g] for g in split]))
    singles = [auto_pick(r) for r in results]
    per_split = len(seeds) // size
    single_stds = [statistics.stdev([singles[i] for i in subset])
                   for subset in itertools.combinations(seeds, per_split)]
    return {
        "group_size": size, "groups_per_split": per_split, "splits": len(stds),
        "std_decades_averaged": statistics.mean(stds),
        "std_decades_single_same_count": statistics.mean(single_stds),
        "std_decades_single_all": statistics.stdev(singles),
        "mean_pick_averaged": statistics.mean(picks.values()),
        "mean_pick_single": statistics.mean(singles),
        "picks_averaged": {"+".join(map(str, g)): 10 ** v for g, v in sorted(picks.items())},
    }


def regret_of_averaging(reps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Estimated regret per repetition with ``auto`` on: the seed's own sweep; its average
    with each other seed's sweep of the task (the mean over those pairs); all the task's
    sweeps averaged. Mean ± std over the repetitions, pooled and per budget."""
    import lr_budget_rule

    from superconverge.finder import RangeTestResult

    by_task_budget: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for rep in reps:
        by_task_budget.setdefault((rep["task"], rep["epochs"]), {})[rep["seed"]] = rep

    def regret(rep: dict[str, Any], curve: Any) -> float:
        return lr_budget_rule.estimated_regret(rep, curve.suggest(method="auto").max_lr)

    rows = []
    for (task, epochs), seeds in sorted(by_task_budget.items()):
        every = RangeTestResult.average([seeds[k]["result"] for k in sorted(seeds)])
        for seed, rep in sorted(seeds.items()):
            pairs = [regret(rep, RangeTestResult.average([rep["result"], seeds[k]["result"]]))
                     for k in sorted(seeds) if k != seed]
            rows.append({"task": task, "epochs": epochs, "seed": seed,
                         "single": regret(rep, rep["result"]),
                         "pair": statistics.fmean(pairs) if pairs else None,
                         "all": regret(rep, every), "sweeps_in_all": len(seeds)})

    def summary(selected: list[dict[str, Any]]) -> dict[str, Any]:
        out = {}
        for kind in ("single", "pair", "all"):
            values = [r[kind] for r in selected if r[kind] is not None]
            out[kind] = {"mean": statistics.fmean(values),
                         "std": statistics.stdev(values) if len(values) > 1 else None,
                         "n": len(values)}
        return out

    budgets = sorted({r["epochs"] for r in rows})
    return {"rows": rows, "pooled": summary(rows),
            "by_budget": {str(b): summary([r for r in rows if r["epochs"] == b])
                          for b in budgets}}


def build_parser() -> argparse.ArgumentParser:
    import lr_spread

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(lr_spread.TASKS),
                   choices=list(lr_spread.TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(8)))
    p.add_argument("--group-sizes", nargs="+", type=int, default=[2, 4])
    p.add_argument("--work-dir", default=str(lr_spread.DEFAULT_WORK))
    p.add_argument("--out-dir", default=str(RESULTS))
    return p


def main(argv: list[str] | None = None) -> None:

    own, forwarded = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for size in args.group_sizes:
        if size < 2 or len(args.seeds) % size or len(args.seeds) // size < 2:
            raise SystemExit(f"--group-sizes: {size} must be >= 2 and split the "
                             f"{len(args.seeds)} seeds into at least 2 equal groups")
    from superconverge.finder import RangeTestResult

    payload: dict[str, Any] = {"benchmark": NAME, "system": system_info(), "seeds": args.seeds,
                               "tasks": {}}
    for task in args.tasks:
        paths = [Path(args.work_dir) / task / f"seed{seed}" / "range_test.json"
                 for seed in args.seeds]
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise SystemExit(f"no range test in {', '.join(missing)}: run "
                             f"`python benchmarks/lr_spread.py --tasks {task} --seeds "
                             f"{' '.join(map(str, args.seeds))}` first")
        results = [RangeTestResult.load(path) for path in paths]
        payload["tasks"][task] = [spread_of_groups(results, size) for size in args.group_sizes]
    if forwarded:
        import lr_budget_rule
        import lr_selection

        reps = lr_budget_rule.load_repetitions(lr_selection, lr_selection.parse_args(forwarded))
        payload["regret"] = regret_of_averaging(reps)
        payload["regret"]["lr_selection_flags"] = forwarded
    write_results(NAME, payload, markdown(payload), out_dir=Path(args.out_dir))


def markdown(payload: dict[str, Any]) -> list[str]:
    lines = [
        "# Averaged range-test sweeps: does the pick steady? (issue 19)",
        "",
        f"The range tests of `lr_spread.py` (seeds {', '.join(map(str, payload['seeds']))}; "
        "each seed: its own initial weights, shuffle and validation split), averaged per step "
        "in disjoint groups of k seeds, then read by `auto`. Std = sample std of log10(max LR) "
        "over the groups of one split of the seeds, averaged over every split; beside it the "
        "single sweeps' std over subsets of as many seeds (like for like), and over all seeds. "
        "Target for the spread: ≤ 0.1 decade. Cost: k sweeps instead of one.",
        "",
        "| task | k | groups per split × splits | std, averaged (decades) "
        "| std, single, same count | std, single, all seeds | mean pick, averaged → single "
        "| averaged picks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, rows in payload["tasks"].items():
        for r in rows:
            averaged = r["picks_averaged"]
            picks = (", ".join(f"{v:.3g}" for v in averaged.values()) if len(averaged) <= 8
                     else f"{len(averaged)} groups, {min(averaged.values()):.3g}–"
                          f"{max(averaged.values()):.3g}")
            lines.append(
                f"| {task} | {r['group_size']} | {r['groups_per_split']} × {r['splits']} "
                f"| {r['std_decades_averaged']:.3f} | {r['std_decades_single_same_count']:.3f} "
                f"| {r['std_decades_single_all']:.3f} "
                f"| {10 ** r['mean_pick_averaged']:.3g} → {10 ** r['mean_pick_single']:.3g} "
                f"| {picks} |")
    regret = payload.get("regret")
    if regret:
        lines += [
            "", "## Estimated regret (pp) with averaged sweeps", "",
            "Per repetition of the `lr_selection.py` run below (task × seed × budget), `auto` "
            "on the seed's own sweep, on its average with each other seed's sweep of the task "
            "(mean over those pairs), and on all the task's sweeps averaged; regret = best grid "
            "accuracy − accuracy interpolated at the pick (validation, points). The seeds' "
            "sweeps differ in initial weights and shuffle, as repeated sweeps from fresh "
            "initialisations would. Target: ≤ 0.5 at every budget.", "",
            "| budget (epochs) | repetitions | one sweep | two sweeps | all sweeps of the task |",
            "|---|---|---|---|---|"]
        for budget, summary in [*regret["by_budget"].items(), ("pooled", regret["pooled"])]:
            cells = " | ".join(f"{summary[k]['mean']:.2f} ± {summary[k]['std']:.2f}"
                               for k in ("single", "pair", "all"))
            lines.append(f"| {budget} | {summary['single']['n']} | {cells} |")
        by_task: dict[str, list[dict[str, Any]]] = {}
        for row in regret["rows"]:
            by_task.setdefault(row["task"], []).append(row)
        lines += ["", "Per task (mean over seeds and budgets): " + "; ".join(
            f"`{task}` {statistics.fmean(r['single'] for r in rows):.2f} → "
            f"{statistics.fmean(r['pair'] for r in rows):.2f} → "
            f"{statistics.fmean(r['all'] for r in rows):.2f}"
            for task, rows in by_task.items()) + "."]
    command = "python benchmarks/lr_spread_averaged.py --group-sizes " + " ".join(
        str(r["group_size"]) for r in next(iter(payload["tasks"].values())))
    if regret:
        command += " -- " + " ".join(regret["lr_selection_flags"])
    lines += ["", f"Command: `{command}` (reads `runs/lr_spread/`, as left by `python "
              "benchmarks/lr_spread.py --seeds 0 1 2 3 4 5 6 7`, and the `lr_selection.py` "
              "cache the flags after `--` name).", ""]
    return lines


if __name__ == "__main__":
    main()
