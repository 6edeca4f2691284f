"""Which landmark should ``auto`` back off from? Held-out choice between the divergence point,
the top of the low basin and a blend of the two (issue 19).

``auto`` today picks ``x_max = min(x_R, x_div − 0.8)`` in ``x = log10(lr)``: the top of the
basin ``x_R`` (where the smoothed loss starts rising) or 0.8 decade below the divergence point
``x_div`` (``superconverge/bounds/auto.py``). On the small MLP of ``lr_selection.py`` the
divergence point moves by a decade between seeds while the basin top moves by 0.2; on the
Fashion-MNIST CNN it is the other way round (``lr_spread.md``). This script asks whether a rule
that leans on both landmarks picks better LRs, without training anything:

    x_max = min(x_R, w · x_R + (1 − w) · x_div − c)

``w = 0, c = 0.8`` is today's rule; ``w = 1`` backs off ``c`` decades from the basin top only.
Without divergence ``x_div`` is the end of the sweep, without a rise ``x_R`` is; a flat curve
keeps today's placeholder. For every candidate ``(w, c)``:

* **regret**: the validation accuracy a One Cycle run would reach at the pick, interpolated in
  log-LR between the runs ``lr_selection.py --budgets ...`` trained on the same repetition
  and budget, against the best grid point (pp), as ``lr_budget_rule.py`` estimates it (the run
  at today's own pick left out);
* **spread**: the seed-to-seed std of the pick in decades on the 8-seed range tests of
  ``lr_spread.py`` (issue 19's target: ≤ 0.1 on both of its tasks).

Rules are chosen on the training part of three cross-validations (leave one task, one seed,
one budget out) and scored on the held-out part: ``current``; ``guard only`` (best ``c`` at
``w = 0``); ``blend`` (best ``(w, c)``); ``blend, spread ≤ 0.1`` (best ``(w, c)`` among the
rules whose spread meets the target).

    python benchmarks/lr_landmark_rule.py -- <the lr_selection.py flags of the budget run>

Writes benchmarks/results/lr_landmark_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, split_forwarded_args, write_results  # noqa: E402

NAME = "lr_landmark_rule"
CURRENT = (0.0, 0.8)
SPREAD_TARGET = 0.1
#: the tasks of ``lr_spread.json`` issue 19's spread target is set on (it also holds others)
SPREAD_TASKS = ("fmnist_simple_cnn", "mnist1d_cnn")
DEFAULT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
DEFAULT_OFFSETS = tuple(round(0.1 * k, 1) for k in range(16))  # 0 … 1.5 decades


class Landmarks(NamedTuple):
    """What the rule reads off one curve, in log10(lr)."""

    top: float  # basin top x_R, or the end of the sweep without a rise
    ref: float  # divergence x_div, or the end of the sweep without divergence
    flat: bool
    lo: float  # first and last LR swept (the pick is clamped to them)
    hi: float
    x_min: float = math.nan  # LR of the smoothed loss's minimum (lr_median_rule.py reads it)


def landmarks_of(lrs: Sequence[float], losses: Sequence[float]) -> Landmarks:
    from superconverge.bounds.auto import analyse_curve

    a = analyse_curve(np.asarray(lrs, float), np.asarray(losses, float))
    lo, hi = math.log10(lrs[0]), math.log10(lrs[-1])
    return Landmarks(top=a.x_rise if a.x_rise is not None else hi,
                     ref=a.x_div if a.diverged else hi, flat=bool(a.flat), lo=lo, hi=hi,
                     x_min=float(a.x[a.i_min]))


def pick(lm: Landmarks, weight: float, offset: float) -> float:
    """``log10(max LR) = min(x_R, w x_R + (1 − w) x_div − c)``, clamped to the sweep; a flat
    curve keeps ``auto``'s placeholder ``x_div − 0.8``."""
    if lm.flat:
        x = lm.ref - CURRENT[1]
    else:
        x = min(lm.top, weight * lm.top + (1.0 - weight) * lm.ref - offset)
    return min(max(x, lm.lo), lm.hi)


Rule = tuple[float, float]


class Scorer:
    """Estimated regret per repetition and spread per spread-task, for any rule."""

    def __init__(self, reps: Sequence[Mapping[str, Any]], regret_at: Callable[..., float],
                 spread_sets: Mapping[str, Sequence[Any]],
                 pick_of: Callable[..., float] | None = None) -> None:
        self.reps, self._regret_at, self.spread_sets = reps, regret_at, spread_sets
        self.pick_of = pick if pick_of is None else pick_of  # (landmarks, *rule) -> log10 lr

    def regret(self, i: int, rule: Rule) -> float:
        rep = self.reps[i]
        return self._regret_at(rep, 10.0 ** self.pick_of(rep["landmarks"], *rule))

    def mean_regret(self, idx: Sequence[int], rule: Rule) -> float:
        return statistics.fmean(self.regret(i, rule) for i in idx)

    def spread(self, rule: Rule) -> dict[str, float]:
        return {task: statistics.stdev(self.pick_of(lm, *rule) for lm in lms)
                for task, lms in self.spread_sets.items()}

    def meets_spread(self, rule: Rule) -> bool:
        return all(s <= SPREAD_TARGET for s in self.spread(rule).values())


def best_rule(scorer: Scorer, idx: Sequence[int], rules: Sequence[Rule]) -> tuple[Rule, float]:
    """The rule with the lowest mean estimated regret over ``idx``; ties go to the rule nearer
    today's (smaller ``w``, then ``c`` nearer 0.8)."""
    scored = [((round(scorer.mean_regret(idx, r), 9), r[0], abs(r[1] - CURRENT[1])), r)
              for r in rules]
    key, rule = min(scored)
    return rule, key[0]


def cross_validate(scorer: Scorer, group: Callable[[Mapping[str, Any]], Any],
                   families: Mapping[str, Sequence[Rule]]) -> dict[str, Any]:
    """Per fold, each family's best rule on the other groups, scored on the held-out one."""
    held: dict[str, list[float]] = {name: [] for name in families}
    folds: dict[str, Any] = {}
    for gval in sorted({group(r) for r in scorer.reps}):
        train = [i for i, r in enumerate(scorer.reps) if group(r) != gval]
        test = [i for i, r in enumerate(scorer.reps) if group(r) == gval]
        fold: dict[str, Any] = {"n_held_out": len(test)}
        for name, rules in families.items():
            rule, train_regret = best_rule(scorer, train, rules)
            scores = [scorer.regret(i, rule) for i in test]
            held[name] += scores
            fold[name] = {"rule": list(rule), "train_regret_pp": train_regret,
                          "held_out_regret_pp": statistics.fmean(scores)}
        folds[str(gval)] = fold
    return {"folds": folds, "held_out_regret_pp": {
        k: {"mean": statistics.fmean(v), "std": statistics.stdev(v), "n": len(v)}
        for k, v in held.items()}}


def load_spread_sets(path: Path) -> dict[str, list[Landmarks]]:
    """The landmarks ``lr_spread.py`` stored per seed (its sweeps all diverged or rose; a
    missing landmark falls back to the largest one stored for that task)."""
    payload = json.loads(path.read_text())
    out: dict[str, list[Landmarks]] = {}
    for task, v in payload["tasks"].items():
        if task not in SPREAD_TASKS:
            continue
        runs = v["runs"]
        hi = max(max(x for x in (r["landmarks"]["x_div"], r["landmarks"]["x_rise"])
                     if x is not None) for r in runs)
        out[task] = [Landmarks(top=r["landmarks"]["x_rise"] if r["landmarks"]["x_rise"]
                               is not None else hi,
                               ref=r["landmarks"]["x_div"] if r["landmarks"]["x_div"]
                               is not None else hi,
                               flat=False, lo=-math.inf, hi=math.inf,
                               x_min=r["landmarks"]["x_min"]) for r in runs]
    return out


def markdown(scorer: Scorer, table: Sequence[Mapping[str, Any]], cvs: Mapping[str, Any],
             command: str) -> list[str]:
    tasks = list(scorer.spread_sets)
    budgets = sorted({r["epochs"] for r in scorer.reps})
    lines = [
        "# Which landmark should `auto` back off from? Held-out choice",
        "",
        f"Generated by `{command}`. Rule: log10(max LR) = min(x_R, w·x_R + (1 − w)·x_div − c) "
        "(x_R the basin top, x_div the divergence point; today w = 0, c = 0.8). Regret: "
        "validation accuracy **estimated** by interpolation in log-LR between the runs "
        "`lr_selection.py` trained at each budget, against the best grid point (pp), "
        f"{len(scorer.reps)} repetitions (4 tasks × 3 seeds × budgets {budgets} epochs). "
        f"Spread: std of the pick over the 8 seeds of `lr_spread.md` (target ≤ {SPREAD_TARGET}).",
        "",
        "## In-sample: the best rules, today's, and the best that meet the spread target",
        "",
        "| w | c | mean regret (pp) | " + " | ".join(f"{b} ep" for b in budgets) + " | "
        + " | ".join(f"spread {t}" for t in tasks) + " |",
        "|---|---|---|" + "---|" * (len(budgets) + len(tasks)),
    ]
    for row in table:
        lines.append(
            f"| {row['rule'][0]:g} | {row['rule'][1]:g} | {row['regret_pp']:.2f} | "
            + " | ".join(f"{row['by_budget'][str(b)]:.2f}" for b in budgets) + " | "
            + " | ".join(f"{row['spread'][t]:.3f}" for t in tasks) + " |"
            + ("  ← today" if tuple(row["rule"]) == CURRENT else ""))
    for name, cv in cvs.items():
        families = list(cv["held_out_regret_pp"])
        lines += ["", f"## {name}", "",
                  "| held out | " + " | ".join(f"{f}: rule (w, c), held-out pp"
                                               for f in families) + " |",
                  "|---|" + "---|" * len(families)]
        for k, f in cv["folds"].items():
            lines.append(f"| {k} | " + " | ".join(
                f"({f[n]['rule'][0]:g}, {f[n]['rule'][1]:g}) {f[n]['held_out_regret_pp']:.2f}"
                for n in families) + " |")
        h = cv["held_out_regret_pp"]
        lines += ["", "All folds: " + "; ".join(f"{k} {v['mean']:.2f} ± {v['std']:.2f} pp"
                                               for k, v in h.items()) + "."]
    return lines


def add_input_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spread", type=Path, default=RESULTS / "lr_spread.json")
    p.add_argument("--out-dir", type=Path, default=RESULTS)


def load_scored_repetitions(lr_selection_args: Sequence[str],
                            landmarks: Callable[..., Any]) -> list[dict[str, Any]]:
    """The stored repetitions of the ``lr_selection.py`` run those flags name, each with the
    ``landmarks`` of its range-test curve."""
    import lr_budget_rule
    import lr_selection

    reps = lr_budget_rule.load_repetitions(lr_selection,
                                           lr_selection.parse_args(lr_selection_args))
    for rep in reps:
        rep["landmarks"] = landmarks(rep["result"].lrs, rep["result"].losses)
    return reps


def main(argv: Sequence[str] | None = None) -> None:
    own, rest = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", nargs="+", type=float, default=list(DEFAULT_WEIGHTS))
    p.add_argument("--offsets", nargs="+", type=float, default=list(DEFAULT_OFFSETS))
    add_input_output_args(p)
    args = p.parse_args(own)

    import lr_budget_rule

    reps = load_scored_repetitions(rest, landmarks_of)
    for rep in reps:
        today = math.log10(rep["result"].suggest(method="auto",
                                                 guard_decades=CURRENT[1]).max_lr)
        if abs(pick(rep["landmarks"], *CURRENT) - today) > 1e-9:  # the rule is auto's
            raise SystemExit(f"rule (0, 0.8) does not reproduce auto on {rep['task']} "
                             f"seed {rep['seed']}: {pick(rep['landmarks'], *CURRENT)} vs {today}")
    scorer = Scorer(reps, lr_budget_rule.estimated_regret, load_spread_sets(args.spread))
    rules = sorted({(w, c) for w in args.weights for c in args.offsets} | {CURRENT})
    every = range(len(reps))
    budgets = sorted({r["epochs"] for r in reps})

    def row(rule: Rule) -> dict[str, Any]:
        return {"rule": list(rule), "regret_pp": scorer.mean_regret(every, rule),
                "by_budget": {str(b): scorer.mean_regret(
                    [i for i, r in enumerate(reps) if r["epochs"] == b], rule) for b in budgets},
                "spread": scorer.spread(rule), "meets_spread": scorer.meets_spread(rule)}

    rows = sorted((row(r) for r in rules), key=lambda x: x["regret_pp"])
    spread_ok = [r for r in rules if scorer.meets_spread(r)]
    shown = rows[:5] + [x for x in rows if x["meets_spread"]][:5] + [row(CURRENT)]
    shown = list({tuple(x["rule"]): x for x in shown}.values())
    families = {"current": [CURRENT], "guard only": [r for r in rules if r[0] == 0.0],
                "blend": rules, "blend, spread ≤ 0.1": spread_ok}
    cvs = {f"Leave one {what} out": cross_validate(scorer, key, families)
           for what, key in (("task", lambda r: r["task"]), ("seed", lambda r: r["seed"]),
                             ("budget", lambda r: r["epochs"]))}
    command = ("python benchmarks/lr_landmark_rule.py " + " ".join(own)
               + (" -- " + " ".join(rest) if rest else "")).replace("  ", " ").strip()
    payload = {"benchmark": NAME, "rule": "min(x_R, w*x_R + (1-w)*x_div - c)",
               "spread_target": SPREAD_TARGET,
               "repetitions": [(r["task"], r["seed"], r["epochs"], r["steps"]) for r in reps],
               "rules": rows, "cross_validation": cvs, "command": command}
    lines = markdown(scorer, shown, cvs, command)
    write_results(NAME, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
