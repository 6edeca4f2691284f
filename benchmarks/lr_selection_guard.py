"""How far below divergence should ``auto`` put the max LR? Leave-one-task-out (issue 4).

``auto`` picks ``x_max = min(x_R, x_div − γ)`` in ``x = log10(lr)`` (see
``superconverge/bounds/auto.py``). This script chooses the guard ``γ`` from the curves and the
training runs that ``benchmarks/lr_selection.py`` stored, without training anything:

1. for every stored range-test curve and every candidate ``γ``, ask ``auto`` for its max LR;
2. estimate the validation accuracy a One Cycle run would reach at that LR by linear
   interpolation in log-LR between the runs already trained on that repetition (the grid and
   every method's pick: about 16 runs per repetition over 3 decades; exact where the pick was
   trained), and its regret against the best grid point, as ``lr_selection.py`` defines it.
   The run at the pick of ``auto`` as it is now is left out, so the estimate does not favour
   the current default (these are the runs this choice was made from: the grid, the other
   methods' picks and the picks of the earlier 1-decade guard);
3. leave one task out: choose the ``γ`` with the lowest mean regret on the other tasks, and
   report its regret on the held-out task. A ``γ`` that only suits one task loses here.

The interpolated accuracies are an estimate, used only to choose ``γ``; the regret of the
chosen default is then measured by ``lr_selection.py`` itself, which trains at the new picks.

    python benchmarks/lr_selection_guard.py                       # committed cache copy
    python benchmarks/lr_selection_guard.py --cache-dir /tmp/superconverge_lr_selection

Writes benchmarks/results/lr_selection_guard.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, write_results  # noqa: E402

NAME = "lr_selection_guard"
DEFAULT_CACHE = RESULTS / "lr_selection_cache"
DEFAULT_GUARDS = tuple(round(0.2 + 0.1 * k, 1) for k in range(11))  # 0.2 … 1.2
#: the seeds the guard was chosen on; seeds 3-5 were run afterwards as a fresh hold-out
#: (``benchmarks/results/lr_selection_fresh_seeds/``)
CHOICE_SEEDS = (0, 1, 2)


def load_repetitions(cache_dir: Path, grid: Sequence[float],
                     seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One entry per stored range test: task, seed, curve, the trained ``(log lr, acc)``
    points of that repetition, and the best grid accuracy (repetitions missing a grid point
    are skipped, as in ``lr_selection.py``)."""
    reps = []
    grid_keys = {f"{g:.6g}" for g in grid}
    for path in sorted(Path(cache_dir).glob("*.jsonl")):
        records: dict[str, dict[str, Any]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            records[rec["key"]] = rec
        for rec in records.values():
            if rec["kind"] != "range" or rec["seed"] not in seeds:
                continue
            fp = rec["key"].rsplit("|", 1)[1]
            # the run at the current default's own pick is left out: with it, the estimate
            # would be exact at the default and interpolated elsewhere, favouring the default
            auto_lr = (rec["suggestions"].get("auto") or {}).get("max_lr")
            own = None if auto_lr is None else f"{auto_lr:.6g}"
            runs = {
                f"{r['max_lr']:.6g}": r
                for r in records.values()
                if r["kind"] == "train" and r["seed"] == rec["seed"] and r["key"].endswith(fp)
            }
            if own is not None and own not in grid_keys:
                runs.pop(own, None)
            if not grid_keys <= runs.keys():
                continue
            pts = sorted((math.log10(r["max_lr"]), r["val_acc"]) for r in runs.values())
            reps.append({
                "task": rec["task"], "seed": rec["seed"], "curve": rec["curve"],
                "log_lr": np.array([p[0] for p in pts]), "acc": np.array([p[1] for p in pts]),
                "best_grid_acc": max(runs[k]["val_acc"] for k in grid_keys),
            })
    if not reps:
        raise SystemExit(f"no complete repetitions in {cache_dir}; run benchmarks/lr_selection.py")
    return reps


def estimated_regret(rep: Mapping[str, Any], max_lr: float) -> float:
    """``100 × (best grid accuracy − interpolated accuracy at max_lr)`` in pp."""
    acc = float(np.interp(math.log10(max_lr), rep["log_lr"], rep["acc"]))
    return 100.0 * (rep["best_grid_acc"] - acc)


def regrets_by_guard(reps: Sequence[Mapping[str, Any]],
                     guards: Sequence[float]) -> dict[float, dict[str, list[float]]]:
    """``{γ: {task: [estimated regret per seed]}}``."""
    from superconverge.finder import RangeTestResult

    out: dict[float, dict[str, list[float]]] = {}
    for g in guards:
        per_task: dict[str, list[float]] = {}
        for rep in reps:
            pick = RangeTestResult.from_dict(rep["curve"]).suggest(method="auto",
                                                                   guard_decades=g)
            per_task.setdefault(rep["task"], []).append(estimated_regret(rep, pick.max_lr))
        out[g] = per_task
    return out


def leave_one_task_out(table: Mapping[float, Mapping[str, Sequence[float]]]) -> dict[str, Any]:
    """For each task: the ``γ`` with the lowest mean regret over the *other* tasks' seeds,
    and that ``γ``'s regret on the held-out task."""
    tasks = sorted(next(iter(table.values())))
    folds, held_out = {}, []
    for t in tasks:
        def train_mean(g: float, t: str = t) -> float:
            return statistics.fmean(v for u, vs in table[g].items() if u != t for v in vs)
        g_best = min(table, key=train_mean)
        folds[t] = {"guard": g_best, "train_regret_pp": train_mean(g_best),
                    "held_out_regret_pp": statistics.fmean(table[g_best][t])}
        held_out += list(table[g_best][t])
    return {"folds": folds, "held_out_regret_pp": {"mean": statistics.fmean(held_out),
                                                   "std": statistics.stdev(held_out),
                                                   "n": len(held_out)}}


def markdown(table: Mapping[float, Mapping[str, Sequence[float]]], loto: Mapping[str, Any],
             cache_dir: Path) -> list[str]:
    tasks = sorted(next(iter(table.values())))
    lines = [
        "# Guard of the `auto` method: leave-one-task-out choice",
        "",
        "Generated by `python benchmarks/lr_selection_guard.py` from the range-test curves and "
        f"training runs stored by `benchmarks/lr_selection.py` (`{cache_dir.name}`). "
        "Regrets are **estimates**: validation accuracy interpolated in log-LR between the runs "
        "trained on the same repetition, against the best grid point (pp). The measured regret "
        "of the chosen default at 2 epochs of cycled momentum is in "
        "`lr_selection_cycled/lr_selection.md` (the runs this guard was chosen on); "
        "`lr_selection.md` scores it at 2, 4 and 8 epochs with the current recipe.",
        "",
        "| guard γ (decades) | all tasks | " + " | ".join(tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    for g, per_task in table.items():
        allv = [v for vs in per_task.values() for v in vs]
        cells = [f"{statistics.fmean(per_task[t]):.2f}" for t in tasks]
        lines.append(f"| {g:g} | {statistics.fmean(allv):.2f} ± {statistics.stdev(allv):.2f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Leave one task out (γ chosen on the other three tasks):", "",
              "| held-out task | chosen γ | regret on the others | regret on the held-out task |",
              "|---|---|---|---|"]
    for t, f in loto["folds"].items():
        lines.append(f"| {t} | {f['guard']:g} | {f['train_regret_pp']:.2f} | "
                     f"{f['held_out_regret_pp']:.2f} |")
    h = loto["held_out_regret_pp"]
    lines += ["", f"Held-out regret over all folds: {h['mean']:.2f} ± {h['std']:.2f} pp "
              f"({h['n']} repetitions).", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--guards", nargs="+", type=float, default=list(DEFAULT_GUARDS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(CHOICE_SEEDS),
                   help="repetitions to choose from (later seeds are the fresh hold-out)")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    import lr_selection

    grid = lr_selection.grid_of(lr_selection.parse_args([]))
    reps = load_repetitions(args.cache_dir, grid, args.seeds)
    table = regrets_by_guard(reps, args.guards)
    loto = leave_one_task_out(table)
    payload = {
        "grid": grid, "repetitions": [(r["task"], r["seed"]) for r in reps],
        "estimated_regret_pp": {str(g): v for g, v in table.items()}, "loto": loto,
    }
    lines = markdown(table, loto, args.cache_dir)
    write_results(NAME, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
