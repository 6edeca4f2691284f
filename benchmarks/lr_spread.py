"""How much does each method's max LR move from seed to seed, and which landmark moves (issue 19)?

For every task and seed, one LR range test exactly as the pipeline runs it (``Pipeline`` stages
``prepare`` and ``range_test``: the run's own data split, initial weights and shuffle for that
seed); then every bounds method of the registry reads the same curve, and ``auto``'s landmarks
(steepest descent, minimum, basin top, rise, divergence; ``bounds.auto.analyse_curve``) are
recorded. Reported per task: the seed-to-seed standard deviation of ``log10`` of each method's
max LR and of each landmark (in decades), the picks per seed, and the curves overlaid.

Tasks:

* ``fmnist_simple_cnn``: the pipeline's default (Fashion-MNIST, full training split,
  ``simple_cnn``, batch 128, one epoch of range test, the default recipe's momentum);
* ``mnist1d_cnn``: MNIST-1D with ``simple_cnn`` (Conv1D), its default 4,000 signals (3,600 for
  training after the validation hold-out);
* ``fmnist_resnet20``: Fashion-MNIST with ``resnet20`` on 12,000 training images (the
  recipe ablation's second model), whose curves spike and recover before they diverge.

Each range test is a pipeline run directory ``WORK/TASK/seedS`` (resumable: a finished one is
read, not rerun). Accuracy-free, so it may share the machine; its seconds are not timings.

    OMP_NUM_THREADS=1 python benchmarks/lr_spread.py --seeds 0 1 2 3 4 5 6 7
    python benchmarks/lr_spread.py --tasks mnist1d_cnn --seeds 0 1 --work-dir /tmp/spread
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, system_info, write_results  # noqa: E402

NAME = "lr_spread"
DEFAULT_WORK = HERE.parent / "runs" / NAME
#: RunConfig settings of each task (anything not named is the pipeline's default)
TASKS: dict[str, dict[str, Any]] = {
    "fmnist_simple_cnn": {"dataset": "fashion_mnist", "model": "simple_cnn"},
    "mnist1d_cnn": {"dataset": "mnist1d", "model": "simple_cnn"},
    # the recipe issue's second model, on the 12,000 images its benchmarks train it on
    "fmnist_resnet20": {"dataset": "fashion_mnist", "model": "resnet20", "train_subset": 12000},
}
LANDMARKS = ("x_steep", "x_min", "x_basin", "x_rise", "x_div", "x_pick")
#: the run settings that shape a range-test curve, recorded with the results
RECIPE_KEYS = ("batch_size", "momentum", "nesterov", "weight_decay", "label_smoothing",
               "optimizer", "train_subset", "range_start_lr", "range_end_lr", "epochs")
logger = logging.getLogger(NAME)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(8)))
    p.add_argument("--work-dir", default=str(DEFAULT_WORK))
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--range-steps", type=int, default=None, help="default: one epoch")
    p.add_argument("--train-subset", type=int, default=None,
                   help="override every task's training subset (smoke runs)")
    p.add_argument("--set", default="", metavar="KEY=VALUE,...",
                   help="RunConfig overrides for every task (recipe_ablation.py syntax), e.g. "
                   "the settings of an earlier default")
    return p


def range_test(task: str, seed: int, args: argparse.Namespace) -> Any:
    """The pipeline's range test for ``task`` and ``seed`` (read back when already done)."""
    from superconverge.pipeline import Pipeline, RunConfig

    settings = dict(TASKS[task])
    if args.train_subset is not None:
        settings["train_subset"] = args.train_subset
    run_dir = Path(args.work_dir) / task / f"seed{seed}"
    if args.set:
        from recipe_ablation import parse_variant

        settings.update(parse_variant(args.set))
    config = RunConfig(**settings, seed=seed, out=str(run_dir), baseline_epochs=0,
                       range_steps=args.range_steps)
    pipeline = Pipeline(config, quiet=True)
    pipeline.run(["prepare", "range_test"])
    return pipeline.range_test_result()


def landmarks(result: Any) -> dict[str, float | None]:
    """``auto``'s landmarks on the curve, in ``log10(lr)``."""
    import numpy as np

    from superconverge.bounds.auto import analyse_curve

    lrs, losses = np.asarray(result.lrs), np.asarray(result.losses)
    analysis = analyse_curve(lrs, losses)
    suggestion = result.suggest(method="auto")
    return {
        "x_steep": float(analysis.x_steep),
        "x_min": float(analysis.x[analysis.i_min]),
        "x_basin": float(analysis.x_basin),
        "x_rise": None if analysis.x_rise is None else float(analysis.x_rise),
        "x_div": None if analysis.x_div is None else float(analysis.x_div),
        "x_pick": math.log10(suggestion.max_lr),
    }


def picks(result: Any) -> dict[str, float | None]:
    """Every registered method's max LR on the curve (``None`` where a method fails)."""
    from superconverge.bounds import SuggestionError, available_methods

    out: dict[str, float | None] = {}
    for method in available_methods():
        try:
            out[method] = float(result.suggest(method=method).max_lr)
        except SuggestionError:
            out[method] = None
    return out


def spread(values: list[float | None]) -> dict[str, Any]:
    """Sample std (decades) and range of the finite values, and how many there were."""
    import statistics

    finite = [v for v in values if v is not None and math.isfinite(v)]
    return {
        "n": len(finite),
        "std_decades": statistics.stdev(finite) if len(finite) > 1 else None,
        "range_decades": (max(finite) - min(finite)) if finite else None,
        "mean": statistics.fmean(finite) if finite else None,
    }


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    payload: dict[str, Any] = {"benchmark": NAME, "system": system_info(),
                               "seeds": args.seeds, "tasks": {}}
    curves: dict[str, list[Any]] = {}
    for task in args.tasks:
        rows = []
        curves[task] = []
        for seed in args.seeds:
            logger.info("%s seed %d ...", task, seed)
            result = range_test(task, seed, args)
            curves[task].append(result)
            method_picks = picks(result)
            rows.append({"seed": seed, "steps": len(result), "stop_reason": result.stop_reason,
                         "picks": method_picks, "landmarks": landmarks(result)})
        from superconverge.io import read_json

        saved = read_json(Path(args.work_dir) / task / f"seed{args.seeds[0]}" / "config.json")
        methods = sorted(rows[0]["picks"])
        payload["tasks"][task] = {
            "settings": TASKS[task],
            "recipe": {k: saved.get(k) for k in RECIPE_KEYS},
            "runs": rows,
            "methods": {m: spread([None if r["picks"][m] is None else math.log10(r["picks"][m])
                                   for r in rows]) for m in methods},
            "landmarks": {k: spread([r["landmarks"][k] for r in rows]) for k in LANDMARKS},
        }
    out_dir = Path(args.out_dir)
    write_results(NAME, payload, markdown(payload), out_dir=out_dir)
    plot(curves, payload, out_dir / f"{NAME}.png")


def markdown(payload: dict[str, Any]) -> list[str]:
    lines = [
        "# Seed-to-seed spread of the max LR (issue 19)",
        "",
        f"One pipeline range test per seed ({', '.join(map(str, payload['seeds']))}); every "
        "method reads the same curve. Std = sample standard deviation of log10(max LR) over "
        "the seeds, in decades (target for `auto`: ≤ 0.1). Landmarks are `auto`'s, in "
        f"log10(LR). Load average at the end: {payload['system'].get('load_average')}.",
        "",
    ]
    for task, info in payload["tasks"].items():
        recipe = ", ".join(f"{k} {v}" for k, v in info.get("recipe", {}).items())
        lines += [f"## {task}", "", f"Range-test settings: {recipe}.", "",
                  "| method | seeds | std (decades) | range (decades) | geometric-mean max LR |",
                  "|---|---|---|---|---|"]
        for method, s in sorted(info["methods"].items(),
                                key=lambda kv: (kv[1]["std_decades"] is None,
                                                kv[1]["std_decades"] or 0)):
            mean_lr = "–" if s["mean"] is None else f"{10 ** s['mean']:.3g}"
            lines.append(f"| `{method}` | {s['n']} | {_dec(s['std_decades'])} | "
                         f"{_dec(s['range_decades'])} | {mean_lr} |")
        lines += ["", "| landmark of `auto` | seeds | std (decades) | range (decades) |",
                  "|---|---|---|---|"]
        for name, s in info["landmarks"].items():
            lines.append(f"| {name} | {s['n']} | {_dec(s['std_decades'])} | "
                         f"{_dec(s['range_decades'])} |")
        lines += ["", "Per seed (max LR): " + "; ".join(
            f"seed {r['seed']}: auto {r['picks']['auto']:.3g}, minimum "
            f"{_lr(r['picks'].get('minimum'))}, valley {_lr(r['picks'].get('valley'))}"
            for r in info["runs"]), ""]
    lines += [f"![range-test curves per seed]({NAME}.png)", ""]
    return lines


def _dec(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _lr(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def plot(curves: dict[str, list[Any]], payload: dict[str, Any], path: Path) -> None:
    from superconverge.plotting import new_figure, save_figure

    figure, axes = new_figure(5.0 * len(curves), 3.8, ncols=len(curves))
    axes = [axes] if len(curves) == 1 else list(axes)
    for ax, (task, results) in zip(axes, curves.items()):
        for index, (result, row) in enumerate(zip(results, payload["tasks"][task]["runs"])):
            color = f"C{index % 10}"
            ax.plot(result.lrs, result.smoothed_losses, color=color, lw=1,
                    label=f"seed {row['seed']}")
            ax.axvline(row["picks"]["auto"], color=color, ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("smoothed training loss")
        ax.set_title(f"{task}: curves and auto's pick (dashed)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        finite = [r.smoothed_losses[0] for r in results]
        ax.set_ylim(top=2.0 * max(finite))
    save_figure(figure, path)


if __name__ == "__main__":
    main()
