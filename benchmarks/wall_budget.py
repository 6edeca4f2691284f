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
    p.add_argument("--collect", action="store_true",
                   help="read the finished run directories again instead of running (the "
                        "load average is then unknown)")
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
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds", "one_cycle", "evaluate"])
    return {"budget": budget_text, "seed": seed, **read_run(out),
            "load_average": os.getloadavg()}


def read_run(out: Path) -> dict[str, Any]:
    """A finished run's figures: the plan, the outcome, and the step time the calibration
    measured against the one the training epochs ran at (the median over epochs 2 and on of
    ``(epoch seconds - per-epoch overhead) / steps``: the machine's drift shows there)."""
    import csv
    import statistics

    from superconverge.io import read_json

    metrics, plan = read_json(out / "metrics.json"), read_json(out / "budget.json")
    with open(out / "one_cycle_history.csv", newline="") as handle:
        ends = [float(row["wall_time"]) for row in csv.DictReader(handle)]
    epoch_seconds = [b - a for a, b in zip([0.0, *ends], ends)]
    whole = epoch_seconds[1:-1] if len(epoch_seconds) > 2 else epoch_seconds[:1]
    with open(out / "one_cycle_applied.csv", newline="") as handle:
        trained = sum(1 for _ in csv.DictReader(handle))
    return {**metrics["budget"], "test_accuracy": metrics["one_cycle"]["test_accuracy"],
            "calibrated_step_ms": 1000 * plan["step_seconds"],
            "training_step_ms": 1000 * statistics.median(
                (e - plan["epoch_overhead_seconds"]) / plan["steps_per_epoch"] for e in whole),
            "trained_steps": trained}


def main(argv: list[str] | None = None) -> None:
    import keras

    from superconverge.budget import DEFAULT_MARGIN

    args = build_parser().parse_args(argv)
    if args.collect:  # the load averages recorded when the runs were timed, where known
        from superconverge.io import read_json

        previous = args.out_dir / f"{args.name}.json"
        loads = ({(r["budget"], r["seed"]): r.get("load_average")
                  for r in read_json(previous)["runs"]} if previous.exists() else {})
        rows = [{"budget": b, "seed": s, **read_run(args.work_dir / args.name / f"{b}-seed{s}"),
                 "load_average": loads.get((b, s))} for b in args.budgets for s in args.seeds]
    else:
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
        "| budget | seed | planned epochs | planned steps | trained steps | step ms: calibrated "
        "/ in training | planned s | actual s | actual / budget | test accuracy (%) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['budget']} ({r['budget_seconds']:.0f} s) | {r['seed']} | {r['planned_epochs']} "
            f"| {r.get('planned_steps', '–')} | {r.get('trained_steps', '–')} "
            f"| {r.get('calibrated_step_ms', 0):.1f} / {r.get('training_step_ms', 0):.1f} "
            f"| {r['planned_seconds']:.0f} "
            f"| {r['actual_seconds']:.0f} "
            f"| {r['actual_over_budget']:.3f} | {100 * r['test_accuracy']:.2f} "
            f"| {r['load_average'][0] if r['load_average'] else float('nan'):.2f} |")
    lines += ["", "Target: actual / budget in [0.95, 1.00]. The planner keeps a "
              f"{100 * DEFAULT_MARGIN:.0f} % margin and plans optimizer steps (the last epoch "
              "may be partial), so a run should end about the margin early. From the second "
              "epoch on, a guard re-lays the rest of the one-cycle schedule over the steps "
              "that fit at the pace measured so far (up to 1.5x the plan): trained > planned "
              "steps where the epochs ran faster than the calibration measured, < where "
              "slower. The step time calibrated against the one the epochs ran at shows how "
              "far the machine's speed drifted between the two."]
    write_results(args.name, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
