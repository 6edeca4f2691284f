"""The peers table as Markdown, from ``peers.json`` (pure Python: no NumPy, no Keras).

``render(payload, image)`` gives the lines; ``update_markdown(path, lines)`` replaces what
lies between ``<!-- peers:start -->`` and ``<!-- peers:end -->`` in a Markdown file (the
README). Every number comes from the JSON; nothing is typed here.

    python benchmarks/peers/render.py [--results-dir benchmarks/results] [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: common.py
from common import replace_block

START, END = "<!-- peers:start -->", "<!-- peers:end -->"
SOURCE, TABLE, PLOT = "peers.json", "peers.md", "peers_accuracy.png"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def accuracy_table(payload: dict[str, Any]) -> list[str]:
    budgets = payload["settings"]["budgets"]
    cells: dict[tuple[str, int], dict[str, Any]] = {
        (e["recipe"], e["epochs"]): e for e in payload["summary"]}
    lines = [
        "| recipe | framework | " + " | ".join(f"E = {e}" for e in budgets)
        + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    for recipe, info in payload["settings"]["recipes"].items():
        row = []
        for epochs in budgets:
            e = cells.get((recipe, epochs))
            if e is None:
                row.append("—")
                continue
            acc = e["test_accuracy"]
            row.append(f"{_pct(acc['mean'])} ± {_pct(acc['std'])}"
                       + (f" (n={acc['n']})" if acc["n"] != len(payload["settings"]["seeds"])
                          else ""))
        lines.append(f"| {info['label']} | {info['framework']} | " + " | ".join(row) + " |")
    return lines


def wall_time_table(payload: dict[str, Any]) -> list[str]:
    lines = ["| recipe | framework | s / epoch (median) | training images / epoch time (s⁻¹) | "
             "LR finder (s, median) |",
             "|---|---|---|---|---|"]
    for w in payload["wall_time"]:
        finder = w["lr_finder_seconds"]
        lines.append(f"| {payload['settings']['recipes'][w['recipe']]['label']} | "
                     f"{w['framework']} | {w['seconds_per_epoch']:.1f} | "
                     f"{w['images_per_second']:.0f} | "
                     + (f"{finder:.1f}" if finder > 0 else "none") + " |")
    return lines


def step_time_line(payload: dict[str, Any]) -> list[str]:
    t = payload.get("step_time")
    if not t:
        return []
    return ["", f"Training step alone (same net, SGD momentum 0.9, batch "
                f"{payload['settings']['batch_size']}, each framework's own input pipeline, "
                f"measured in turn in the same pass): Keras 3 on the torch backend "
                f"{1000 * t['keras_torch_backend']:.1f} ms, native PyTorch "
                f"{1000 * t['pytorch']:.1f} ms ({t['keras_over_pytorch']:.2f}×)."]


def batch_text(settings: dict[str, Any]) -> str:
    """'batch 128' or 'batch 128 (superconverge: its default, 64)' from the runs' batch sizes."""
    common = settings["batch_size"]
    others = [f"{name}: {', '.join(map(str, sizes))}"
              for name, sizes in settings.get("batch_size_per_recipe", {}).items()
              if sizes != [common]]
    return f"batch {common}" + (f" ({'; '.join(others)}, its default)" if others else "")


def settings_line(payload: dict[str, Any]) -> str:
    s = payload["settings"]
    system = payload.get("system", {})
    return (
        f"{s['dataset']}, `simple_cnn` ({s['parameters']} parameters, the same net in Keras "
        f"and PyTorch), {batch_text(s)}, {s['train_examples']} training / "
        f"{s['val_examples']} validation / {s['test_examples']} test images (the pipeline's "
        f"split, per seed), seeds {', '.join(map(str, s['seeds']))}, "
        f"{system.get('cpus', '?')} CPUs. Test accuracy (%, mean ± std over seeds) is measured "
        "once per trained model; every choice (LR finder, validation) uses training and "
        "validation data only. Each recipe uses its tool's documented defaults and its own LR "
        "finder; the settings of every run are in `benchmarks/results/peers.json`. "
        + machine_sentence("Accuracy runs", payload.get("accuracy_machine"))
    )


def machine_sentence(what: str, machine: dict[str, Any] | None) -> str:
    """How the runs shared the machine: thread settings and start-time load averages."""
    if not machine:
        return f"{what}: one at a time."
    threads = ", ".join(" ".join(f"{k}={v}" for k, v in sorted(t.items())) or "default threads"
                        for t in machine.get("thread_env", [])) or "default threads"
    load = machine.get("load_average_1min")
    load_text = f"1-minute load average at the start {load[0]:.2f}–{load[1]:.2f}" if load else \
        "load average not recorded"
    return f"{what}: {machine['runs']} runs, one at a time per process ({threads}; {load_text})."


def timing_heading(payload: dict[str, Any]) -> str:
    timing = payload.get("timing") or {}
    if timing.get("source") == "timing pass":
        budgets = ", ".join(map(str, timing.get("budgets", [])))
        seeds = ", ".join(map(str, timing.get("seeds", [])))
        return ("Wall time per epoch (validation included; LR finder not included), same net, "
                f"from the timing pass: every recipe once (E = {budgets}, seed {seeds}), one "
                "after another, nothing else running. "
                + machine_sentence("Timing pass", timing).rstrip(".") + ":")
    return ("Wall time per epoch (validation included; LR finder not included), same net, from "
            "the accuracy runs. " + machine_sentence("They ran", timing or None)
            + " Compare these only when the load average stayed near or below 1:")


def standing_lines(payload: dict[str, Any], ours: str = "superconverge") -> list[str]:
    """Per budget: superconverge's test accuracy minus each peer's, paired by seed (mean ±
    sample std over the seeds both ran), and whether it is ahead of every peer on the mean."""
    runs = payload.get("runs", [])
    acc = {(r["recipe"], r["epochs"], r["seed"]): r["test_accuracy"] for r in runs}
    recipes = payload["settings"]["recipes"]
    lines = []
    for epochs in payload["settings"]["budgets"]:
        mine = {seed: a for (rec, e, seed), a in acc.items() if rec == ours and e == epochs}
        if not mine:
            continue
        parts, behind, missing = [], [], []
        for peer in recipes:
            if peer == ours:
                continue
            diffs = [100 * (mine[seed] - a) for (rec, e, seed), a in acc.items()
                     if rec == peer and e == epochs and seed in mine]
            if not diffs:
                missing.append(peer)
                continue
            mean = sum(diffs) / len(diffs)
            std = (sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)) ** 0.5 \
                if len(diffs) > 1 else 0.0
            parts.append(f"{peer} {mean:+.2f} ± {std:.2f}")
            if mean < 0:
                behind.append(peer)
        if not parts:
            lines.append(f"* E = {epochs}: no peer measured yet ({', '.join(missing)}).")
            continue
        every = "every peer" if not missing else f"the {len(parts)} peer(s) measured"
        verdict = (f"ahead of {every} on the mean" if not behind
                   else "behind " + ", ".join(behind) + " on the mean")
        not_run = f"; not measured yet: {', '.join(missing)}" if missing else ""
        lines.append(f"* E = {epochs}: {verdict} (superconverge − peer, pp, paired by seed: "
                     + "; ".join(parts) + not_run + ").")
    return lines


def render(payload: dict[str, Any], image: str = PLOT) -> list[str]:
    standing = standing_lines(payload)
    return [
        settings_line(payload),
        "",
        *accuracy_table(payload),
        "",
        *(["Where superconverge stands:", "", *standing, ""] if standing else []),
        timing_heading(payload),
        "",
        *wall_time_table(payload),
        *step_time_line(payload),
        "",
        f"![Test accuracy against epochs per recipe]({image})",
    ]


def update_markdown(path: Path, lines: list[str]) -> None:
    """Replace the block between the markers of ``path`` with ``lines`` (atomically)."""
    replace_block(path, START, END, lines, "the peers table")


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    results = here.parent / "results"
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results-dir", default=str(results), help=f"where {SOURCE} is")
    p.add_argument("--readme", default=None, help="replace the peers block of this file")
    args = p.parse_args(argv)
    source = Path(args.results_dir) / SOURCE
    if not source.exists():
        raise SystemExit(f"{source} does not exist: run benchmarks/peers/run.sh first")
    payload = json.loads(source.read_text(encoding="utf-8"))
    lines = render(payload, PLOT)
    if args.readme:
        readme = Path(args.readme)
        image = Path(os.path.relpath(Path(args.results_dir) / PLOT,
                                     readme.resolve().parent)).as_posix()
        update_markdown(readme, render(payload, image))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
