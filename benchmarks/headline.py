"""The README's headline table and plot, generated from the committed epoch-economy results.

Reads ``RESULTS/epoch_economy.json`` (written by ``epoch_economy.py``) and writes

* ``OUT/headline.md``: per model, the step-decay baseline and one-cycle at N/4 and N/5 epochs —
  epochs, test accuracy mean ± std over seeds, wall time, and each as a ratio to the baseline —
  followed by one generated sentence per model and fraction saying whether one-cycle reached
  the baseline's accuracy;
* ``OUT/epoch_economy_accuracy.png``: validation accuracy against epoch (mean over seeds,
  band = ± std), one panel per model;

and prints the Markdown. Every number comes from the JSON; nothing is typed here. With
``--readme README.md`` the Markdown also replaces what lies between the lines
``<!-- headline:start -->`` and ``<!-- headline:end -->`` in that file (the image link made
relative to it).

    python benchmarks/headline.py [--results-dir benchmarks/results] [--out-dir DIR]
                                  [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import replace_block, write_table_and_readme  # noqa: E402

RESULTS = HERE / "results"
SOURCE = "epoch_economy.json"
TABLE = "headline.md"
PLOT = "epoch_economy_accuracy.png"
START, END = "<!-- headline:start -->", "<!-- headline:end -->"


def batch_text(batch_size: int | None) -> str:
    """A one-cycle batch size as the tables say it (``None``: the pipeline's rule)."""
    return (f"batch {batch_size}" if batch_size is not None
            else "batch from the run's length (64, halved while the cycle has < 1,000 steps)")


def one_cycle_recipe_text(settings: dict[str, Any]) -> str:
    """How the one-cycle runs were configured, for the Markdown and the headline."""
    if settings.get("one_cycle_recipe") == "pipeline":
        changes = settings.get("one_cycle_config") or {}
        text = ("one-cycle: the pipeline's default recipe"
                + (" with " + ", ".join(f"{k} = {v}" for k, v in changes.items())
                   if changes else "")
                + f" ({batch_text(settings['one_cycle_batch_size'])}, weight decay "
                  f"{settings['one_cycle_weight_decay']})")
    else:  # files written before the option: one-cycle took the baseline's batch and decay
        text = (f"one-cycle with the baseline's batch {settings['batch_size']} and weight decay "
                f"{settings['weight_decay']}")
    reused = settings.get("economy_results")
    return (text + " and bounds from its own range test (`auto`)"
            + (f"; baselines of the same seeds reused from `{reused}` where it has them"
               if reused else ""))


def _label(variant: str, n: int) -> str:
    if variant == "baseline":
        return "step decay (baseline)"
    return f"one-cycle, N/{variant.removeprefix('one_cycle_n')}"


def batch_suffix(entry: dict[str, Any]) -> str:
    """The " (batch 32)" label suffix of a summary entry whose runs recorded their batch."""
    sizes = entry.get("batch_sizes")
    return " (batch " + "/".join(map(str, sizes)) + ")" if sizes else ""


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def table(payload: dict[str, Any]) -> list[str]:
    """The headline table rows (Markdown), from ``payload['summary']``."""
    s = payload["settings"]
    n = s["epochs"]
    shared = bool(s.get("shared_machine"))
    lines = [
        "| model | schedule | epochs | test accuracy (%, mean ± std) | Δ vs baseline (pp) "
        "| wall time (s) | epochs vs baseline | wall time vs baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in payload["summary"]:
        acc, vs = e["test_accuracy"], e.get("vs_baseline")
        wall = e["wall_time"]["mean"]
        if vs:
            delta = vs["accuracy_difference"]
            rng = e["range_test_s"]["mean"]
            lines.append(
                f"| {e['model']} | {_label(e['variant'], n)}{batch_suffix(e)} | {e['epochs']} | "
                f"{_pct(acc['mean'])} ± {_pct(acc['std'])} | "
                + (f"{100 * delta['mean']:+.2f} ± {100 * delta['std']:.2f} | " if delta
                   else "— | ")
                + (f"{wall:.0f} + {rng:.0f} range test" if not shared else "not timed")
                + f" | {vs['epoch_fraction']:.2f}× | "
                + (f"{vs['wall_time_fraction_with_range_test']:.2f}× |"
                   if vs["wall_time_fraction_with_range_test"] is not None
                   else f"— ({vs.get('untimed_because') or 'baseline reused'}) |")
            )
        else:
            lines.append(
                f"| {e['model']} | {_label(e['variant'], n)} | {e['epochs']} | "
                f"{_pct(acc['mean'])} ± {_pct(acc['std'])} | — | "
                + (f"{wall:.0f}" if not shared else "not timed")
                + (" (reused)" if e.get("reused") else "") + " | 1× | 1× |"
            )
    return lines


def verdicts(payload: dict[str, Any]) -> list[str]:
    """One generated sentence per (model, one-cycle variant)."""
    base = {e["model"]: e for e in payload["summary"] if e["variant"] == "baseline"}
    out = []
    for e in payload["summary"]:
        vs = e.get("vs_baseline")
        if not vs or e["model"] not in base:
            continue
        b = base[e["model"]]
        diff = e["test_accuracy"]["mean"] - b["test_accuracy"]["mean"]
        verdict = ("reaches the baseline's accuracy" if vs["meets_baseline"]
                   else f"falls {100 * -diff:.2f} pp short of the baseline")
        out.append(
            f"- {e['model']}, one-cycle in {e['epochs']} of {vs['baseline_epochs']} epochs "
            f"({_label(e['variant'], 0).split(', ')[1]}): {_pct(e['test_accuracy']['mean'])} % "
            f"vs {_pct(b['test_accuracy']['mean'])} % — {verdict}"
            + (f", in {vs['wall_time_fraction_with_range_test']:.2f}× the baseline's wall time "
               "(range test included; " if vs["wall_time_fraction_with_range_test"] is not None
               else " (")
            + f"{len(e['seeds'])} seeds)."
        )
    return out


def settings_line(payload: dict[str, Any]) -> str:
    s = payload["settings"]
    examples = ", ".join(f"{m} {n}" for m, n in s["train_examples"].items())
    return (
        f"{s['dataset']}, N = {s['epochs']} baseline epochs (SGD momentum 0.9, LR "
        f"{s['baseline_lr']} ÷10 at 50% and 75%, batch {s['batch_size']}, weight decay "
        f"{s['weight_decay']}); {one_cycle_recipe_text(s)}; training examples: "
        f"{examples}; seeds {', '.join(map(str, s['seeds']))}; {payload['backend']} backend on "
        f"{payload['system']['cpus']} CPUs. Test accuracy is measured once per trained model; "
        "Δ is the paired difference to the same seed's baseline; one-cycle wall time includes "
        "its range test."
    )


def render(payload: dict[str, Any], image: str) -> list[str]:
    return [
        settings_line(payload),
        "",
        *table(payload),
        "",
        *verdicts(payload),
        "",
        f"![Validation accuracy per epoch]({image})",
    ]


def plot(payload: dict[str, Any], path: Path) -> Path:
    """Validation accuracy against epoch, mean ± std over seeds, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    from superconverge.plotting import save_figure

    models = payload["settings"]["models"]
    variants = ["baseline"] + [f"one_cycle_n{f}" for f in payload["settings"]["fractions"]]
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4), squeeze=False)
    for ax, model in zip(axes[0], models):
        for variant in variants:
            curves = [r["val_accuracy"] for r in payload["runs"]
                      if r["model"] == model and r["variant"] == variant and r["val_accuracy"]]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            arr = 100 * np.array([c[:length] for c in curves])
            x = np.arange(1, length + 1)
            mean, std = arr.mean(axis=0), arr.std(axis=0, ddof=1 if len(arr) > 1 else 0)
            unit = "epoch" if length == 1 else "epochs"
            line = ax.plot(x, mean, marker="o", ms=3,
                           label=f"{_label(variant, 0)} ({length} {unit})")[0]
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_title(f"{model} on {payload['settings']['dataset']}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"mean ± std over {len(payload['settings']['seeds'])} seeds", fontsize=9)
    fig.tight_layout()
    saved = save_figure(fig, path)
    plt.close(fig)
    return saved


def update_readme(readme: Path, lines: list[str]) -> None:
    replace_block(readme, START, END, lines, "the headline table")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results-dir", default=str(RESULTS), help=f"where {SOURCE} is")
    p.add_argument("--out-dir", default=None,
                   help=f"where {TABLE} and {PLOT} go (default: --results-dir)")
    p.add_argument("--readme", default=None,
                   help="also replace the headline block of this Markdown file")
    args = p.parse_args(argv)
    source = Path(args.results_dir) / SOURCE
    if not source.exists():
        raise SystemExit(f"{source} does not exist: run benchmarks/epoch_economy.py first")
    payload = json.loads(source.read_text(encoding="utf-8"))
    out_dir = Path(args.out_dir or args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot(payload, out_dir / PLOT)
    lines = write_table_and_readme(out_dir, TABLE, PLOT, lambda image: render(payload, image),
                                   Path(args.readme) if args.readme else None, update_readme)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
