"""Is ``auto``'s max LR simply too low? A fixed move up, measured on stored runs (issue 19).

On the benchmark of ``lr_selection.py`` ``auto``'s pick lies below the best grid LR in 19 of the
20 (task, budget) cells of seeds 0–5 (by 0.05 to 0.77 decade on average). Two ways to move it up
are scored here, nothing trained:

* **a fixed offset**, ``max LR = auto × 10^o``: *trained* regret, read from the full runs
  ``lr_trials.py`` trained at every trial candidate (``auto × 10^o`` for its offsets o; the
  candidate regrets of its JSON files), so exact for ``o`` in {−⅓, −⅙, 0, +⅙, +⅓};
* **the basin-top cap lifted**, ``x = min(x_R + s, x_div − 0.8)`` in ``x = log10(lr)`` (``s = 0``
  is ``auto``: ``x_R`` the top of the low basin, ``x_div`` the divergence point): *estimated*
  regret, interpolated in log-LR between the runs ``lr_selection.py`` trained (as
  ``lr_landmark_rule.py`` does).

Regret = best grid accuracy − accuracy at the pick (validation, points), per set of
repetitions: the four tasks on seeds 0–2 (budgets 2, 4, 8 epochs) and on seeds 3–5 (2, 4), and
the two pairs of fresh tasks (2, 4).

    python benchmarks/lr_offset_rule.py

Writes benchmarks/results/lr_offset_rule.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import RESULTS, write_results  # noqa: E402
from lr_landmark_rule import CURRENT, Landmarks  # noqa: E402

NAME = "lr_offset_rule"
#: lifts of the basin-top cap scored (decades)
LIFTS = (0.0, 0.1, 0.2, 1 / 3, 0.5)
GRID_S012 = "--grid-min 0.03 --grid-max 6.463 --grid-points 8"
GRID_FRESH = "--grid-min 0.013934 --grid-max 6.463 --grid-points 9"
COMMON = "--fmnist-train 6400 --range-steps 100"


class RepetitionSet(NamedTuple):
    """One committed ``lr_selection.py`` run and the ``lr_trials.py`` results on it."""

    label: str
    lr_selection_flags: str
    trials: tuple[str, ...]  # results/NAME.json of lr_trials.py


SETS = (
    RepetitionSet("4 tasks, seeds 0–2",
                  f"--tasks fmnist_cnn mnist1d_cnn fmnist_mlp mnist1d_mlp {COMMON} {GRID_S012} "
                  "--cache-dir benchmarks/results/lr_selection_budget_cache",
                  ("lr_trials_5",)),
    RepetitionSet("4 tasks, seeds 3–5",
                  f"--seeds 3 4 5 --budgets 2 4 {COMMON} {GRID_S012} "
                  "--cache-dir benchmarks/results/lr_selection_seeds345_cache",
                  ("lr_trials_seeds345", "lr_trials_seeds345_4ep")),
    RepetitionSet("fresh pair 1 (fmnist_mlp_bn, mnist1d_cnn_nobn)",
                  f"--tasks fmnist_mlp_bn mnist1d_cnn_nobn --budgets 2 4 {COMMON} {GRID_FRESH} "
                  "--cache-dir benchmarks/results/lr_selection_fresh_tasks_cache",
                  ("lr_trials_fresh_tasks",)),
    RepetitionSet("fresh pair 2 (fmnist_cnn_nobn, mnist1d_cnn_w32)",
                  f"--tasks fmnist_cnn_nobn mnist1d_cnn_w32 --budgets 2 4 {COMMON} {GRID_FRESH} "
                  "--cache-dir benchmarks/results/lr_selection_fresh_tasks2_cache",
                  ("lr_trials_fresh_tasks2",)),
)


def offset_key(offset: float) -> str:
    """Offsets as the trial files store them (floats of thirds and sixths) -> a stable key."""
    return f"{offset:+.3f}"


def trained_offset_regrets(rows: Iterable[Mapping[str, Any]],
                           offsets: Sequence[float]) -> dict[tuple[str, int, str], list[float]]:
    """``(task, epochs, offset key) -> [regret of the full run at auto × 10^offset]`` from
    ``lr_trials.py`` rows (their ``candidate_regrets`` follow ``offsets``)."""
    out: dict[tuple[str, int, str], list[float]] = {}
    for row in rows:
        if len(row["candidate_regrets"]) != len(offsets):
            raise ValueError(f"a row of {row['task']} has {len(row['candidate_regrets'])} "
                             f"candidate regrets for {len(offsets)} offsets")
        for o, r in zip(offsets, row["candidate_regrets"], strict=True):
            out.setdefault((row["task"], int(row["epochs"]), offset_key(o)), []).append(
                float(r))
    return out


def lifted_pick(lm: Landmarks, lift: float) -> float:
    """``log10(max LR) = min(x_R + s, x_div − 0.8)``, clamped to the sweep; a flat curve keeps
    ``auto``'s placeholder ``x_div − 0.8``. ``s = 0`` is ``auto``."""
    guard = CURRENT[1]
    x = lm.ref - guard if lm.flat else min(lm.top + lift, lm.ref - guard)
    return min(max(x, lm.lo), lm.hi)


def mean_std(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def pooled(table: Mapping[tuple[str, int, str], Sequence[float]], *, epochs: int | None = None,
           task: str | None = None, key: str) -> list[float]:
    return [v for (t, e, k), vs in table.items() for v in vs
            if k == key and (epochs is None or e == epochs) and (task is None or t == task)]


def score_set(rs: RepetitionSet, results: Path) -> dict[str, Any]:
    import lr_budget_rule
    from lr_landmark_rule import landmarks_of, load_scored_repetitions

    trained: dict[tuple[str, int, str], list[float]] = {}
    offsets: set[str] = set()
    for name in rs.trials:
        payload = json.loads((results / f"{name}.json").read_text())
        for k, v in trained_offset_regrets(payload["rows"], payload["offsets"]).items():
            trained.setdefault(k, []).extend(v)
        offsets |= {offset_key(o) for o in payload["offsets"]}
    reps = load_scored_repetitions(rs.lr_selection_flags.split(), landmarks_of)
    estimated = {(r["task"], int(r["epochs"]), offset_key(s)): [] for r in reps for s in LIFTS}
    for r in reps:
        for s in LIFTS:
            estimated[(r["task"], int(r["epochs"]), offset_key(s))].append(
                lr_budget_rule.estimated_regret(r, 10.0 ** lifted_pick(r["landmarks"], s)))
    budgets = sorted({e for _, e, _ in trained})
    tasks = sorted({t for t, _, _ in trained})
    okeys = sorted(offsets, key=float)
    lkeys = [offset_key(s) for s in LIFTS]

    def summary(table: Mapping[tuple[str, int, str], Sequence[float]],
                keys: Sequence[str]) -> dict[str, Any]:
        return {"by_budget": {str(b): {k: mean_std(pooled(table, epochs=b, key=k))
                                       for k in keys} for b in budgets},
                "by_task": {t: {k: statistics.fmean(pooled(table, task=t, key=k)) for k in keys}
                            for t in tasks},
                "pooled": {k: mean_std(pooled(table, key=k)) for k in keys}}

    basin_bound = sum(1 for r in reps if not r["landmarks"].flat
                      and r["landmarks"].top < r["landmarks"].ref - CURRENT[1])
    return {"label": rs.label, "lr_selection_flags": rs.lr_selection_flags,
            "trials": list(rs.trials), "budgets": budgets, "tasks": tasks,
            "repetitions": len(reps), "basin_bound_repetitions": basin_bound,
            "fixed_offset_trained": summary(trained, okeys),
            "lifted_cap_estimated": summary(estimated, lkeys)}


def thirds(key: str) -> str:
    """'+0.333' -> '+⅓' (the offsets are thirds and sixths of a decade)."""
    names = {"+0.000": "0", "+0.167": "+⅙", "-0.167": "−⅙", "+0.333": "+⅓", "-0.333": "−⅓",
             "+0.100": "+0.1", "+0.200": "+0.2", "+0.500": "+0.5"}
    return names.get(key, key)


def markdown(sets: Sequence[Mapping[str, Any]], command: str) -> list[str]:
    every = sorted({k for s in sets for k in s["fixed_offset_trained"]["pooled"]}, key=float)
    lifts = [offset_key(s) for s in LIFTS]
    lines = [
        "# Is `auto`'s max LR simply too low? A fixed move up, on stored runs (issue 19)", "",
        f"Generated by `{command}`; nothing trained. **Fixed offset** max LR = auto × 10^o: "
        "trained regret of the full runs `lr_trials.py` made at its candidates (exact). "
        "**Basin-top cap lifted** x = min(x_R + s, x_div − 0.8): regret estimated by "
        "interpolation between the trained grid runs of `lr_selection.py` (s = 0 is `auto`). "
        "Regret in validation points against the best grid LR, mean ± std over the "
        "repetitions (task × seed).", "",
        "## Fixed offset, trained regret", "",
        "| repetitions | budget | " + " | ".join(f"o = {thirds(k)}" for k in every) + " |",
        "|---|---|" + "---|" * len(every),
    ]
    for s in sets:
        t = s["fixed_offset_trained"]
        for b in [*s["budgets"], "pooled"]:
            cells = t["pooled"] if b == "pooled" else t["by_budget"][str(b)]
            lines.append(f"| {s['label']} | {b if b == 'pooled' else f'{b} ep'} | " + " | ".join(
                f"{cells[k]['mean']:.2f} ± {cells[k]['std']:.2f}" if k in cells else "–"
                for k in every) + " |")
    lines += ["", "Per task, every budget pooled (trained regret):", "",
              "| repetitions | task | " + " | ".join(f"o = {thirds(k)}" for k in every) + " |",
              "|---|---|" + "---|" * len(every)]
    for s in sets:
        for task, cells in s["fixed_offset_trained"]["by_task"].items():
            lines.append(f"| {s['label']} | {task} | " + " | ".join(
                f"{cells[k]:.2f}" if k in cells else "–" for k in every) + " |")
    lines += ["", "## Basin-top cap lifted, estimated regret", "",
              "| repetitions | basin-bound picks | budget | "
              + " | ".join(f"s = {thirds(k)}" for k in lifts) + " |",
              "|---|---|---|" + "---|" * len(lifts)]
    for s in sets:
        t = s["lifted_cap_estimated"]
        for b in [*s["budgets"], "pooled"]:
            cells = t["pooled"] if b == "pooled" else t["by_budget"][str(b)]
            lines.append(f"| {s['label']} | {s['basin_bound_repetitions']} of "
                         f"{s['repetitions']} | {b if b == 'pooled' else f'{b} ep'} | "
                         + " | ".join(f"{cells[k]['mean']:.2f}" for k in lifts) + " |")
    lines += ["", "Per task, every budget pooled (estimated regret):", "",
              "| repetitions | task | " + " | ".join(f"s = {thirds(k)}" for k in lifts) + " |",
              "|---|---|" + "---|" * len(lifts)]
    for s in sets:
        for task, cells in s["lifted_cap_estimated"]["by_task"].items():
            lines.append(f"| {s['label']} | {task} | "
                         + " | ".join(f"{cells[k]:.2f}" for k in lifts) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS,
                   help="where the lr_trials*.json files are read")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    sets = [score_set(rs, args.results) for rs in SETS]
    command = "python benchmarks/lr_offset_rule.py"
    lines = markdown(sets, command)
    payload = {"benchmark": NAME, "lifts": list(LIFTS), "sets": sets, "command": command,
               "guard_decades": CURRENT[1]}
    write_results(NAME, payload, lines, args.out_dir)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
