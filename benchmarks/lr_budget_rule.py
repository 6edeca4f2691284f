"""Should ``auto``'s max LR depend on the training budget? Held-out choice of the rule (issue 19).

``auto`` picks ``x_max = min(x_R, x_div − γ)`` in ``x = log10(lr)``
(``superconverge/bounds/auto.py``). Here the guard may depend on the planned number of
training steps ``T``:

    γ(T) = γ₀ + β · log2(T / T_ref)          (T_ref = --ref-steps, 100)

and ``(γ₀, β)`` are chosen from the range-test curves and the training runs that
``benchmarks/lr_selection.py --budgets ...`` stored, without training anything:

1. for every stored curve, every budget and every candidate guard, ask ``auto`` for its max
   LR (``guard_decades=γ``);
2. estimate the validation accuracy a One Cycle run of that budget would reach at that LR by
   linear interpolation in log-LR between the runs trained on the same repetition and budget
   (the grid and every method's pick; exact where the pick was trained), and its regret
   against the best grid point, as ``lr_selection.py`` defines it. The run at ``auto``'s own
   pick (γ = 0.8) is left out, as in ``lr_selection_guard.py``, so the estimate does not favour
   the current default;
3. choose the rule with the lowest mean estimated regret on the training part of each fold
   and report its regret on the held-out part: **leave one task out**, **leave one seed out**,
   and **leave one budget out** (the extrapolation a budget term has to survive). Three
   rules are compared: the current ``γ = 0.8`` (nothing fitted), a budget-free ``γ₀``
   (``β = 0``), and the budget-aware ``(γ₀, β)``. Ties go to the smaller ``|β|``, then to the
   ``γ₀`` nearer 0.8.

A budget term is worth having only if it lowers the held-out regret in the folds against the
budget-free fit. The interpolated accuracies are estimates; the regret of whatever ``auto``
does is then measured by ``lr_selection.py`` itself, which trains at the new picks.

    python benchmarks/lr_budget_rule.py -- <the lr_selection.py flags of the run>

Writes benchmarks/results/lr_budget_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, split_forwarded_args, write_results  # noqa: E402

NAME = "lr_budget_rule"
CURRENT_GUARD = 0.8
DEFAULT_G0 = tuple(round(0.3 + 0.05 * k, 2) for k in range(23))  # 0.3 … 1.4
DEFAULT_BETAS = tuple(round(-0.3 + 0.05 * k, 2) for k in range(13))  # −0.3 … 0.3


def guard_of(g0: float, beta: float, steps: int, ref_steps: float) -> float:
    """``γ(T) = γ₀ + β log2(T / T_ref)``, never below 0."""
    return max(0.0, g0 + beta * math.log2(steps / ref_steps))


def load_repetitions(bench: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One entry per (task, seed, budget) whose range test and every grid run are cached:
    the curve, the trained ``(log lr, acc)`` points of that budget (without the run at
    ``auto``'s γ = 0.8 pick unless it is a grid point) and the best grid accuracy."""
    from superconverge.finder import RangeTestResult

    specs, cfg, grid = bench.make_tasks(args), bench.run_config(args), bench.grid_of(args)
    grid_keys = {bench.lr_key(g) for g in grid}
    reps = []
    for task in args.tasks:
        spec = specs[task]
        cache = bench.Cache(args.cache_dir / f"{task}.jsonl")
        spe = None
        for seed in args.seeds:
            rk = bench.range_key(task, seed, bench.fingerprint(spec, cfg))
            if rk not in cache:
                continue
            curve = cache[rk]["curve"]
            result = RangeTestResult.from_dict(curve)
            own = bench.lr_key(result.suggest(method="auto",
                                              guard_decades=CURRENT_GUARD).max_lr)
            for epochs in bench.budgets_of(args) or [spec.epochs]:
                fpe = bench.fingerprint(spec, cfg, epochs)
                runs = {bench.lr_key(r["max_lr"]): r for r in cache.records.values()
                        if r["kind"] == "train" and r["seed"] == seed
                        and r["key"].endswith(f"|{fpe}")}
                if own not in grid_keys:
                    runs.pop(own, None)
                if not grid_keys <= runs.keys():
                    continue
                if spe is None:
                    spe = bench.steps_per_epoch(len(spec.load().train), cfg)
                pts = sorted((math.log10(r["max_lr"]), r["val_acc"]) for r in runs.values())
                reps.append({
                    "task": task, "seed": seed, "epochs": epochs, "steps": epochs * spe,
                    "result": result,
                    "log_lr": np.array([p[0] for p in pts]),
                    "acc": np.array([p[1] for p in pts]),
                    "best_grid_acc": max(runs[k]["val_acc"] for k in grid_keys),
                })
    if not reps:
        raise SystemExit("no complete repetitions in the cache; run lr_selection.py first")
    return reps


def estimated_regret(rep: Mapping[str, Any], max_lr: float) -> float:
    """``100 × (best grid accuracy − interpolated accuracy at max_lr)`` in pp."""
    acc = float(np.interp(math.log10(max_lr), rep["log_lr"], rep["acc"]))
    return 100.0 * (rep["best_grid_acc"] - acc)


class RegretTable:
    """Estimated regret of each repetition under a guard, ``auto`` asked once per
    (curve, guard rounded to 1e-3)."""

    def __init__(self, reps: Sequence[Mapping[str, Any]]) -> None:
        self.reps = reps
        self._picks: dict[tuple[int, float], float] = {}

    def pick(self, i: int, guard: float) -> float:
        key = (id(self.reps[i]["result"]), round(guard, 3))
        if key not in self._picks:
            self._picks[key] = self.reps[i]["result"].suggest(
                method="auto", guard_decades=round(guard, 3)).max_lr
        return self._picks[key]

    def regret(self, i: int, guard: float) -> float:
        return estimated_regret(self.reps[i], self.pick(i, guard))


def fit(table: RegretTable, idx: Sequence[int], g0s: Sequence[float], betas: Sequence[float],
        ref_steps: float) -> tuple[float, float, float]:
    """``(γ₀, β, mean regret)`` minimising the mean estimated regret over ``idx``; ties go to
    the smaller ``|β|``, then to the ``γ₀`` nearer :data:`CURRENT_GUARD`."""
    best = None
    for g0, b in itertools.product(g0s, betas):
        r = statistics.fmean(
            table.regret(i, guard_of(g0, b, table.reps[i]["steps"], ref_steps)) for i in idx)
        key = (round(r, 9), abs(b), abs(g0 - CURRENT_GUARD))
        if best is None or key < best[0]:
            best = (key, g0, b, r)
    assert best is not None
    return best[1], best[2], best[3]


def cross_validate(table: RegretTable, group: Callable[[Mapping[str, Any]], Any],
                   g0s: Sequence[float], betas: Sequence[float],
                   ref_steps: float) -> dict[str, Any]:
    """Folds by ``group(rep)``: each rule fitted on the other groups, scored on the held-out
    one. Rules: ``current`` (γ = 0.8), ``budget_free`` (β = 0), ``budget_aware``."""
    groups = sorted({group(r) for r in table.reps})
    folds, held = {}, {"current": [], "budget_free": [], "budget_aware": []}
    for gval in groups:
        train = [i for i, r in enumerate(table.reps) if group(r) != gval]
        test = [i for i, r in enumerate(table.reps) if group(r) == gval]
        g_free, _, tr_free = fit(table, train, g0s, (0.0,), ref_steps)
        g_aw, b_aw, tr_aw = fit(table, train, g0s, betas, ref_steps)

        def score(g0: float, b: float, test: Sequence[int] = test) -> list[float]:
            return [table.regret(i, guard_of(g0, b, table.reps[i]["steps"], ref_steps))
                    for i in test]

        res = {"current": score(CURRENT_GUARD, 0.0), "budget_free": score(g_free, 0.0),
               "budget_aware": score(g_aw, b_aw)}
        for k, v in res.items():
            held[k] += v
        folds[str(gval)] = {
            "budget_free": {"g0": g_free, "train_regret_pp": tr_free},
            "budget_aware": {"g0": g_aw, "beta": b_aw, "train_regret_pp": tr_aw},
            "held_out_regret_pp": {k: statistics.fmean(v) for k, v in res.items()},
            "n_held_out": len(test),
        }
    return {"folds": folds,
            "held_out_regret_pp": {k: {"mean": statistics.fmean(v),
                                       "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                                       "n": len(v)} for k, v in held.items()}}


def best_guard_by_budget(table: RegretTable, guards: Sequence[float]) -> dict[str, Any]:
    """In-sample: per (task, budget) the mean estimated regret of each fixed guard and the
    best one; the direct view of whether the right guard moves with the budget."""
    out: dict[str, Any] = {}
    keys = sorted({(r["task"], r["epochs"]) for r in table.reps})
    for task, epochs in keys:
        idx = [i for i, r in enumerate(table.reps) if (r["task"], r["epochs"]) == (task, epochs)]
        means = {g: statistics.fmean(table.regret(i, g) for i in idx) for g in guards}
        g_best = min(means, key=lambda g: (round(means[g], 9), abs(g - CURRENT_GUARD)))
        out[f"{task}|{epochs}"] = {"task": task, "epochs": epochs,
                                   "steps": table.reps[idx[0]]["steps"], "n": len(idx),
                                   "regret_by_guard": {str(g): v for g, v in means.items()},
                                   "best_guard": g_best}
    return out


def markdown(by_budget: Mapping[str, Any], cvs: Mapping[str, Any], full: Mapping[str, Any],
             guards: Sequence[float], ref_steps: float, command: str) -> list[str]:
    lines = [
        "# Should `auto`'s guard depend on the training budget? Held-out choice",
        "",
        f"Generated by `{command}` from the range-test curves and training runs stored by "
        "`benchmarks/lr_selection.py` at several budgets. Regrets are **estimates**: validation "
        "accuracy interpolated in log-LR between the runs trained on the same repetition and "
        "budget, against the best grid point (pp); the run at auto's own γ = 0.8 pick is left "
        "out. Rule: γ(T) = γ₀ + β·log2(T / T_ref), "
        f"T_ref = {ref_steps:g} steps (the range tests' length).",
        "",
        "## Mean estimated regret (pp) of a fixed guard γ, per task and budget (in-sample)",
        "",
        "| task | budget (steps) | " + " | ".join(f"γ={g:g}" for g in guards) + " | best γ |",
        "|---|---|" + "---|" * (len(guards) + 1),
    ]
    for v in by_budget.values():
        cells = [f"{v['regret_by_guard'][str(g)]:.2f}" for g in guards]
        lines.append(f"| {v['task']} | {v['epochs']} ep ({v['steps']}) | " + " | ".join(cells)
                     + f" | {v['best_guard']:g} |")
    lines += ["", f"Fitted on everything: γ₀ = {full['budget_aware']['g0']:g}, β = "
              f"{full['budget_aware']['beta']:+g} (regret {full['budget_aware']['regret']:.2f} "
              f"pp); budget-free γ₀ = {full['budget_free']['g0']:g} "
              f"({full['budget_free']['regret']:.2f} pp); current γ = {CURRENT_GUARD} "
              f"({full['current']['regret']:.2f} pp).", ""]
    for name, cv in cvs.items():
        lines += [f"## {name}", "",
                  "| held out | budget-free γ₀ | budget-aware γ₀, β | held-out regret: current "
                  "0.8 | budget-free | budget-aware |", "|---|---|---|---|---|---|"]
        for k, f in cv["folds"].items():
            h = f["held_out_regret_pp"]
            lines.append(f"| {k} | {f['budget_free']['g0']:g} | {f['budget_aware']['g0']:g}, "
                         f"{f['budget_aware']['beta']:+g} | {h['current']:.2f} | "
                         f"{h['budget_free']:.2f} | {h['budget_aware']:.2f} |")
        h = cv["held_out_regret_pp"]
        lines += ["", "All folds: " + "; ".join(
            f"{k} {v['mean']:.2f} ± {v['std']:.2f} pp" for k, v in h.items())
            + f" ({h['current']['n']} repetitions).", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    own, rest = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--g0", nargs="+", type=float, default=list(DEFAULT_G0))
    p.add_argument("--betas", nargs="+", type=float, default=list(DEFAULT_BETAS))
    p.add_argument("--ref-steps", type=float, default=100.0)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(own)

    import lr_selection

    bench_args = lr_selection.parse_args(rest)
    reps = load_repetitions(lr_selection, bench_args)
    table = RegretTable(reps)
    guards = [g for g in args.g0 if abs(g * 10 - round(g * 10)) < 1e-9]  # the 0.1 steps
    by_budget = best_guard_by_budget(table, guards)
    every = list(range(len(reps)))
    g_free, _, r_free = fit(table, every, args.g0, (0.0,), args.ref_steps)
    g_aw, b_aw, r_aw = fit(table, every, args.g0, args.betas, args.ref_steps)
    full = {"current": {"g0": CURRENT_GUARD, "beta": 0.0, "regret": statistics.fmean(
                table.regret(i, CURRENT_GUARD) for i in every)},
            "budget_free": {"g0": g_free, "beta": 0.0, "regret": r_free},
            "budget_aware": {"g0": g_aw, "beta": b_aw, "regret": r_aw}}
    cvs = {
        "Leave one task out": cross_validate(table, lambda r: r["task"], args.g0, args.betas,
                                             args.ref_steps),
        "Leave one seed out": cross_validate(table, lambda r: r["seed"], args.g0, args.betas,
                                             args.ref_steps),
        "Leave one budget out": cross_validate(table, lambda r: r["epochs"], args.g0,
                                               args.betas, args.ref_steps),
    }
    command = "python benchmarks/lr_budget_rule.py " + " ".join(own) + (
        " -- " + " ".join(rest) if rest else "")
    payload = {"benchmark": NAME, "rule": "guard = g0 + beta * log2(total_steps / ref_steps)",
               "ref_steps": args.ref_steps, "g0_candidates": args.g0, "betas": args.betas,
               "repetitions": [(r["task"], r["seed"], r["epochs"], r["steps"]) for r in reps],
               "by_budget": by_budget, "fit_all": full, "cross_validation": cvs,
               "command": command.strip()}
    lines = markdown(by_budget, cvs, full, guards, args.ref_steps, command.strip())
    write_results(NAME, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
