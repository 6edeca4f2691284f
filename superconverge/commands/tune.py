"""``superconverge tune``: choose weight decay and batch-norm momentum (Smith 2018) on Optuna."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import sys
from pathlib import Path

from superconverge.commands.pipeline import TUNE_KEYS, add_config_options, config_from_args
from superconverge.defaults import PIPELINE_TUNING_COST
from superconverge.pipeline.config import RunConfig

GRIDS = ("default", "deep", "shallow")


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") \
            from error


def _cost(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a number of runs or 'none', got {text!r}") \
            from error
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"--cost must be a positive number, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="choose weight decay and batch-norm momentum with short runs (Smith 2018)",
        description=(
            "Short one-cycle runs judged on validation loss: the weight-decay grid "
            "(1e-3, 1e-4, 1e-5, 0), a bisection of the exponent, then batch-norm momenta "
            "0.9 … 0.999 at the chosen weight decay. Writes tuning.json, tuning/*.png, "
            "report.html and (by default) the Optuna study tuning.db into --out; run the same "
            "command again to resume a killed search, or on several machines with one "
            "--storage URL and --study-name to share it."
        ),
    )
    # the settings shared with `run` (same flags, same defaults, --config): --epochs is the
    # length of the training tuned for, --max-lr that of the short runs (default: one range
    # test), --bn-momentum fixes the batch-norm momentum (weight decay is tuned alone)
    add_config_options(parser, keys=TUNE_KEYS)
    parser.add_argument("--trial-epochs", type=int, default=None,
                        help="length of each short run (default: --epochs)")
    parser.add_argument("--budget", type=int, default=None,
                        help="number of short runs (default: grid + momenta + 1 bisection)")
    parser.add_argument("--cost", type=_cost, default=PIPELINE_TUNING_COST, metavar="RUNS",
                        help="the most the default search may cost, in runs of --epochs on all "
                        "the training data: each short run trains on the share of it that "
                        f"fits (default {PIPELINE_TUNING_COST:g}); 'none': all of it")
    parser.add_argument("--grid", choices=GRIDS, default="default",
                        help="weight-decay grid: default 1e-3..0, deep 1e-4..1e-6 + 0, "
                        "shallow 1e-2..1e-4 + 0")
    parser.add_argument("--weight-decays", type=_floats, default=None, metavar="LIST",
                        help="your own weight-decay grid, e.g. 1e-3,1e-4,0 (Caffe λ)")
    parser.add_argument("--bn-momenta", type=_floats, default=None, metavar="LIST",
                        help="batch-norm momenta to check (default 0.9,0.95,0.99,0.999)")
    parser.add_argument("--precise-bn", action="store_true",
                        help="recalibrate BN statistics on training data before judging a run")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (default sqlite:///OUT/tuning.db), e.g. "
                        "postgresql://user@host/db to share one study between machines")
    parser.add_argument("--study-name", default="tuning", help="study name in the storage")
    parser.add_argument("--quiet", action="store_true", help="only warnings in the log")
    parser.add_argument("--json", action="store_true", help="print tuning.json at the end")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import optuna

    from superconverge import models
    from superconverge.tuning import tune_regularization

    config = check_args(args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.quiet:
        logging.getLogger("superconverge").setLevel(logging.WARNING)
    from superconverge.pipeline import Pipeline
    from superconverge.pipeline.tuning_stage import short_run_recipe

    pipeline = Pipeline(config)
    splits = pipeline.data  # the same loading (and loader options) as `run`
    build = functools.partial(models.build, config.model, splits.input_shape,
                              splits.num_classes, seed=config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    result = tune_regularization(
        build, splits,
        weight_decays=args.weight_decays if args.weight_decays is not None else args.grid,
        bn_momenta=args.bn_momenta,
        bn_momentum=config.bn_momentum,
        # the weight decay `run` would train with untuned: the value a candidate must beat
        prior_weight_decay=config.weight_decay,
        budget=args.budget,
        storage=args.storage,
        study_name=args.study_name,
        out_dir=out,
        epochs=config.epochs,
        trial_epochs=args.trial_epochs,
        cost_limit=args.cost,
        max_lr=config.max_lr,
        batch_size=pipeline.batch_size,
        seed=config.seed,
        precise_bn=args.precise_bn,
        **short_run_recipe(pipeline),  # the training `run` would give the final model
    )
    report = _write_report(out)
    # with --json, stdout carries the JSON document only
    human = sys.stderr if args.json else sys.stdout
    wd = result.weight_decay
    print(f"weight decay {wd:.4g} (Caffe λ; Keras L2({wd / 2:.4g}) on kernels), "
          f"batch-norm momentum {result.bn_momentum:g} for {result.target_epochs} epoch(s)",
          file=human)
    print(result.reason, file=human)
    print(f"evidence: {out / 'tuning.json'}, plots in {out / 'tuning'}"
          + (f", report {report}" if report else ""), file=human)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0


def check_args(args: argparse.Namespace) -> RunConfig:
    """Validate every argument before anything is stored; the settings ``run`` shares go
    through :class:`RunConfig` (the same rules, the same messages). Returns the config."""
    from superconverge.errors import ArgumentError

    config = config_from_args(args)
    for name in ("trial_epochs", "budget"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ArgumentError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for name in ("weight_decays", "bn_momenta"):
        values = getattr(args, name)
        if values is not None and not all(math.isfinite(v) for v in values):
            raise ArgumentError(f"--{name.replace('_', '-')} must be finite numbers, got "
                                f"{values}")
    return config


def _write_report(out: Path) -> Path:
    """The report of the tuning directory (its sections appear as their files exist)."""
    from superconverge.pipeline.report import write_report

    return write_report(out)
