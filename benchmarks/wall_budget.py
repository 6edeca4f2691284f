"""Does ``superconverge run --budget`` end on time? (issue 16, item 5)

For each budget, the default pipeline on Fashion-MNIST with ``budget_seconds`` set and no
baseline (``prepare → range_test → bounds → one_cycle → evaluate``): the planner measures the
one-cycle configuration's step, validation, checkpoint and once-per-run costs
(``Pipeline.measure_one_cycle_costs``) and turns them into a number of epochs, and the run's
``metrics.json`` records the planned and the actual seconds of everything the budget covers
(data, range test, calibration, bounds, one-cycle).
Reported per budget: planned epochs, planned and actual seconds, actual / budget, and the test
accuracy of the model. Target: actual within 5 % of the budget, never over it.

A timing benchmark: run it alone on the machine (it records the load average).

    KERAS_BACKEND=torch python benchmarks/wall_budget.py [--budgets 3m] [--seeds 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, system_info, write_results  # noqa: E402

NAME = "wall_budget"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budgets", nargs="+", default=["3m"], help="e.g. 90s 3m 5m")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--train-subset", type=int, default=None)
    p.add_argument("--work-dir", type=Path, default=HERE.parent / "runs" / NAME)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default=NAME, help="results file stem")
    return p


def one_run(budget_text: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from superconverge.budget import parse_duration
    from superconverge.pipeline import Pipeline, RunConfig

    out = args.work_dir / args.name / f"{budget_text}-seed{seed}"
    if out.exists():  # a timing: never resumed, always measured in one go
        shutil.rmtree(out)
    config = RunConfig(dataset=args.dataset, train_subset=args.train_subset, seed=seed,
                       budget_seconds=parse_duration(budget_text), baseline_epochs=0,
                       out=str(out))
    summary = Pipeline(config, quiet=True).run(
        ["prepare", "range_test", "bounds", "one_cycle", "evaluate"])
    budget = summary.metrics["budget"]
    return {"budget": budget_text, "seed": seed, **budget,
            "test_accuracy": summary.metrics["one_cycle"]["test_accuracy"],
            "load_average": os.getloadavg()}


def main(argv: list[str] | None = None) -> None:
    import keras

    from superconverge.budget import DEFAULT_MARGIN

    args = build_parser().parse_args(argv)
    rows = [one_run(b, s, args) for b in args.budgets for s in args.seeds]
    payload = {"benchmark": NAME, "backend": keras.backend.backend(), "system": system_info(),
               "dataset": args.dataset, "train_subset": args.train_subset, "runs": rows}
    lines = [
        "# Wall-clock budget: planned against actual",
        "",
        f"`superconverge run --budget B --baseline-epochs 0`, {args.dataset}, default recipe, "
        f"backend {keras.backend.backend()}; the budget covers data loading, range test, bounds "
        "and one-cycle training (the test evaluation and report come after it). Alone on the "
        "machine; load average after each run in the last column.",
        "",
        "| budget | seed | planned epochs | planned steps | planned s | actual s "
        "| actual / budget | test accuracy (%) | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['budget']} ({r['budget_seconds']:.0f} s) | {r['seed']} | {r['planned_epochs']} "
            f"| {r.get('planned_steps', '–')} | {r['planned_seconds']:.0f} "
            f"| {r['actual_seconds']:.0f} "
            f"| {r['actual_over_budget']:.3f} | {100 * r['test_accuracy']:.2f} "
            f"| {r['load_average'][0]:.2f} |")
    lines += ["", "Target: actual / budget in [0.95, 1.00]. The planner keeps a "
              f"{100 * DEFAULT_MARGIN:.0f} % margin and plans optimizer steps (the last epoch "
              "may be partial), so a run should end about the margin early."]
    write_results(args.name, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
