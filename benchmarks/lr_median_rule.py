"""Does a median of three landmarks pick a better max LR than ``auto``'s rule? (issue 19)

``auto`` picks ``x_max = min(x_R, x_div − 0.8)`` in ``x = log10(lr)``. On the MLPs of
``lr_selection.py`` the divergence point ``x_div`` moves by up to a decade between seeds while
the LR of the smoothed loss's minimum ``x_min`` stays within 0.1 decade of the best grid LR;
on the Fashion-MNIST CNN it is the other way round (``lr_spread.md``: ``x_min`` spreads 0.36
decade, ``x_div`` 0.04). The median of three estimates follows whichever two agree:

    x_max = median(x_R, x_div − c, x_min + d)

Scored exactly like ``lr_landmark_rule.py`` (the same repetitions, estimated regret by
interpolation between the trained grid runs, spread on the 8-seed range tests, the same three
cross-validations), with today's rule as the other family. Nothing is trained.

    python benchmarks/lr_median_rule.py -- <the lr_selection.py flags of the budget run>

Writes benchmarks/results/lr_median_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import split_forwarded_args, write_results  # noqa: E402
from lr_landmark_rule import (  # noqa: E402
    CURRENT,
    SPREAD_TARGET,
    SPREAD_TASKS,
    Scorer,
    add_input_output_args,
    cross_validate,
    load_scored_repetitions,
)

NAME = "lr_median_rule"
OFFSETS_C = tuple(round(0.1 * k, 1) for k in range(16))  # 0 … 1.5 decades below x_div
OFFSETS_D = tuple(round(0.1 * k, 1) for k in range(-6, 7))  # −0.6 … +0.6 around x_min


class Landmarks3(NamedTuple):
    top: float  # basin top x_R (end of the sweep without a rise)
    ref: float  # divergence x_div (end of the sweep without divergence)
    x_min: float  # LR of the smoothed loss's minimum
    flat: bool
    lo: float
    hi: float


def landmarks_of(lrs: Sequence[float], losses: Sequence[float]) -> Landmarks3:
    from superconverge.bounds.auto import analyse_curve

    a = analyse_curve(np.asarray(lrs, float), np.asarray(losses, float))
    lo, hi = math.log10(lrs[0]), math.log10(lrs[-1])
    return Landmarks3(top=a.x_rise if a.x_rise is not None else hi,
                      ref=a.x_div if a.diverged else hi, x_min=float(a.x[a.i_min]),
                      flat=bool(a.flat), lo=lo, hi=hi)


def pick(lm: Landmarks3, kind: str, c: float, d: float = 0.0) -> float:
    """``"current"``: ``min(x_R, x_div − c)``; ``"median"``: ``median(x_R, x_div − c,
    x_min + d)``; clamped to the sweep; a flat curve keeps ``auto``'s placeholder."""
    if lm.flat:
        x = lm.ref - CURRENT[1]
    elif kind == "current":
        x = min(lm.top, lm.ref - c)
    else:
        x = float(np.median([lm.top, lm.ref - c, lm.x_min + d]))
    return min(max(x, lm.lo), lm.hi)


def load_spread_sets(path: Path) -> dict[str, list[Landmarks3]]:
    payload = json.loads(path.read_text())
    out = {}
    for task in SPREAD_TASKS:
        runs = payload["tasks"][task]["runs"]
        hi = max(max(x for x in (r["landmarks"]["x_div"], r["landmarks"]["x_rise"])
                     if x is not None) for r in runs)
        out[task] = [Landmarks3(
            top=hi if r["landmarks"]["x_rise"] is None else r["landmarks"]["x_rise"],
            ref=hi if r["landmarks"]["x_div"] is None else r["landmarks"]["x_div"],
            x_min=r["landmarks"]["x_min"], flat=False, lo=-math.inf, hi=math.inf)
            for r in runs]
    return out


def main(argv: Sequence[str] | None = None) -> None:
    own, rest = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_input_output_args(p)
    args = p.parse_args(own)

    import lr_budget_rule

    reps = load_scored_repetitions(rest, landmarks_of)
    scorer = Scorer(reps, lr_budget_rule.estimated_regret, load_spread_sets(args.spread),
                    pick_of=pick)
    today = ("current", CURRENT[1], 0.0)
    families = {"current (c = 0.8)": [today],
                "current, best c": [("current", c, 0.0) for c in OFFSETS_C],
                "median": [("median", c, d) for c in OFFSETS_C for d in OFFSETS_D]}
    families[f"median, spread ≤ {SPREAD_TARGET}"] = [r for r in families["median"]
                                                     if scorer.meets_spread(r)]
    every = range(len(reps))
    tasks = sorted({r["task"] for r in reps})

    def row(rule: tuple) -> dict[str, Any]:
        return {"rule": list(rule), "regret_pp": scorer.mean_regret(every, rule),
                "by_task": {t: scorer.mean_regret(
                    [i for i, r in enumerate(reps) if r["task"] == t], rule) for t in tasks},
                "spread": scorer.spread(rule), "meets_spread": scorer.meets_spread(rule)}

    medians = sorted((row(r) for r in families["median"]), key=lambda x: x["regret_pp"])
    shown = medians[:5] + [x for x in medians if x["meets_spread"]][:3] + [row(today)]
    cvs = {f"Leave one {what} out": cross_validate(scorer, key, families)
           for what, key in (("task", lambda r: r["task"]), ("seed", lambda r: r["seed"]),
                             ("budget", lambda r: r["epochs"]))}
    command = ("python benchmarks/lr_median_rule.py " + " ".join(own)
               + (" -- " + " ".join(rest) if rest else "")).replace("  ", " ").strip()
    spread_tasks = list(scorer.spread_sets)
    lines = [
        "# A median of three landmarks for `auto`'s max LR? Held-out check", "",
        f"Generated by `{command}`. Rule: log10(max LR) = median(x_R, x_div − c, x_min + d) "
        "(x_R the basin top, x_div the divergence point, x_min the LR of the smoothed loss's "
        "minimum) against today's min(x_R, x_div − 0.8). Regret estimated as in "
        f"`lr_landmark_rule.md` ({len(reps)} repetitions); spread = std of the pick over the 8 "
        f"seeds of `lr_spread.md` (target ≤ {SPREAD_TARGET}).", "",
        "## In-sample: the best median rules, the best that meet the spread target, today's", "",
        "| rule | c | d | mean regret (pp) | " + " | ".join(tasks) + " | "
        + " | ".join(f"spread {t}" for t in spread_tasks) + " |",
        "|---|---|---|---|" + "---|" * (len(tasks) + len(spread_tasks)),
    ]
    for x in list({tuple(r["rule"]): r for r in shown}.values()):
        kind, c, d = x["rule"]
        lines.append(f"| {kind} | {c:g} | {d:g} | {x['regret_pp']:.2f} | "
                     + " | ".join(f"{x['by_task'][t]:.2f}" for t in tasks) + " | "
                     + " | ".join(f"{x['spread'][t]:.3f}" for t in spread_tasks) + " |")
    for name, cv in cvs.items():
        h = cv["held_out_regret_pp"]
        lines += ["", f"**{name}** (held-out regret, pp): " + "; ".join(
            f"{k} {v['mean']:.2f} ± {v['std']:.2f}" for k, v in h.items()) + ". Folds: "
            + "; ".join(f"{k}: " + ", ".join(
                f"{n} {tuple(f[n]['rule'][1:])} {f[n]['held_out_regret_pp']:.2f}"
                for n in families) for k, f in cv["folds"].items()) + "."]
    payload = {"benchmark": NAME, "rule": "median(x_R, x_div - c, x_min + d)",
               "spread_target": SPREAD_TARGET, "rules": [*medians, row(today)],
               "cross_validation": cvs, "command": command}
    write_results(NAME, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
