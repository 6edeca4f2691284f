"""Collect the per-run result files into ``OUT/peers.json``, ``OUT/peers.md`` and
``OUT/peers_accuracy.png`` (test accuracy against E per recipe, mean ± std over seeds).

Runs in either venv (NumPy, matplotlib; ``superconverge.io`` for the atomic writes).

    PYTHONPATH=. .venv/bin/python benchmarks/peers/report.py [--out-dir benchmarks/results]
        [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers_common import (
    BATCH_SIZE,
    NAME,
    RECIPES,
    RESULTS,
    SPLIT_FILE,
    TIMING_SUBDIR,
    atomic_write_json,
    read_results,
    read_step_times,
    system_info,
)
from render import PLOT, TABLE, render, update_markdown

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py
from common import write_table_and_readme


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values), "n": len(values)}


def _machine_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Thread settings and the range of 1-minute load averages the runs started under."""
    loads = [r["system"]["loadavg_at_start"][0] for r in runs
             if r.get("system", {}).get("loadavg_at_start")]
    threads = sorted({json.dumps(r.get("system", {}).get("thread_env", {}), sort_keys=True)
                      for r in runs})
    return {"runs": len(runs), "load_average_1min": [min(loads), max(loads)] if loads else None,
            "thread_env": [json.loads(t) for t in threads]}


def wall_times(runs: list[dict[str, Any]], recipes: list[str]) -> list[dict[str, Any]]:
    """Per recipe: median seconds per epoch, images per second, LR-finder seconds."""
    wall = []
    for recipe in recipes:
        mine = [r for r in runs if r["recipe"] == recipe]
        if not mine:
            continue
        per_epoch = statistics.median(r["seconds_per_epoch"] for r in mine)
        wall.append({
            "recipe": recipe, "framework": RECIPES[recipe]["framework"],
            "seconds_per_epoch": per_epoch,
            "images_per_second": statistics.median(r["train_examples"] for r in mine) / per_epoch,
            "lr_finder_seconds": statistics.median(r["lr_finder_seconds"] for r in mine),
            "runs": len(mine),
        })
    return wall


def step_time_of(step_times: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """Keras-on-torch against PyTorch seconds per bare training step, when both were timed."""
    by_framework = {t["framework"]: t for t in step_times or []}
    if not {"keras", "pytorch"} <= set(by_framework):
        return None
    keras_s = by_framework["keras"]["seconds_per_step"]
    torch_s = by_framework["pytorch"]["seconds_per_step"]
    return {"keras_torch_backend": keras_s, "pytorch": torch_s,
            "keras_over_pytorch": keras_s / torch_s, "details": by_framework}


def summarize(runs: list[dict[str, Any]], params: dict[str, Any] | None = None,
              step_times: list[dict[str, Any]] | None = None,
              timing_runs: list[dict[str, Any]] | None = None,
              timing_step_times: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The payload of ``peers.json`` from the per-run records.

    Accuracy comes from ``runs``. Wall times come from ``timing_runs`` (the timing pass: every
    recipe once, one after another, alone on the machine) when given, else from ``runs``; the
    payload's ``timing`` says which, with the load averages the runs started under.
    """
    if not runs:
        raise SystemExit("no result files: run the benchmark first")
    order = list(RECIPES)
    recipes = sorted({r["recipe"] for r in runs}, key=order.index)
    budgets = sorted({r["epochs"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    summary = []
    for recipe in recipes:
        mine = [r for r in runs if r["recipe"] == recipe]
        for epochs in budgets:
            cell = [r for r in mine if r["epochs"] == epochs]
            if not cell:
                continue
            summary.append({
                "recipe": recipe, "epochs": epochs, "seeds": sorted(r["seed"] for r in cell),
                "test_accuracy": _stats([r["test_accuracy"] for r in cell]),
                "val_accuracy": _stats([r["val_accuracy"] for r in cell]),
                "lr": _stats([r["lr"] for r in cell]),
                "seconds_per_epoch": _stats([r["seconds_per_epoch"] for r in cell]),
                "lr_finder_seconds": _stats([r["lr_finder_seconds"] for r in cell]),
            })
    timed = timing_runs or runs
    timing = {"source": "timing pass" if timing_runs else "accuracy runs",
              "budgets": sorted({r["epochs"] for r in timed}),
              "seeds": sorted({r["seed"] for r in timed}), **_machine_of(timed)}
    first = runs[0]
    settings = {
        "dataset": "fashion_mnist", "model": "simple_cnn", "batch_size": BATCH_SIZE,
        "batch_size_per_recipe": {name: sorted({r.get("batch_size", BATCH_SIZE) for r in runs
                                                if r["recipe"] == name}) for name in recipes},
        "budgets": budgets, "seeds": seeds,
        "train_examples": first["train_examples"], "val_examples": first["val_examples"],
        "test_examples": first["test_examples"],
        "parameters": (params or {}).get("total", "?"),
        "recipes": {
            name: {**RECIPES[name],
                   "settings_per_budget": {
                       str(r["epochs"]): r["settings"] for r in runs
                       if r["recipe"] == name and r["seed"] == min(seeds)},
                   "versions": next(r["versions"] for r in runs if r["recipe"] == name)}
            for name in recipes
        },
        "order": "project-venv recipes first, then peers-venv recipes; one run at a time",
    }
    return {"benchmark": NAME, "settings": settings, "system": system_info(),
            "accuracy_machine": _machine_of(runs), "timing": timing,
            "summary": summary, "wall_time": wall_times(timed, recipes),
            "step_time": step_time_of(timing_step_times if timing_runs else step_times),
            "runs": runs, "timing_runs": timing_runs or []}


def plot(payload: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for recipe, info in payload["settings"]["recipes"].items():
        cells = [e for e in payload["summary"] if e["recipe"] == recipe]
        x = [e["epochs"] for e in cells]
        mean = [100 * e["test_accuracy"]["mean"] for e in cells]
        std = [100 * e["test_accuracy"]["std"] for e in cells]
        ax.errorbar(x, mean, yerr=std, marker="o", ms=4, capsize=3, label=info["label"])
    ax.set_xscale("log", base=2)
    ax.set_xticks(payload["settings"]["budgets"], [str(b) for b in payload["settings"]["budgets"]])
    ax.set_xlabel("training epochs E")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"simple_cnn on {payload['settings']['dataset']}: mean ± std over "
                 f"{len(payload['settings']['seeds'])} seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    tmp.replace(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--split", default=str(SPLIT_FILE))
    p.add_argument("--readme", default=None, help="also replace the peers block of this file")
    p.add_argument("--timing-dir", default=None,
                   help=f"results of the timing pass (default OUT/{TIMING_SUBDIR}; when it holds "
                        "none, wall times come from the accuracy runs)")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    timing_dir = Path(args.timing_dir) if args.timing_dir else out / TIMING_SUBDIR
    params_file = Path(args.split).parent / "keras_simple_cnn.json"
    params = json.loads(params_file.read_text()) if params_file.exists() else None
    payload = summarize(read_results(out), params, read_step_times(out),
                        read_results(timing_dir) or None, read_step_times(timing_dir))
    atomic_write_json(out / f"{NAME}.json", payload)
    plot(payload, out / PLOT)
    lines = write_table_and_readme(out, TABLE, PLOT, lambda image: render(payload, image),
                                   Path(args.readme) if args.readme else None, update_markdown)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
