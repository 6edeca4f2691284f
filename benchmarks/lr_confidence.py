"""Does ``auto``'s confidence, or the disagreement of its landmarks, warn of a bad pick?
(issue 19)

Issue 19 suggests "a confidence that drops when landmarks disagree". Before building one, this
script asks whether the disagreement carries any information about the pick's quality, on the
stored repetitions of the multi-budget ``lr_selection.py`` run (nothing is trained). Per
repetition (task × seed × budget), in ``x = log10(lr)``:

* ``confidence``: ``auto``'s own (depth of the descent, divergence seen, support, flags);
* ``top − pick``: how far below the top of the low basin ``x_R`` the divergence guard put the
  pick (0 when the pick is the basin top, i.e. the two landmarks agree);
* ``|pick − x_min|``: distance of the pick from the LR of the smoothed loss's minimum;
* ``divergence − top``: distance from the basin top to the divergence point (or the end of the
  sweep);

against the **estimated regret** of ``auto``'s pick (validation accuracy interpolated in
log-LR between the repetition's trained grid runs, against its best grid point, pp; the
estimate of ``lr_budget_rule.py``). Reported: Spearman's ρ of each quantity with the regret
(a useful warning has ρ clearly below 0 for the confidence, above 0 for a disagreement), over
all repetitions and per budget, and the mean regret of the repetitions below and above the
median of each quantity.

    python benchmarks/lr_confidence.py -- <the lr_selection.py flags of the budget run>

Writes benchmarks/results/lr_confidence.{json,md}.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, spearman, split_forwarded_args, write_results  # noqa: E402

NAME = "lr_confidence"
#: (key, label, sign a warning would have: +1 = larger means worse)
QUANTITIES = (
    ("confidence", "confidence", -1),
    ("top_minus_pick", "top − pick", +1),
    ("pick_to_min", "distance pick – x_min", +1),
    ("div_minus_top", "divergence − top", +1),
)


def quantities(pick_log_lr: float, confidence: float, top: float, ref: float,
               x_min: float) -> dict[str, float]:
    """The four candidate warnings of one curve (``top``, ``ref`` = basin top and divergence
    point (or sweep end), ``x_min`` = the smoothed minimum, all in log10 LR)."""
    return {"confidence": confidence, "top_minus_pick": top - pick_log_lr,
            "pick_to_min": abs(pick_log_lr - x_min), "div_minus_top": ref - top}


def split_at_median(values: Sequence[float], regrets: Sequence[float]) -> dict[str, float]:
    """Mean regret of the rows whose value is ≤ the median and of those above it."""
    med = statistics.median(values)
    low = [r for v, r in zip(values, regrets, strict=True) if v <= med]
    high = [r for v, r in zip(values, regrets, strict=True) if v > med]
    return {"median": med, "regret_low": statistics.fmean(low) if low else math.nan,
            "regret_high": statistics.fmean(high) if high else math.nan}


def analyse(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    budgets = sorted({r["epochs"] for r in rows})
    out: dict[str, Any] = {}
    for key, _, _ in QUANTITIES:
        values = [r[key] for r in rows]
        regrets = [r["regret_pp"] for r in rows]
        out[key] = {
            "rho": spearman(values, regrets),
            "rho_by_budget": {str(b): spearman([r[key] for r in rows if r["epochs"] == b],
                                               [r["regret_pp"] for r in rows
                                                if r["epochs"] == b]) for b in budgets},
            **split_at_median(values, regrets),
        }
    return out


def markdown(rows: Sequence[Mapping[str, Any]], analysis: Mapping[str, Any],
             command: str) -> list[str]:
    budgets = sorted({r["epochs"] for r in rows})
    lines = [
        "# Does `auto`'s confidence, or the disagreement of its landmarks, warn of a bad pick?",
        "",
        f"{len(rows)} stored repetitions (task × seed × budget) of the multi-budget "
        "`lr_selection.py` run; estimated regret of `auto`'s pick (accuracy interpolated "
        "between the trained grid runs, pp). ρ = Spearman's rank correlation with the regret: "
        "a useful warning needs ρ clearly below 0 for the confidence and above 0 for a "
        f"disagreement. Nothing trained. Command: `{command}`.",
        "",
        "| quantity | ρ with regret (all) | " + " | ".join(f"ρ, {b} epochs" for b in budgets)
        + " | median | mean regret ≤ median (pp) | mean regret > median (pp) |",
        "|---|---|" + "---|" * len(budgets) + "---|---|---|",
    ]
    for key, label, _ in QUANTITIES:
        a = analysis[key]
        lines.append(f"| {label} | {a['rho']:+.2f} | "
                     + " | ".join(f"{a['rho_by_budget'][str(b)]:+.2f}" for b in budgets)
                     + f" | {a['median']:.2f} | {a['regret_low']:.2f} | {a['regret_high']:.2f} |")
    lines += ["", "Per repetition:", "",
              "| task | seed | epochs | max LR | confidence | top − pick | distance pick – x_min "
              "| divergence − top | regret (pp) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['seed']} | {r['epochs']} | {r['max_lr']:.3g} | "
                     f"{r['confidence']:.2f} | {r['top_minus_pick']:+.2f} | "
                     f"{r['pick_to_min']:.2f} | {r['div_minus_top']:+.2f} | "
                     f"{r['regret_pp']:.2f} |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    own, rest = split_forwarded_args(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(own)

    import lr_budget_rule
    from lr_landmark_rule import landmarks_of, load_scored_repetitions

    rows = []
    for rep in load_scored_repetitions(rest, landmarks_of):
        lm = rep["landmarks"]
        pick = rep["result"].suggest(method="auto")
        rows.append({"task": rep["task"], "seed": rep["seed"], "epochs": rep["epochs"],
                     "max_lr": pick.max_lr,
                     "regret_pp": lr_budget_rule.estimated_regret(rep, pick.max_lr),
                     **quantities(math.log10(pick.max_lr), pick.confidence, lm.top, lm.ref,
                                  lm.x_min)})
    analysis = analyse(rows)
    command = ("python benchmarks/lr_confidence.py " + " ".join(own)
               + (" -- " + " ".join(rest) if rest else "")).replace("  ", " ").strip()
    lines = markdown(rows, analysis, command)
    write_results(NAME, {"benchmark": NAME, "command": command, "analysis": analysis,
                         "rows": rows}, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
