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
    atomic_write_json,
    read_results,
    read_step_times,
    system_info,
)
from render import PLOT, TABLE, render, update_markdown


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "median": statistics.median(values), "n": len(values)}


def summarize(runs: list[dict[str, Any]], params: dict[str, Any] | None = None,
              step_times: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The payload of ``peers.json`` from the per-run records."""
    if not runs:
        raise SystemExit("no result files: run the benchmark first")
    order = list(RECIPES)
    recipes = sorted({r["recipe"] for r in runs}, key=order.index)
    budgets = sorted({r["epochs"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    summary, wall = [], []
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
        per_epoch = statistics.median(r["seconds_per_epoch"] for r in mine)
        wall.append({
            "recipe": recipe, "framework": RECIPES[recipe]["framework"],
            "seconds_per_epoch": per_epoch,
            "images_per_second": statistics.median(r["train_examples"] for r in mine) / per_epoch,
            "lr_finder_seconds": statistics.median(r["lr_finder_seconds"] for r in mine),
            "runs": len(mine),
        })
    first = runs[0]
    settings = {
        "dataset": "fashion_mnist", "model": "simple_cnn", "batch_size": BATCH_SIZE,
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
    steps = {t["framework"]: t for t in step_times or []}
    step_time = None
    if {"keras", "pytorch"} <= set(steps):
        keras_s, torch_s = steps["keras"]["seconds_per_step"], steps["pytorch"]["seconds_per_step"]
        step_time = {"keras_torch_backend": keras_s, "pytorch": torch_s,
                     "keras_over_pytorch": keras_s / torch_s, "details": steps}
    return {"benchmark": NAME, "settings": settings, "system": system_info(),
            "summary": summary, "wall_time": wall, "step_time": step_time, "runs": runs}


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
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    params_file = Path(args.split).parent / "keras_simple_cnn.json"
    params = json.loads(params_file.read_text()) if params_file.exists() else None
    payload = summarize(read_results(out), params, read_step_times(out))
    atomic_write_json(out / f"{NAME}.json", payload)
    plot(payload, out / PLOT)
    lines = render(payload, PLOT)
    from superconverge.io import atomic_write_text

    atomic_write_text(out / TABLE, "\n".join(lines) + "\n")
    if args.readme:
        import os

        readme = Path(args.readme)
        image = Path(os.path.relpath(out / PLOT, readme.resolve().parent)).as_posix()
        update_markdown(readme, render(payload, image))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
