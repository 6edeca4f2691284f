"""Recipe levers of one-cycle at N/5 epochs, each measured (issue 13, part 2).

The harness of ``one_cycle_ablation.py`` (the epoch-economy configuration of a seed, with
``RunConfig`` fields changed; paired against the same seed's step-decay baseline and default
one-cycle run in ``epoch_economy.json``), for the levers that became config fields:
``lr_end``, ``lr_shape``, ``nesterov``, ``momentum``, ``weight_decay``,
``optimizer``/``adamw_weight_decay``, ``label_smoothing``, ``ema_momentum``, ``precise_bn``,
``bn_momentum``, ``batch_size``, ``train_flip``, ``train_shift``, ``tta_flip``, ``precision``,
``lr_trial_fraction``
(and ``max_lr``, ``min_lr_ratio``).

Choices are made on **validation** accuracy (the final one-cycle model's, after any weight
averaging / BN recalibration / TTA, on the 10% hold-out); the test accuracy is measured once per
trained model by the pipeline's evaluate stage and only reported. Per variant: validation and
test accuracy (mean ± sample std over its seeds), paired differences to the same seeds' default
one-cycle run (validation, test) and step-decay baseline (test), last-epoch training loss.

Results accumulate: every finished run is added to ``OUT/NAME.json`` (written atomically after
each run, merged with what the file already holds), so invocations with different variants and
seeds build one table, and a killed invocation loses at most the run in progress (which itself
resumes from its last epoch: each run is a pipeline run directory
``WORK/MODEL/<variant>/seed<s>``).

    OMP_NUM_THREADS=1 nice -n 10 env KERAS_BACKEND=torch python benchmarks/recipe_ablation.py \\
        --seeds 0 --variants lr_end=zero_half nesterov=true,momentum=0.9:0.9

Variant syntax: ``key=value[,key=value…]``; booleans ``true``/``false``; ``momentum=MAX:MIN``;
``none`` for an optional number.
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

import epoch_economy as ee  # noqa: E402
from common import (  # noqa: E402
    RESULTS,
    exclusive,
    merge_runs,
    stats,
    system_info,
    write_results,
)

NAME = "recipe_ablation"
#: the variant without changes: today's default pipeline, rerun with this code
DEFAULT = "default"
logger = logging.getLogger(NAME)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


def _optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _momentum(text: str) -> tuple[float, float]:
    hi, lo = text.split(":")
    return (float(hi), float(lo))


#: RunConfig fields a variant may change, with their parsers
VARIANT_FIELDS: dict[str, Any] = {
    "weight_decay": float, "max_lr": float, "min_lr_ratio": float,
    "bn_momentum": _optional_float, "batch_size": int, "lr_end": str, "lr_shape": str,
    "warmup_fraction": float, "optimizer": str,
    "adamw_weight_decay": float, "nesterov": _bool, "momentum": _momentum,
    "label_smoothing": float, "ema_momentum": _optional_float, "precise_bn": _bool,
    "train_flip": _bool, "train_shift": int, "tta_flip": _bool, "precision": str,
    "lr_trial_fraction": float,
}


def parse_variant(text: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """``"key=value,..."`` over ``fields`` (default: :data:`VARIANT_FIELDS`, key → parser);
    ``"default"`` = no change (today's default, rerun)."""
    fields = VARIANT_FIELDS if fields is None else fields
    out: dict[str, Any] = {}
    if text == DEFAULT:
        return out
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected key=value with key in {sorted(fields)}")
        try:
            out[key] = fields[key](value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: cannot read {value!r}") from None
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return ":".join(f"{v:g}" for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def variant_label(variant: dict[str, Any]) -> str:
    if not variant:
        return DEFAULT
    return ",".join(f"{k}={_fmt(v)}" for k, v in variant.items())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="simple_cnn")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--fraction", type=int, default=5)
    p.add_argument("--variants", nargs="+", type=parse_variant, required=True)
    p.add_argument("--name", default=NAME)
    p.add_argument("--economy-results", type=Path, default=RESULTS / "epoch_economy.json")
    p.add_argument("--work-dir", type=Path, default=HERE.parent / "runs" / NAME)
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    return p


def collect(item: dict[str, Any], changes: dict[str, Any], config: dict[str, Any]
            ) -> dict[str, Any]:
    (row,) = ee.collect(item)  # with the final model's steps and validation (final_steps)
    row.update(
        variant=item["label"],
        changes={k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()},
        config={k: config[k] for k in VARIANT_FIELDS if k in config},
        load_average=item.get("load_average"),
    )
    return row


def _paired(rows: list[dict[str, Any]], ref: dict[int, float], key: str) -> dict | None:
    diffs = [r[key] - ref[r["seed"]] for r in rows if r["seed"] in ref]
    return stats(diffs) if diffs else None


def summarize(runs: list[dict[str, Any]], baseline: dict[int, dict[str, Any]],
              default: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    base_test = {s: r["test_accuracy"] for s, r in baseline.items()}
    # today's default rerun where it exists (the range test's bound moved since the epoch
    # economy run for some seeds), else the epoch-economy default run of the seed
    def_test = {s: r["test_accuracy"] for s, r in default.items()}
    def_val = {s: r["val_accuracy"][-1] for s, r in default.items()}
    for r in runs:
        if r["variant"] == DEFAULT:
            def_test[r["seed"]], def_val[r["seed"]] = r["test_accuracy"], r["val_accuracy_final"]
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(r["variant"], []).append(r)
    out = []
    for label, rows in groups.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        out.append({
            "variant": label,
            "changes": rows[0]["changes"],
            "seeds": [r["seed"] for r in rows],
            "val_accuracy": stats([r["val_accuracy_final"] for r in rows]),
            "test_accuracy": stats([r["test_accuracy"] for r in rows]),
            "val_difference_vs_default": _paired(rows, def_val, "val_accuracy_final"),
            "test_difference_vs_default": _paired(rows, def_test, "test_accuracy"),
            "test_difference_vs_baseline": _paired(rows, base_test, "test_accuracy"),
            "per_seed": {r["seed"]: {"val": r["val_accuracy_final"], "test": r["test_accuracy"],
                                     "test_minus_baseline": r["test_accuracy"]
                                     - base_test.get(r["seed"], float("nan"))}
                         for r in rows},
            "final_train_loss": stats([r["final_train_loss"] for r in rows]),
            "max_lr": stats([r["bounds"]["max_lr"] for r in rows]),
            "bn_momentum": stats([r["bounds"]["bn_momentum"] for r in rows]),
            "wall_time": stats([r["wall_time"] for r in rows]),
        })
    return out


def _pm(s: dict | None, scale: float = 100.0, signed: bool = False) -> str:
    if not s:
        return "—"
    mean = f"{scale * s['mean']:+.2f}" if signed else f"{scale * s['mean']:.2f}"
    return mean + (f" ± {scale * s['std']:.2f}" if s["n"] > 1 else "")


def markdown(payload: dict[str, Any]) -> list[str]:
    s = payload["settings"]
    lines = [
        f"# Recipe levers of one-cycle at N/{s['fraction']} ({s['epochs']} epochs)",
        "",
        f"{s['dataset']}, `{s['model']}`, full training split, one-cycle for {s['epochs']} "
        f"epochs against the step-decay baseline's {s['baseline_epochs']}; backend "
        f"{payload['backend']}. Baseline and `default` rows: the epoch-economy runs of the same "
        "seeds (`epoch_economy.json`); every other row is today's default pipeline with only "
        "the changes its name says (bounds from its own range test by `auto`). val = final "
        "one-cycle model (after EMA swap / precise BN / TTA where set) on the 10% hold-out, "
        "the accuracy choices are made on; test = measured once per model, reported only. "
        "Δ = paired difference to the same seed's run (mean ± sample std over the seeds); "
        "'vs default' pairs with the `default` row (today's default pipeline rerun with this "
        "code: the range test now picks a different max LR for some seeds than in the epoch "
        "economy run) where it has the seed, else with the epoch-economy default run.",
        "",
        "| variant | seeds | val (%) | Δval vs default (pp) | test (%) | Δtest vs default (pp) "
        "| Δtest vs baseline (pp) | train loss | max LR | BN mom. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    b = payload["baseline"]
    lines.append(f"| step decay, {s['baseline_epochs']} epochs | {b['seeds']} | "
                 f"{_pm(b['val_accuracy'])} | — | {_pm(b['test_accuracy'])} | — | — | "
                 f"{b['final_train_loss']['mean']:.3f} | — | 0.99 |")
    d = payload["default"]
    delta = _pm(d["test_difference_vs_baseline"], signed=True)
    lines.append(f"| default (epoch economy run, older code) | {d['seeds']} | "
                 f"{_pm(d['val_accuracy'])} | — | "
                 f"{_pm(d['test_accuracy'])} | — | {delta} "
                 f"| {d['final_train_loss']['mean']:.3f} | {d['max_lr']['mean']:.3g} | — |")
    for e in payload["summary"]:
        lines.append(
            f"| {e['variant']} | {e['seeds']} | {_pm(e['val_accuracy'])} | "
            f"{_pm(e['val_difference_vs_default'], signed=True)} | {_pm(e['test_accuracy'])} | "
            f"{_pm(e['test_difference_vs_default'], signed=True)} | "
            f"{_pm(e['test_difference_vs_baseline'], signed=True)} | "
            f"{e['final_train_loss']['mean']:.3f} | {e['max_lr']['mean']:.3g} | "
            f"{e['bn_momentum']['mean']:.3g} |")
    lines += [
        "",
        "Per seed (test accuracy − same seed's baseline, pp):",
        "",
    ]
    for e in payload["summary"]:
        per = ", ".join(f"seed {k}: val {100 * v['val']:.2f}, test {100 * v['test']:.2f} "
                        f"({100 * v['test_minus_baseline']:+.2f})"
                        for k, v in sorted(e["per_seed"].items(), key=lambda kv: int(kv[0])))
        lines.append(f"* `{e['variant']}`: {per}")
    screened = [e for e in payload["summary"]
                if {"0", "1"} <= {str(k) for k in e["per_seed"]} and e["variant"] != DEFAULT]
    if screened:
        def val01(e: dict[str, Any]) -> float:
            per = {str(k): v for k, v in e["per_seed"].items()}
            return (per["0"]["val"] + per["1"]["val"]) / 2

        best = max(screened, key=val01)
        lines += ["", f"Highest mean validation accuracy on the screening seeds 0 and 1: "
                  f"`{best['variant']}` ({100 * val01(best):.2f}%)."]
    lines += ["", "The training loss of a `label_smoothing` run is the smoothed loss (not "
              "comparable with the others)."]
    loads = [r["load_average"] for r in payload["runs"] if r.get("load_average")]
    lines += [
        "",
        "Machine: 2 CPU cores shared with another engineer's jobs; each run used one thread "
        "(`OMP_NUM_THREADS=1`, `nice -n 10`), one training process at a time. 1-minute load "
        f"average at the start of the runs: {min(loads):.2f}–{max(loads):.2f}. " if loads else "",
        "These are accuracy runs; wall times are not benchmark-quality and are not reported.",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in payload["commands"]),
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from superconverge.io import read_json
    from superconverge.pipeline import Pipeline

    economy = read_json(args.economy_results)
    es = economy["settings"]
    all_seeds = list(es["seeds"])
    baseline = {r["seed"]: r for r in economy["runs"]
                if r["model"] == args.model and r["variant"] == "baseline"}
    default = {r["seed"]: r for r in economy["runs"]
               if r["model"] == args.model and r["variant"] == f"one_cycle_n{args.fraction}"}
    missing = sorted(set(args.seeds) - (baseline.keys() & default.keys()))
    if missing:
        raise SystemExit(f"epoch_economy.json has no runs for seeds {missing}")
    epochs = ee.variant_epochs(es["epochs"], args.fraction)
    base_args = argparse.Namespace(
        dataset=es["dataset"], data_path=None,
        subsets={args.model: es["train_subset"].get(args.model)},
        batch_size=es["batch_size"], augment=es["augment"], range_steps=es["range_steps"],
        baseline_lr=es["baseline_lr"], weight_decay=es["weight_decay"],
        # the recipe the economy runs were made with (a variant changes it key by key)
        one_cycle_recipe=es.get("one_cycle_recipe", "baseline"), overrides={},
    )
    out_json = args.out_dir / f"{args.name}.json"
    previous = read_json(out_json) if out_json.exists() else {}
    runs: list[dict[str, Any]] = list(previous.get("runs", []))
    command = "python benchmarks/recipe_ablation.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    commands = list(previous.get("commands", []))
    if command not in commands:
        commands.append(command)

    import keras

    def write() -> None:
        # invocations running side by side share the file: merge what they wrote meanwhile
        with exclusive(out_json):
            on_disk = read_json(out_json) if out_json.exists() else {}
            runs[:] = merge_runs(runs, on_disk.get("runs", []),
                                 key=lambda r: (r["variant"], r["seed"]))
            commands[:] = list(dict.fromkeys([*on_disk.get("commands", []), *commands]))
            _write_locked()

    def _write_locked() -> None:
        def_rows = [default[s] for s in all_seeds]
        base_rows = [baseline[s] for s in all_seeds]
        payload = {
            "benchmark": args.name,
            "system": system_info(),
            "backend": keras.backend.backend(),
            "commands": commands,
            "settings": {"dataset": es["dataset"], "model": args.model,
                         "fraction": args.fraction, "epochs": epochs,
                         "baseline_epochs": es["epochs"],
                         "economy_results": os.path.relpath(args.economy_results, HERE.parent),
                         "selection": "validation accuracy of the final one-cycle model"},
            "baseline": {"seeds": all_seeds,
                         "val_accuracy": stats([r["val_accuracy"][-1] for r in base_rows]),
                         "test_accuracy": stats([r["test_accuracy"] for r in base_rows]),
                         "final_train_loss": stats([r["final_train_loss"] for r in base_rows])},
            "default": {"seeds": all_seeds,
                        "per_seed": {r["seed"]: {"val": r["val_accuracy"][-1],
                                                 "test": r["test_accuracy"]} for r in def_rows},
                        "val_accuracy": stats([r["val_accuracy"][-1] for r in def_rows]),
                        "test_accuracy": stats([r["test_accuracy"] for r in def_rows]),
                        "test_difference_vs_baseline": stats(
                            [default[s]["test_accuracy"] - baseline[s]["test_accuracy"]
                             for s in all_seeds]),
                        "final_train_loss": stats([r["final_train_loss"] for r in def_rows]),
                        "max_lr": stats([r["bounds"]["max_lr"] for r in def_rows])},
            "summary": summarize(runs, baseline, default),
            "runs": runs,
            "note": "2 shared CPU cores, 1 thread per run; wall times are not benchmark-quality",
        }
        write_results(args.name, payload, markdown(payload), args.out_dir)

    for changes in args.variants:
        label = variant_label(changes)
        for seed in args.seeds:
            if any(r["variant"] == label and r["seed"] == seed for r in runs):
                logger.info("%s seed %d: already in %s", label, seed, out_json)
                continue
            item = {"model": args.model, "seed": seed, "fraction": args.fraction,
                    "epochs": epochs, "baseline_epochs": 0, "label": label,
                    "dir": args.work_dir / args.model / label / f"seed{seed}",
                    "load_average": os.getloadavg()[0]}
            config = ee.run_config(base_args, item).replace(**changes)
            if not ee.run_is_finished(item["dir"]):
                logger.info("%s seed %d: running in %s", label, seed, item["dir"])
                started = time.perf_counter()
                pipeline = Pipeline(config, quiet=True)
                pipeline.run([s for s in ee.STAGES if s in pipeline.planned_stages()])
                logger.info("%s seed %d: done in %.0f s", label, seed,
                            time.perf_counter() - started)
            runs.append(collect(item, changes, config.to_dict()))
            write()
            e = next(x for x in summarize(runs, baseline, default) if x["variant"] == label)
            r = e["per_seed"][seed]
            logger.info("%s seed %d: val %.2f (default %.2f), test %.2f (baseline %+.2f)",
                        label, seed, 100 * r["val"], 100 * default[seed]["val_accuracy"][-1],
                        100 * r["test"], 100 * r["test_minus_baseline"])
    write()
    print("\n".join(markdown(read_json(out_json))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
