"""Budget curves: test accuracy against the epoch budget E, for the step-decay baseline
compressed to E epochs and for the pipeline's one-cycle at E (issue 13, part 1).

What is measured
----------------
Two arms, each a set of pipeline runs (``superconverge.Pipeline``, one run directory per
(arm, E, seed) under ``WORK/MODEL/ARM/eE/seedS``):

* ``baseline``: the pipeline's step-decay baseline trained for E epochs, and nothing else (the
  stages prepare → baseline → evaluate: no range test, no one-cycle model). Exactly the
  baseline of ``epoch_economy.py``, compressed: SGD momentum 0.9, LR 0.1 divided by 10 at 50%
  and at 75% of its E epochs (the drops fall mid-epoch when E is odd), weight decay 5e-4,
  batch-norm momentum 0.99. Not weakened for short budgets.
* ``one_cycle``: the pipeline's one-cycle for E epochs with its own range test and ``auto``
  bounds (prepare → range_test → bounds → one_cycle → evaluate), with the ``RunConfig``
  overrides of ``--one-cycle-config KEY=VALUE,...`` (recorded in the JSON), so this arm can be
  run with whichever recipe becomes the default.

Every run holds out the same stratified 10% of the training split for validation (per seed).
Nothing is chosen on the test set: the recipe is fixed before the runs, and the test set is
touched once per trained model, by the pipeline's evaluate stage. Per (arm, E): validation and
test accuracy, mean ± sample std over seeds; training wall time.

Speed-up at equal accuracy: for each one-cycle budget E, the epochs the baseline needs to reach
one-cycle's mean test accuracy at E, by linear interpolation of the baseline's mean test
accuracy between its measured budgets (the first crossing; ``> max`` when one-cycle is above
the baseline's best measured mean, ``<= min`` when the baseline's smallest budget already
reaches it). The same on validation accuracy is in the JSON, as a check.

The baseline at E = 20 for seeds 0–2 was trained by ``epoch_economy.py`` (the same pipeline
baseline, the same seeds, split and settings); its rows in ``--economy-results`` are reused
instead of retraining when the settings match (``source`` in each row says which).

Wall times: these are accuracy runs on a shared 2-core machine, not timing benchmarks; the
load average is recorded at the start and after each run.

``--arms`` chooses the arms this invocation trains; the outputs always cover both, from the
finished run directories under ``--work-dir`` and, for runs not there, the rows of the
``budget_curves.json`` already in ``--out-dir`` when it was made with the same settings (and,
for one-cycle rows, the same ``--one-cycle-config``). One-cycle runs with overrides live in
``WORK/MODEL/one_cycle-KEY=VALUE,.../eE/seedS``; a finished run directory whose config.json
differs from this invocation's settings stops the benchmark instead of being reported.

Resuming: a killed invocation started again with the same flags reads finished runs and
resumes an interrupted one at its last finished epoch. ``--max-runs K`` trains at most K runs
and then writes the outputs (``--max-runs 0``: only rebuild the outputs from finished runs).
The outputs ``OUT/budget_curves.{json,md,png}`` are rewritten atomically after every run; runs
not yet made are listed as missing.

    OMP_NUM_THREADS=1 nice -n 10 env KERAS_BACKEND=torch python benchmarks/budget_curves.py \\
        --arms baseline
    python benchmarks/budget_curves.py --arms one_cycle --one-cycle-config lr_end=zero_half
    python benchmarks/budget_curves.py --plan
    python benchmarks/budget_curves.py --dataset synthetic --budgets 1 2 --seeds 0 1 \\
        --train-subset 160 --batch-size 16 --range-steps 10 --out-dir /tmp/bc \\
        --work-dir /tmp/bc/work   # toy run
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    RESULTS,
    economy_baselines,
    run_is_finished,
    stats,
    system_info,
    write_results,
)

NAME = "budget_curves"
DEFAULT_WORK = HERE.parent / "runs" / NAME
ARMS = ("baseline", "one_cycle")
ARM_LABELS = {"baseline": "step decay (baseline)", "one_cycle": "one-cycle"}
BASELINE_STAGES = ["prepare", "baseline", "evaluate"]
ONE_CYCLE_STAGES = ["prepare", "range_test", "bounds", "one_cycle", "evaluate"]
# training images/s of simple_cnn measured on this machine at one thread (≈ 55 s per epoch of
# 54,000 images); other models from epoch_economy.py's table
THROUGHPUT = {"simple_cnn": 1000.0, "resnet20": 450.0}
INFERENCE_SPEEDUP = 3.0
SIDECAR = "budget_curves_run.json"  # this benchmark's note in each run directory

logger = logging.getLogger(NAME)


# ----------------------------------------------------------------------------- pure helpers
def epochs_to_reach(budgets: list[float], accuracies: list[float], target: float
                    ) -> dict[str, Any]:
    """The epochs at which the piecewise-linear curve through ``(budgets, accuracies)`` first
    reaches ``target``.

    Returns ``{"epochs": float | None, "bound": None | "above" | "below", "text": str}``:
    ``bound = "above"`` (``epochs`` None, text ``"> max"``) when the target exceeds every
    measured accuracy; ``"below"`` (``epochs`` = the smallest budget, text ``"<= min"``) when
    the smallest budget already reaches it.
    """
    points = sorted(zip(budgets, accuracies))
    if not points:
        raise ValueError("epochs_to_reach needs at least one measured budget")
    xs, ys = [float(x) for x, _ in points], [float(y) for _, y in points]
    if ys[0] >= target:
        return {"epochs": xs[0], "bound": "below", "text": f"<= {xs[0]:g}"}
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if y1 >= target:  # y0 < target <= y1
            epochs = x0 + (target - y0) / (y1 - y0) * (x1 - x0)
            return {"epochs": epochs, "bound": None, "text": f"{epochs:.1f}"}
    return {"epochs": None, "bound": "above", "text": f"> {xs[-1]:g}"}


def parse_overrides(text: str | None) -> dict[str, Any]:
    """``"lr_end=zero_half,ema_momentum=0.999"`` → typed RunConfig overrides (the syntax and
    the fields of ``recipe_ablation.py``'s variants)."""
    if not text:
        return {}
    from recipe_ablation import parse_variant

    return parse_variant(text)


# ------------------------------------------------------------------------------- the plan
def arm_folder(arm: str, overrides: dict[str, Any]) -> str:
    """``baseline``, ``one_cycle`` or ``one_cycle-KEY=VALUE,...``: runs of another one-cycle
    recipe live in their own folders."""
    if arm == "one_cycle" and overrides:
        from recipe_ablation import variant_label

        return f"{arm}-{variant_label(overrides)}"
    return arm


def run_plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    """One item per (arm, E, seed) of both arms, small budgets first: every seed of a budget
    finishes before the next budget starts. Only the arms in ``--arms`` train
    (``item["train"]``); the outputs always cover both."""
    budgets = {"baseline": sorted(set(args.budgets) | set(args.baseline_extra_budgets)),
               "one_cycle": sorted(set(args.budgets))}
    plan = []
    for epochs in sorted(set(budgets["baseline"]) | set(budgets["one_cycle"])):
        for arm in ARMS:
            if epochs not in budgets[arm]:
                continue
            for seed in args.seeds:
                plan.append({"arm": arm, "epochs": epochs, "seed": seed,
                             "train": arm in args.arms,
                             "dir": Path(args.work_dir) / args.model
                             / arm_folder(arm, args.overrides) / f"e{epochs}" / f"seed{seed}"})
    return plan


def run_config(args: argparse.Namespace, item: dict[str, Any]) -> Any:
    from superconverge.pipeline import RunConfig

    base = RunConfig(
        dataset=args.dataset, data_path=args.data_path, model=args.model,
        train_subset=args.train_subset, seed=item["seed"], batch_size=args.batch_size,
        weight_decay=args.weight_decay, augment=False, range_steps=args.range_steps,
        baseline_lr=args.baseline_lr, out=str(item["dir"]),
        # the baseline arm trains only the baseline; its one-cycle fields are unused
        epochs=item["epochs"],
        baseline_epochs=item["epochs"] if item["arm"] == "baseline" else 0,
    )
    if item["arm"] == "one_cycle" and args.overrides:
        base = base.replace(**args.overrides)
    return base


def stages_for(arm: str) -> list[str]:
    return BASELINE_STAGES if arm == "baseline" else ONE_CYCLE_STAGES


# ------------------------------------------------------------------- reuse of epoch_economy
def economy_rows(args: argparse.Namespace, sizes: tuple[int, int, int]) -> dict[tuple, dict]:
    """Baseline rows of ``--economy-results`` usable here: {(epochs, seed): row}.

    Only when its settings are ours (data set, training examples, batch size, weight decay,
    baseline LR, no augmentation); each row must have test and validation accuracy and wall
    time."""
    path = args.economy_results
    rows = economy_baselines(path, args.model, {
        "dataset": args.dataset,
        "train_examples": min(args.train_subset or sizes[0], sizes[0]),
        "validation_examples": sizes[1],
        "batch_size": args.batch_size,
        "weight_decay": args.weight_decay,
        "baseline_lr": args.baseline_lr,
        "augment": False,
    })
    out = {}
    for row in rows:
        out[(int(row["epochs"]), int(row["seed"]))] = {
            "arm": "baseline",
            "epochs": int(row["epochs"]),
            "seed": int(row["seed"]),
            # the final model's: the last epoch's validation accuracy
            "val_accuracy": float(row["val_accuracy"][-1]),
            "test_accuracy": float(row["test_accuracy"]),
            "test_loss": row.get("test_loss"),
            "wall_time": float(row["wall_time"]),
            "final_train_loss": row.get("final_train_loss"),
            "final_train_accuracy": row.get("final_train_accuracy"),
            "train_examples": row.get("train_examples"),
            "run_dir": row.get("run_dir"),
            "source": f"reused from {Path(path).name}",
        }
    return out


# ---------------------------------------------------------------------------------- running
def config_changes(args: argparse.Namespace, item: dict[str, Any]) -> list[str]:
    """Keys in which the run directory's config.json differs from this invocation's (a key
    the saved file lacks is a field added since: not a difference)."""
    from superconverge.io import read_json

    saved = read_json(item["dir"] / "config.json")
    current = run_config(args, item).to_dict()
    return sorted(k for k in saved.keys() & current.keys()
                  if k != "out" and saved[k] != current[k])


def finished_row(args: argparse.Namespace, item: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a finished run directory of this configuration; None if not finished.
    A finished run made with other settings (e.g. before a RunConfig default changed) stops
    the benchmark: its numbers must not be reported as this configuration's."""
    if not run_is_finished(item["dir"]):
        return None
    changed = config_changes(args, item)
    if changed:
        raise SystemExit(
            f"{item['dir']} holds a finished run with other settings ({', '.join(changed)}); "
            "use another --work-dir, or remove that folder to train it again"
        )
    return collect(item)


#: settings that must agree before rows of an earlier output are carried over
_CARRY_KEYS = ("dataset", "model", "train_examples", "validation_examples", "batch_size",
               "weight_decay", "baseline_lr")


def previous_rows(out_dir: Path, settings: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    """Rows of the ``budget_curves.json`` already in ``out_dir``, {(arm, E, seed): row}, when
    made with the same settings (and, for one-cycle rows, the same ``one_cycle_config`` and
    range-test steps): a later invocation that trains one arm keeps the other arm's results
    even when its run directories are elsewhere."""
    from superconverge.io import read_json

    path = out_dir / f"{NAME}.json"
    if not path.exists():
        return {}
    old = read_json(path)
    s = old.get("settings", {})
    if any(s.get(k) != settings[k] for k in _CARRY_KEYS):
        logger.info("%s was made with other settings; its rows are not carried over", path)
        return {}
    same_recipe = (s.get("one_cycle_config") == settings["one_cycle_config"]
                   and s.get("range_steps") == settings["range_steps"])
    return {(r["arm"], r["epochs"], r["seed"]): r for r in old.get("runs", [])
            if r["arm"] == "baseline" or same_recipe}


def execute(args: argparse.Namespace, item: dict[str, Any]) -> None:
    from superconverge.pipeline import Pipeline

    pipeline = Pipeline(run_config(args, item), quiet=True)
    stages = stages_for(item["arm"])
    planned = pipeline.planned_stages()
    assert all(s in planned for s in stages), (stages, planned)
    pipeline.run(stages)


def collect(item: dict[str, Any]) -> dict[str, Any]:
    """The finished run's row."""
    from superconverge.io import read_csv, read_json

    run_dir = item["dir"]
    arm = item["arm"]
    metrics = read_json(run_dir / "metrics.json")[arm]
    history = read_csv(run_dir / f"{arm}_history.csv")
    training = read_json(run_dir / f"{arm}_training.json")
    state = read_json(run_dir / "state.json")
    # the final model's validation accuracy: after EMA / precise BN / TTA for one-cycle
    final = training.get("final") or {}
    val = final.get("val_accuracy", history[-1]["val_accuracy"])
    row: dict[str, Any] = {
        "arm": arm,
        "epochs": int(metrics["epochs"]),
        "seed": item["seed"],
        "val_accuracy": float(val),
        "test_accuracy": float(metrics["test_accuracy"]),
        "test_loss": float(metrics["test_loss"]),
        "wall_time": float(metrics["wall_time"]),
        "final_train_loss": float(history[-1]["loss"]),
        "final_train_accuracy": float(history[-1]["accuracy"]),
        "train_examples": read_json(run_dir / "data.json").get("train"),
        "run_dir": _display_path(run_dir),
        "source": "trained",
        "load_average_after": (read_json(run_dir / SIDECAR).get("load_average_after")
                               if (run_dir / SIDECAR).exists() else None),
    }
    if arm == "one_cycle":
        bounds = read_json(run_dir / "bounds.json")
        row["range_test_s"] = float(state["stages"].get("range_test", {}).get("seconds", 0.0))
        row["bounds"] = {k: bounds.get(k) for k in (
            "max_lr", "min_lr", "method", "confidence", "bn_momentum", "weight_decay")}
    return row


def _display_path(path: Path) -> str:
    """Relative to the repository when inside it (as in the other benchmarks' JSON)."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def versions() -> dict[str, str]:
    import keras
    import numpy

    out = {"keras": keras.__version__, "numpy": numpy.__version__}
    if keras.backend.backend() == "torch":
        import torch

        out["torch"] = torch.__version__
    return out


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# -------------------------------------------------------------------------------- summaries
def summarize(rows: list[dict[str, Any]], arms: list[str]) -> list[dict[str, Any]]:
    out = []
    for arm in arms:
        for epochs in sorted({r["epochs"] for r in rows if r["arm"] == arm}):
            sel = sorted((r for r in rows if r["arm"] == arm and r["epochs"] == epochs),
                         key=lambda r: r["seed"])
            entry = {
                "arm": arm, "epochs": epochs, "seeds": [r["seed"] for r in sel],
                "test_accuracy": stats([r["test_accuracy"] for r in sel]),
                "val_accuracy": stats([r["val_accuracy"] for r in sel]),
                "wall_time": stats([r["wall_time"] for r in sel]),
                "sources": sorted({r["source"] for r in sel}),
            }
            if arm == "one_cycle":
                entry["range_test_s"] = stats([r.get("range_test_s", 0.0) for r in sel])
            out.append(entry)
    return out


def speedups(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per one-cycle budget: the baseline epochs needed for one-cycle's mean accuracy."""
    base = [e for e in summary if e["arm"] == "baseline"]
    if not base:
        return []
    out = []
    for e in (e for e in summary if e["arm"] == "one_cycle"):
        entry: dict[str, Any] = {"one_cycle_epochs": e["epochs"]}
        for key in ("test_accuracy", "val_accuracy"):
            target = e[key]["mean"]
            reach = epochs_to_reach([b["epochs"] for b in base],
                                    [b[key]["mean"] for b in base], target)
            reach["one_cycle_mean"] = target
            reach["speedup"] = (reach["epochs"] / e["epochs"]
                                if reach["epochs"] is not None and reach["bound"] is None
                                else None)
            entry[key] = reach
        out.append(entry)
    return out


def paired_differences(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per one-cycle budget E: test accuracy minus the same seed's baseline test accuracy, at
    the same E and at the baseline's longest budget (mean ± sample std over the seeds that have
    both); the promise is judged on these."""
    def by_seed(arm: str, epochs: int) -> dict[int, float]:
        return {r["seed"]: r["test_accuracy"] for r in rows
                if r["arm"] == arm and r["epochs"] == epochs}

    base_budgets = sorted({r["epochs"] for r in rows if r["arm"] == "baseline"})
    out = []
    for epochs in sorted({r["epochs"] for r in rows if r["arm"] == "one_cycle"}):
        one = by_seed("one_cycle", epochs)
        entry: dict[str, Any] = {"one_cycle_epochs": epochs}
        for key, base_epochs in (("vs_same_budget", epochs),
                                 ("vs_longest", base_budgets[-1] if base_budgets else None)):
            base = by_seed("baseline", base_epochs) if base_epochs is not None else {}
            seeds = sorted(one.keys() & base.keys())
            entry[key] = ({"baseline_epochs": base_epochs, "seeds": seeds,
                           **stats([one[s] - base[s] for s in seeds])} if seeds else None)
        out.append(entry)
    return out


def _pm(s: dict[str, float]) -> str:
    if s["n"] < 2:  # one seed so far: no spread to show
        return f"{100 * s['mean']:.2f}"
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _load_phrase(payload: dict[str, Any]) -> str:
    threads = payload.get("threads", {}).get("OMP_NUM_THREADS")
    after = [r["load_average_after"][0] for r in payload["runs"] if r.get("load_average_after")]
    text = f"OMP_NUM_THREADS={threads}; " if threads else ""
    if after:
        text += (f"1-minute load average after each run {min(after):.1f}–{max(after):.1f} on "
                 f"{payload['system']['cpus']} cores")
    else:
        text += f"load average at the start {payload['load_average']['start']} (1/5/15 min)"
    return text


def markdown(payload: dict[str, Any]) -> list[str]:
    s = payload["settings"]
    lines = [
        "# Budget curves: accuracy against the epoch budget, step decay and one-cycle",
        "",
        f"{s['dataset']}, `{s['model']}`, {s['train_examples']:,} training examples (10% of the "
        f"training split held out for validation), batch {s['batch_size']}; seeds "
        f"{s['seeds']}; backend {payload['backend']}, {payload['system']['cpus']} CPUs.",
        "",
        f"- **baseline**: the pipeline's step decay compressed to E epochs: SGD momentum 0.9, "
        f"LR {s['baseline_lr']} ÷10 at 50% and 75% of the E epochs, weight decay "
        f"{s['weight_decay']}, BN momentum 0.99; trained alone (no range test, no one-cycle).",
        "- **one-cycle**: the pipeline's one-cycle for E epochs with its own range test and "
        "`auto` bounds; RunConfig overrides: "
        + (", ".join(f"`{k}={v}`" for k, v in s["one_cycle_config"].items()) or "none")
        + ".",
        "",
        "Test accuracy is measured once per trained model; nothing is chosen on it. Mean ± "
        "sample std over seeds. Wall times are training epochs incl. validation; these are "
        f"accuracy runs on a shared machine ({_load_phrase(payload)}), **not** timing "
        "benchmarks.",
    ]
    reused = [r for r in payload["runs"] if r["source"] != "trained"]
    if reused:
        lines += ["", "The baseline at E = "
                  f"{', '.join(map(str, sorted({r['epochs'] for r in reused})))} (seeds "
                  f"{', '.join(map(str, sorted({r['seed'] for r in reused})))}) is reused from "
                  f"`{s['economy_results']}` (the same pipeline baseline, seeds and split), "
                  "not retrained; its wall times were measured then, under that run's load "
                  "and thread settings."]
    lines += ["", "| schedule | epochs E | seeds | validation accuracy (%) | test accuracy (%) "
              "| wall time (s) |", "|---|---|---|---|---|---|"]
    for e in payload["summary"]:
        wall = f"{e['wall_time']['mean']:.0f}"
        if e["arm"] == "one_cycle":
            wall += f" + {e['range_test_s']['mean']:.0f} range test"
        lines.append(f"| {ARM_LABELS[e['arm']]} | {e['epochs']} | {len(e['seeds'])} | "
                     f"{_pm(e['val_accuracy'])} | {_pm(e['test_accuracy'])} | {wall} |")
    if payload["speedup"]:
        lines += ["", "Speed-up at equal accuracy: the epochs the baseline needs (linear "
                  "interpolation of its mean test accuracy between measured budgets) to reach "
                  "one-cycle's mean test accuracy at E.", "",
                  "| one-cycle E | one-cycle test accuracy (%) | baseline epochs needed | "
                  "speed-up |", "|---|---|---|---|"]
        for sp in payload["speedup"]:
            t = sp["test_accuracy"]
            ratio = f"{t['speedup']:.2f}×" if t["speedup"] is not None else "—"
            lines.append(f"| {sp['one_cycle_epochs']} | {100 * t['one_cycle_mean']:.2f} | "
                         f"{t['text']} | {ratio} |")
    else:
        lines += ["", "Speed-up at equal accuracy: needs both arms; "
                  + ("the one-cycle arm has not been run yet."
                     if not any(e["arm"] == "one_cycle" for e in payload["summary"])
                     else "the baseline arm has not been run yet.")]
    paired = [p for p in payload.get("paired", []) if p["vs_same_budget"] or p["vs_longest"]]
    if paired:
        longest = next(p["vs_longest"]["baseline_epochs"] for p in paired if p["vs_longest"])
        lines += ["", "Paired by seed (one-cycle test accuracy − the same seed's baseline, "
                  "points, mean ± sample std):", "",
                  "| one-cycle E | vs step decay at E | "
                  f"vs step decay at {longest} epochs |", "|---|---|---|"]
        for p in paired:
            cells = [f"{100 * d['mean']:+.2f} ± {100 * d['std']:.2f} ({len(d['seeds'])} seeds)"
                     if d and d["n"] > 1 else
                     (f"{100 * d['mean']:+.2f} (1 seed)" if d else "—")
                     for d in (p["vs_same_budget"], p["vs_longest"])]
            lines.append(f"| {p['one_cycle_epochs']} | {cells[0]} | {cells[1]} |")
    if payload["missing"]:
        groups: dict[tuple[str, int], list[int]] = {}
        for m in payload["missing"]:
            groups.setdefault((m["arm"], m["epochs"]), []).append(m["seed"])
        lines += ["", "Not run yet: " + "; ".join(
            f"{ARM_LABELS[arm]} E={e} (seeds {', '.join(map(str, seeds))})"
            for (arm, e), seeds in groups.items()) + "."]
    lines += ["", f"![accuracy against the epoch budget]({NAME}.png)"]
    return lines


def plot(payload: dict[str, Any], path: Path) -> None:
    from superconverge.plotting import new_figure, save_figure

    figure, ax = new_figure(7.0, 4.2)
    for color, arm in (("C1", "baseline"), ("C0", "one_cycle")):
        sel = [e for e in payload["summary"] if e["arm"] == arm]
        if not sel:
            continue
        xs = [e["epochs"] for e in sel]
        mean = [100 * e["test_accuracy"]["mean"] for e in sel]
        std = [100 * e["test_accuracy"]["std"] for e in sel]
        ax.plot(xs, mean, "o-", color=color, label=f"{ARM_LABELS[arm]} (mean ± std)")
        ax.fill_between(xs, [m - d for m, d in zip(mean, std)],
                        [m + d for m, d in zip(mean, std)], color=color, alpha=0.25)
    ax.set_xscale("log")
    ticks = sorted({e["epochs"] for e in payload["summary"]})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("epoch budget E (log scale)")
    ax.set_ylabel("test accuracy (%)")
    s = payload["settings"]
    ax.set_title(f"{s['model']} on {s['dataset']}: accuracy against the epoch budget")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_figure(figure, path)


# -------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("--budgets", nargs="+", type=int, default=[2, 3, 4, 5, 8],
                   help="epoch budgets of both arms")
    p.add_argument("--baseline-extra-budgets", nargs="*", type=int, default=[20],
                   help="further budgets of the baseline arm only")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--model", default="simple_cnn")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--data-path", default=None)
    p.add_argument("--train-subset", type=int, default=None,
                   help="training examples (default: the full training split)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--baseline-lr", type=float, default=0.1)
    p.add_argument("--range-steps", type=int, default=None,
                   help="range-test steps of the one-cycle arm (default: one epoch)")
    p.add_argument("--one-cycle-config", default=None, metavar="KEY=VALUE,...",
                   help="RunConfig overrides of the one-cycle arm (recipe_ablation.py syntax)")
    p.add_argument("--economy-results", default=str(RESULTS / "epoch_economy.json"),
                   help="epoch_economy.json whose baseline rows are reused ('none': train all)")
    p.add_argument("--work-dir", default=str(DEFAULT_WORK))
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--max-runs", type=int, default=None,
                   help="train at most this many runs, then write the outputs (0: only write)")
    p.add_argument("--plan", action="store_true", help="print the runs and an estimate")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        args.overrides = parse_overrides(args.one_cycle_config)
    except argparse.ArgumentTypeError as error:
        raise SystemExit(f"--one-cycle-config: {error}") from None
    if min(args.budgets + args.baseline_extra_budgets) < 1:
        raise SystemExit("--budgets must be whole numbers >= 1")
    from superconverge import data

    splits = data.load(args.dataset, path=args.data_path, seed=0)
    sizes = (len(splits.train), len(splits.val), len(splits.test))
    n_train = min(args.train_subset or sizes[0], sizes[0])
    plan = run_plan(args)
    reused = economy_rows(args, sizes)
    for item in plan:
        if item["arm"] == "baseline":
            item["reuse"] = reused.get((item["epochs"], item["seed"]))
    to_train = [i for i in plan if i["train"] and not i.get("reuse")]
    rate = THROUGHPUT.get(args.model, 300.0)
    estimate = sum(i["epochs"] * (n_train / rate + sizes[1] / (rate * INFERENCE_SPEEDUP))
                   + sizes[2] / (rate * INFERENCE_SPEEDUP) for i in to_train)
    logger.info("%d runs (%d reused); estimated %.0f min of training if none is finished",
                len(plan), len(plan) - len(to_train), estimate / 60)
    if args.plan:
        for item in plan:
            print(f"{item['arm']} E={item['epochs']} seed {item['seed']}: "
                  + ("reused from epoch_economy" if item.get("reuse") else str(item["dir"]))
                  + ("" if item["train"] or item.get("reuse") else " (not in --arms: read only)"))
        print(f"estimated wall time: {estimate / 60:.0f} min")
        return 0

    import keras

    started = time.perf_counter()
    load_start = load_average()
    out_dir = Path(args.out_dir)
    trained = 0

    settings = {
        "dataset": args.dataset, "model": args.model, "arms_trained": args.arms,
        "seeds": args.seeds,
        "budgets": {"baseline": sorted(set(args.budgets) | set(args.baseline_extra_budgets)),
                    "one_cycle": sorted(set(args.budgets))},
        "batch_size": args.batch_size, "train_subset": args.train_subset,
        "train_examples": n_train, "validation_examples": sizes[1],
        "test_examples": sizes[2], "weight_decay": args.weight_decay,
        "baseline_lr": args.baseline_lr, "baseline_momentum": 0.9,
        "baseline_bn_momentum": 0.99, "baseline_lr_drops": [0.5, 0.75],
        "range_steps": args.range_steps,
        "one_cycle_config": {k: list(v) if isinstance(v, tuple) else v
                             for k, v in args.overrides.items()},
        "economy_results": (Path(args.economy_results).name
                            if any(i.get("reuse") for i in plan) else None),
    }
    previous = previous_rows(out_dir, settings)

    def write() -> None:
        rows, missing = [], []
        for item in plan:
            key = (item["arm"], item["epochs"], item["seed"])
            row = item.get("reuse") or finished_row(args, item) or previous.get(key)
            if row:
                rows.append(row)
            else:
                missing.append({k: item[k] for k in ("arm", "epochs", "seed")})
        summary = summarize(rows, list(ARMS))
        payload = {
            "benchmark": NAME,
            "system": system_info(),
            "backend": keras.backend.backend(),
            "versions": versions(),
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
            "load_average": {"start": load_start, "end": load_average()},
            "wall_time_note": "accuracy runs on a shared machine: wall times are not "
                              "benchmark quality",
            "settings": settings,
            "elapsed_s": time.perf_counter() - started,
            "summary": summary,
            "speedup": speedups(summary),
            "paired": paired_differences(rows),
            "missing": missing,
            "runs": rows,
        }
        write_results(NAME, payload, markdown(payload), out_dir=out_dir)
        if summary:
            plot(payload, out_dir / f"{NAME}.png")

    for index, item in enumerate(plan, 1):
        label = f"[{index}/{len(plan)}] {item['arm']} E={item['epochs']} seed {item['seed']}"
        if item.get("reuse"):
            logger.info("%s: reused from %s", label, args.economy_results)
            continue
        if run_is_finished(item["dir"]):
            logger.info("%s: finished earlier, reading %s", label, item["dir"])
            continue
        if not item["train"]:
            continue
        if args.max_runs is not None and trained >= args.max_runs:
            logger.info("%s: left for later (--max-runs %d)", label, args.max_runs)
            continue
        logger.info("%s: running in %s", label, item["dir"])
        t0 = time.perf_counter()
        execute(args, item)
        trained += 1
        _record_load(item["dir"])
        logger.info("%s: done in %.0f s (load average %s)", label, time.perf_counter() - t0,
                    load_average())
        write()
    write()
    logger.info("wrote %s", out_dir / f"{NAME}.json")
    return 0


def _record_load(run_dir: Path) -> None:
    """The load average right after the run, in a file of this benchmark's own next to the
    pipeline's (read by ``collect``)."""
    from superconverge.io import atomic_write_json

    atomic_write_json(run_dir / SIDECAR, {"load_average_after": load_average(),
                                          "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")})


if __name__ == "__main__":
    sys.exit(main())
