"""Short trial runs around `auto`'s pick: does choosing the max LR by a few short One Cycle
runs lower the regret (issue 19)?

For every repetition (task, seed, budget) of an ``lr_selection.py`` run (its flags after
``--``), ``auto`` reads its max LR ``p`` off the stored range test, told the budget's steps.
Candidates are ``p · 10^o`` for each offset ``o`` (decades, ``--offsets``). Each candidate gets
a *trial*: a One Cycle run of ``f · budget steps`` (``--fractions``) from the repetition's
initial weights and batch order, scored on the validation split by ``--criterion``. The trial
winner then trains for the whole budget, exactly as ``lr_selection.py`` trains its grid, and
its regret (best grid accuracy − accuracy at the pick, validation, points) is paired with
``auto``'s. Every candidate also trains for the whole budget, which gives the *candidate
oracle*: the regret of the best candidate in hindsight, the floor of any selection among
these candidates. The trials' cost is reported in training steps, as a fraction of the
budget (``len(offsets) · f``). *The pipeline's choice* is the refined winner, ``p`` where no
trial left chance accuracy, and, where ``2f`` is among the fractions too, the pipeline's check
of an upward move (a winner above ``p`` stands only if it beats ``p`` again in the ``2f``
trials; ``confirm_upward_move``). New runs go to this benchmark's own cache (JSON lines per
task), so a killed run resumes.

    OMP_NUM_THREADS=1 python benchmarks/lr_trials.py --offsets -0.333 0 0.333 \\
        --fractions 0.125 0.25 -- --tasks fmnist_cnn mnist1d_cnn fmnist_mlp mnist1d_mlp \\
        --fmnist-train 6400 --range-steps 100 --grid-min 0.03 --grid-max 6.463 \\
        --grid-points 8 --cache-dir benchmarks/results/lr_selection_budget_cache
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
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
    split_forwarded_args,
    system_info,
    write_results,
)

NAME = "lr_trials"
#: this benchmark's criterion -> the library's (``lr_trials(criterion=...)``)
CRITERIA = {"val_acc": "accuracy", "val_loss": "loss"}
logger = logging.getLogger(NAME)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, forwarded = split_forwarded_args(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--offsets", nargs="+", type=float, default=[-1 / 3, 0.0, 1 / 3],
                   help="candidates p * 10**offset around auto's pick p, in decades")
    p.add_argument("--fractions", nargs="+", type=float, default=[0.125, 0.25],
                   help="trial length as a fraction of the budget's steps")
    p.add_argument("--criterion", choices=list(CRITERIA), default="val_acc")
    p.add_argument("--cache-dir", type=Path, default=RESULTS / "lr_trials_cache")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--name", default=NAME)
    args = p.parse_args(own)
    if 0.0 not in args.offsets:
        raise SystemExit("--offsets must include 0 (auto's own pick)")
    if any(not 0.0 < f <= 1.0 for f in args.fractions):
        raise SystemExit("--fractions must lie in (0, 1]")
    if not forwarded:
        raise SystemExit("name the lr_selection.py run after `--` (its flags)")
    return args, forwarded


def trial_key(task: str, seed: int, lr: float, steps: int, fp: str) -> str:
    import lr_selection

    return f"trial|{task}|{seed}|{lr_selection.lr_key(lr)}|{steps}|{fp}"


def train_trial(spec: Any, splits: Any, seed: int, max_lr: float, cfg: Any,
                steps: int) -> dict[str, Any]:
    """One One Cycle run of ``steps`` optimizer steps (the first ``steps`` batches of the
    repetition's order) from the repetition's initial weights; validation accuracy and loss."""
    import keras
    import lr_selection

    import superconverge as sc

    keras.utils.set_random_seed(seed)
    model = spec.build(splits.input_shape, splits.num_classes, seed)
    lr_selection._compile(model, max_lr, cfg)
    model.fit(splits.train_batches(cfg.batch_size, shuffle=True, seed=seed), epochs=1,
              steps_per_epoch=steps, shuffle=False, verbose=0,
              callbacks=[sc.OneCycle(max_lr, total_steps=steps,
                                     cycle_momentum=cfg.momentum_recipe == "cycled")])
    loss, acc = model.evaluate(*splits.val.as_tuple(), batch_size=cfg.eval_batch_size, verbose=0)
    return {"val_acc": float(acc),
            "val_loss": float(loss) if math.isfinite(float(loss)) else math.inf}


def cached_trial(cache: Any, spec: Any, splits: Any, seed: int, lr: float, cfg: Any,
                 steps: int, fp: str) -> dict[str, Any]:
    key = trial_key(spec.name, seed, lr, steps, fp)
    if key not in cache:
        started = time.time()
        res = train_trial(spec, splits, seed, lr, cfg, steps)
        cache.add({"key": key, "kind": "trial", "task": spec.name, "seed": seed,
                   "max_lr": float(lr), "steps": steps, **res,
                   "wall_s": time.time() - started, "load_average": list(os.getloadavg())})
        logger.info("%s seed %d trial %d steps at %.4g: val acc %.4f", spec.name, seed, steps,
                    lr, res["val_acc"])
    return cache[key]


def trial_result(candidates: list[float], trials: list[dict[str, Any]], criterion: str
                  ) -> Any:
    """The stored trials as the library's ``TrialResult``, so that the benchmark chooses with
    the library's own rule (``superconverge.finder.trials``)."""
    from superconverge.finder.trials import LRTrial, TrialResult

    return TrialResult(tuple(LRTrial(c, t["val_loss"], t["val_acc"])
                             for c, t in zip(candidates, trials)),
                       steps=0, criterion=CRITERIA[criterion])


def main(argv: list[str] | None = None) -> None:
    import lr_repeats
    import lr_selection

    from superconverge.finder.trials import candidate_max_lrs

    args, forwarded = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sel = lr_selection.parse_args(forwarded)
    cfg = lr_selection.run_config(sel)
    load_start = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    for spec, splits, task_reps, selection_cache, cache in lr_repeats.task_repetitions(
            sel, args.cache_dir):
        task, fp = spec.name, lr_selection.fingerprint(spec, cfg)
        for rep in task_reps:
            seed, epochs, steps = rep["seed"], rep["epochs"], rep["steps"]
            pick = float(rep["result"].suggest(method="auto", total_steps=steps).max_lr)
            candidates = candidate_max_lrs(pick, args.offsets)
            run = (spec, splits, seed, epochs, cfg)
            full = [lr_repeats.accuracy_at(c, run, selection_cache, cache)
                    for c in candidates]
            regrets = [100.0 * (rep["best_grid_acc"] - a) for a in full]
            auto_index = sorted(args.offsets).index(0.0)
            row = {"task": task, "seed": seed, "epochs": epochs, "steps": steps,
                   "auto_lr": pick, "candidates": candidates, "candidate_regrets": regrets,
                   "regret_auto": regrets[auto_index], "regret_oracle": min(regrets),
                   "by_fraction": {}}
            for frac in args.fractions:
                trial_steps = max(1, round(frac * steps))
                trials = [cached_trial(cache, spec, splits, seed, c, cfg, trial_steps, fp)
                          for c in candidates]
                result = trial_result(candidates, trials, args.criterion)
                win = candidates.index(result.winner_max_lr)
                refined = float(result.best_max_lr)
                refined_regret = 100.0 * (rep["best_grid_acc"] - lr_repeats.accuracy_at(
                    refined, run, selection_cache, cache))
                # the pipeline keeps auto's pick when no trial left chance accuracy
                learned = result.learned(splits.num_classes)
                row["by_fraction"][str(frac)] = {
                    "trial_steps": trial_steps,
                    "trials": [{k: t[k] for k in ("val_acc", "val_loss")} for t in trials],
                    "winner_lr": candidates[win], "regret": regrets[win],
                    "refined_lr": refined, "refined_regret": refined_regret,
                    "learned": learned,
                    "pipeline_regret": refined_regret if learned else row["regret_auto"]}
            add_confirmations(row, args.criterion, splits.num_classes)
            rows.append(row)
            logger.info("%s seed %d %d ep: auto %.2f, oracle %.2f, trials %s", task, seed,
                        epochs, row["regret_auto"], row["regret_oracle"],
                        {f: round(v["regret"], 2) for f, v in row["by_fraction"].items()})
        payload = summarize(rows, args, forwarded, load_start)
        write_results(args.name, payload, markdown(payload), out_dir=args.out_dir)


def add_confirmations(row: dict[str, Any], criterion: str, num_classes: int) -> None:
    """For each trial fraction ``f`` whose ``LR_TRIAL_CONFIRM_FACTOR × f`` was also run: the
    pipeline's choice (``pipeline_regret``) with its check of an upward move, by the library's
    own rule (``superconverge.finder.trials.choose_max_lr``); the longer trials at ``auto``'s
    pick and the winner are those of the longer fraction (same weights and batches)."""
    from superconverge.defaults import LR_TRIAL_CONFIRM_FACTOR
    from superconverge.finder.trials import choose_max_lr

    candidates, pick = row["candidates"], row["auto_lr"]
    for frac, entry in row["by_fraction"].items():
        longer = row["by_fraction"].get(str(float(frac) * LR_TRIAL_CONFIRM_FACTOR))
        if longer is None:
            continue

        def stored(max_lrs: list[float], longer: dict[str, Any] = longer) -> Any:
            return trial_result(max_lrs, [longer["trials"][candidates.index(lr)]
                                           for lr in max_lrs], criterion)

        choice = choose_max_lr(trial_result(candidates, entry["trials"], criterion), pick,
                               num_classes=num_classes, confirm=stored)
        entry["confirmation"] = {"steps": longer["trial_steps"],
                                 "moved_up": choice.confirmation is not None,
                                 "held": choice.held}
        entry["pipeline_regret"] = (entry["refined_regret"] if choice.max_lr != pick
                                    else row["regret_auto"])


def variant_regret(row: dict[str, Any], variant: str) -> float:
    """A row's regret under ``variant`` = ``"trials_<f>"`` (the trial winner) or
    ``"refined_<f>"`` (the refined winner) for trial fraction ``f``."""
    kind, frac = variant.split("_", 1)
    entry = row["by_fraction"][frac]
    return float(entry["regret"] if kind == "trials" else entry["refined_regret"])


def held_out_choice(rows: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Leave one task out: for each task, the variant with the lowest mean regret on the
    other tasks' rows (all budgets), scored on the held-out task's rows. Returns the choice
    per task and the held-out regret per budget, pooled over the tasks, with ``auto``'s on
    the same rows."""
    tasks = sorted({r["task"] for r in rows})
    if len(tasks) < 2:
        return {}
    chosen, scored = {}, []
    for task in tasks:
        rest = [r for r in rows if r["task"] != task]
        best = min(variants, key=lambda v: statistics.fmean(variant_regret(r, v) for r in rest))
        chosen[task] = best
        scored += [(r, variant_regret(r, best)) for r in rows if r["task"] == task]
    by_budget = {}
    for budget in [*sorted({r["epochs"] for r in rows}), "pooled"]:
        sel = [(r, g) for r, g in scored if budget == "pooled" or r["epochs"] == budget]
        by_budget[str(budget)] = {"held_out": _stats([g for _, g in sel]),
                                  "auto": _stats([r["regret_auto"] for r, _ in sel])}
    return {"chosen": chosen, "by_budget": by_budget}


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def summarize(rows: list[dict[str, Any]], args: argparse.Namespace, forwarded: list[str],
              load_start: list[float]) -> dict[str, Any]:
    """Regret per budget and pooled: auto, each trial length (and its paired difference with
    auto), the candidate oracle; the trials' cost as a fraction of the budget."""
    budgets = sorted({r["epochs"] for r in rows})
    by_budget = {}
    for budget in [*budgets, "pooled"]:
        sel = [r for r in rows if budget == "pooled" or r["epochs"] == budget]
        entry = {"auto": _stats([r["regret_auto"] for r in sel]),
                 "oracle": _stats([r["regret_oracle"] for r in sel])}
        for frac in args.fractions:
            got = [r["by_fraction"][str(frac)]["regret"] for r in sel]
            entry[f"trials_{frac}"] = _stats(got)
            entry[f"trials_{frac}_minus_auto"] = _stats(
                [g - r["regret_auto"] for g, r in zip(got, sel)])
            refined = [r["by_fraction"][str(frac)]["refined_regret"] for r in sel]
            entry[f"refined_{frac}"] = _stats(refined)
            entry[f"refined_{frac}_minus_auto"] = _stats(
                [g - r["regret_auto"] for g, r in zip(refined, sel)])
            piped = [r["by_fraction"][str(frac)]["pipeline_regret"] for r in sel]
            entry[f"pipeline_{frac}"] = _stats(piped)
            entry[f"pipeline_{frac}_minus_auto"] = _stats(
                [g - r["regret_auto"] for g, r in zip(piped, sel)])
            entry[f"pipeline_{frac}_kept_auto"] = sum(
                not r["by_fraction"][str(frac)]["learned"] for r in sel)
            checks = [r["by_fraction"][str(frac)].get("confirmation") for r in sel]
            if all(checks):
                entry[f"pipeline_{frac}_moves"] = {
                    "moved_up": sum(bool(c["moved_up"]) for c in checks),
                    "held": sum(bool(c["held"]) for c in checks)}
        by_budget[str(budget)] = entry
    variants = [f"{kind}_{f}" for f in args.fractions for kind in ("trials", "refined")]
    by_task = {task: {"auto": _stats([r["regret_auto"] for r in rows if r["task"] == task]),
                      "oracle": _stats([r["regret_oracle"] for r in rows if r["task"] == task]),
                      **{v: _stats([variant_regret(r, v) for r in rows if r["task"] == task])
                         for v in variants}}
               for task in sorted({r["task"] for r in rows})}
    return {"benchmark": NAME, "system": system_info(), "offsets": sorted(args.offsets),
            "held_out": held_out_choice(rows, variants), "by_task": by_task,
            "fractions": args.fractions, "criterion": args.criterion,
            "cost_fraction_of_budget": {str(f): len(args.offsets) * f for f in args.fractions},
            "lr_selection_flags": forwarded, "argv": sys.argv[1:],
            "load_average": {"start": load_start, "end": list(os.getloadavg())},
            "by_budget": by_budget, "rows": rows}


def _cell(x: dict[str, Any]) -> str:
    return f"{x['mean']:.2f}" + (f" ± {x['std']:.2f}" if x["std"] is not None else "")


def markdown(payload: dict[str, Any]) -> list[str]:
    from superconverge.defaults import LR_TRIAL_CONFIRM_FACTOR

    offsets = ", ".join(f"{o:+.3g}" for o in payload["offsets"])
    fracs = payload["fractions"]
    lines = [
        "# Short trial runs around `auto`'s pick (issue 19)", "",
        f"Per repetition of the `lr_selection.py` run below (task × seed × budget): candidates "
        f"`auto`'s pick × 10^o for o in {{{offsets}}} decades; each gets a One Cycle trial of "
        "f × the budget's steps from the repetition's initial weights and batch order, scored "
        f"by validation `{payload['criterion']}`; the winner (*trial winner*), or the vertex of "
        "the parabola through the winner and its neighbours in log LR (*refined winner*, at "
        "most half a step away), trains for the whole budget; the pipeline keeps `auto`'s "
        "pick instead where no trial got a tenth of the way from chance accuracy to 1 "
        "(`TrialResult.learned`). "
        "Regret = best grid accuracy − accuracy at the pick (validation, points); Δ = trials − "
        "auto, paired. *Candidate oracle*: the best candidate's full run in hindsight (the "
        "floor of any choice among them). Trial cost = candidates × f of the budget's steps. "
        "Target: ≤ 0.5 at every budget. Accuracy runs, one thread; load average "
        f"{payload['load_average']['start'][0]:.2f} → {payload['load_average']['end'][0]:.2f}.",
        "",
        "| budget (epochs) | repetitions | selection | trial cost (× budget) | regret "
        "| Δ vs auto (paired) |", "|---|---|---|---|---|---|"]
    for budget, s in payload["by_budget"].items():
        n = s["auto"]["n"]
        lines.append(f"| {budget} | {n} | `auto` alone | 0 | {_cell(s['auto'])} | – |")
        for f in fracs:
            cost = payload["cost_fraction_of_budget"][str(f)]
            for kind, label in (("trials", "trial winner"), ("refined", "refined winner")):
                regret, delta = s[f"{kind}_{f}"], s[f"{kind}_{f}_minus_auto"]
                lines.append(f"| {budget} | {n} | {label}, f = {f} | {cost:.3g} "
                             f"| {_cell(regret)} | {_cell(delta)} |")
            kept, moves = s.get(f"pipeline_{f}_kept_auto"), s.get(f"pipeline_{f}_moves")
            if kept or moves:  # else the pipeline's choice is the refined row
                notes = ["refined"]
                if kept:
                    notes.append(f"`auto` on the {kept} where no trial left chance")
                if moves:
                    notes.append(f"upward moves confirmed at f = {LR_TRIAL_CONFIRM_FACTOR * f:g}"
                                 f": {moves['moved_up']} moved up, {moves['held']} held")
                extra = (f" + {2 * LR_TRIAL_CONFIRM_FACTOR * f:.3g} per move up"
                         if moves else "")
                lines.append(
                    f"| {budget} | {n} | the pipeline's choice, f = {f} ({'; '.join(notes)}) "
                    f"| {cost:.3g}{extra} | {_cell(s[f'pipeline_{f}'])} "
                    f"| {_cell(s[f'pipeline_{f}_minus_auto'])} |")
        lines.append(f"| {budget} | {n} | candidate oracle | – | {_cell(s['oracle'])} | – |")
    by_task = payload.get("by_task") or {}
    if by_task:
        variants = [k for k in next(iter(by_task.values())) if k not in ("auto", "oracle")]
        label = {"trials": "winner", "refined": "refined"}
        lines += ["", "Per task, every budget pooled: mean regret (points).", "",
                  "| task | `auto` | " + " | ".join(
                      f"{label[v.split('_', 1)[0]]}, f = {v.split('_', 1)[1]}" for v in variants)
                  + " | candidate oracle |", "|---|---|" + "---|" * len(variants) + "---|"]
        lines += [f"| {t} | {e['auto']['mean']:.2f} | "
                  + " | ".join(f"{e[v]['mean']:.2f}" for v in variants)
                  + f" | {e['oracle']['mean']:.2f} |" for t, e in by_task.items()]
    held = payload.get("held_out") or {}
    if held:
        names = {"trials": "trial winner", "refined": "refined winner"}
        lines += ["", "**Held out by task**: for each task, the variant (trial length × winner "
                  "or refined) with the lowest mean regret on the other tasks, scored on it: "
                  + "; ".join(f"`{t}` ← {names[v.split('_', 1)[0]]}, f = {v.split('_', 1)[1]}"
                              for t, v in held["chosen"].items()) + ".", "",
                  "| budget (epochs) | held-out regret | `auto` on the same rows |",
                  "|---|---|---|"]
        lines += [f"| {b} | {_cell(v['held_out'])} | {_cell(v['auto'])} |"
                  for b, v in held["by_budget"].items()]
    lines += ["", "| task | seed | budget | auto LR | candidate regrets (full runs) | "
              + " | ".join(f"f={f}: winner LR (regret); refined" for f in fracs) + " |",
              "|---|---|---|---|---|" + "---|" * len(fracs)]
    for r in payload["rows"]:
        cells = " / ".join(f"{x:.2f}" for x in r["candidate_regrets"])
        lines.append(f"| {r['task']} | {r['seed']} | {r['epochs']} | {r['auto_lr']:.3g} "
                     f"| {cells} | "
                     + " | ".join(f"{v['winner_lr']:.3g} ({v['regret']:.2f}); "
                                  f"{v['refined_lr']:.3g} ({v['refined_regret']:.2f})"
                                  for v in r["by_fraction"].values()) + " |")
    lines += ["", "Command: `python benchmarks/lr_trials.py " + " ".join(payload["argv"]) + "`.",
              ""]
    return lines


if __name__ == "__main__":
    main()
