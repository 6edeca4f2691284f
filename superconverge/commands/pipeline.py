"""``superconverge run | lr-find | train | resume | report``: the pipeline's subcommands.

All of them share one configuration model (:class:`~superconverge.pipeline.RunConfig`):
a TOML file (``--config``) overridden by flags, validated before anything starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from superconverge.budget import parse_duration
from superconverge.io import read_json
from superconverge.pipeline.config import ConfigError, RunConfig
from superconverge.pipeline.rundir import RunDirectory
from superconverge.settings_check import changed_keys, mismatch_message

# flag -> (config key, type, help)
_OPTIONS: dict[str, tuple[str, Any, str]] = {
    "--dataset": ("dataset", str, "fashion_mnist, mnist, cifar10, image_folder, mnist1d, ..."),
    "--data-path": ("data_path", str, "where the data files are (default: standard places)"),
    "--model": ("model", str, "simple_cnn, resnet20, resnet56, resnet9"),
    "--epochs": ("epochs", int, "one-cycle epochs"),
    "--budget": ("budget_seconds", parse_duration,
                 "wall-clock budget of range test + one-cycle (e.g. 5m, 90s, 1h): the epochs "
                 "that fit replace --epochs"),
    "--baseline-epochs": ("baseline_epochs", int, "baseline epochs (0: no baseline)"),
    "--batch-size": ("batch_size", int, "examples per one-cycle batch (default: 64, halved "
                     "while the cycle has under 1,000 steps)"),
    "--train-subset": ("train_subset", int, "train on the first N training examples"),
    "--validation-split": ("validation_split", float, "fraction held out for validation"),
    "--max-lr": ("max_lr", float, "skip the range test and use this max LR"),
    "--method": ("suggest_method", str, "how to read the bounds off the range test"),
    "--weight-decay": ("weight_decay", float, "L2 weight decay (Caffe convention)"),
    "--bn-momentum": ("bn_momentum", float, "batch-norm momentum (default: from run length)"),
    "--lr-end": ("lr_end", str, "end of the smith LR shape: annihilate, zero_tail, zero_half"),
    "--lr-shape": ("lr_shape", str,
                   "shape of the one-cycle LR: warmup_cosine (default), warmup_linear, smith"),
    "--warmup-fraction": ("warmup_fraction", float,
                          "share of the one-cycle steps spent warming up (warmup_* shapes)"),
    "--optimizer": ("optimizer", str, "sgd, adam or adamw (range test and one-cycle)"),
    "--adamw-weight-decay": ("adamw_weight_decay", float, "AdamW's decoupled weight decay"),
    "--label-smoothing": ("label_smoothing", float, "label smoothing of the training loss"),
    "--ema-momentum": ("ema_momentum", float, "average the one-cycle weights (EMA momentum)"),
    "--train-shift": ("train_shift", int,
                      "random translations by up to ±N pixels in one-cycle training"),
    "--seed": ("seed", int, "random seed"),
    "--image-size": ("image_size", int, "image_folder: resize images to N×N pixels"),
    "--color-mode": ("color_mode", str, "image_folder: rgb, grayscale or rgba"),
    "--precision": ("precision", str, "float32 or mixed_bfloat16"),
    "--range-steps": ("range_steps", int, "range-test steps (default: one epoch)"),
    "--range-repeats": ("range_repeats", int,
                        "range tests averaged, each from its own initialisation (default 1)"),
    "--lr-trial-fraction": ("lr_trial_fraction", float,
                            "choose the max LR by short trials at the pick x 10^(-1/3, 0, "
                            "1/3), each this share of the planned steps (default 0: none)"),
    "--out": ("out", str, "run directory"),
}

# boolean recipe levers: flag -> help (the config key is the flag's name with underscores)
_SWITCHES: dict[str, str] = {
    "--nesterov": "Nesterov momentum (SGD)",
    "--precise-bn": "recompute the BN statistics after one-cycle training",
    "--train-flip": "random horizontal flips in one-cycle training (flip-invariant data only)",
    "--tta-flip": "test-time flip augmentation for the one-cycle model",
}
#: switch flag -> its config key
_SWITCH_KEYS = {flag: flag[2:].replace("-", "_") for flag in _SWITCHES}


#: the configuration keys ``tune`` shares with ``run`` (its other flags are its own)
TUNE_KEYS = ("dataset", "data_path", "model", "epochs", "batch_size", "train_subset",
             "validation_split", "max_lr", "bn_momentum", "seed", "image_size", "color_mode",
             "out")


def add_config_options(parser: argparse.ArgumentParser,
                       keys: tuple[str, ...] | None = None) -> None:
    """``--config`` and the flags of the configuration keys (all, or ``keys``): one set of
    flags, one meaning and one default (:class:`RunConfig`'s) for every subcommand."""
    parser.add_argument("--config", metavar="TOML", help="configuration file (flags override it)")
    for flag, (key, kind, text) in _OPTIONS.items():
        if keys is None or key in keys:
            parser.add_argument(flag, dest=key, type=kind, default=None, help=text)
    parser.add_argument("--download", action="store_true", default=None,
                        help="allow downloading the data set through Keras")
    if keys is not None:
        return
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline")
    parser.add_argument("--augment", action="store_true", default=None,
                        help="standard augmentation of the data set")
    parser.add_argument("--tune", action="store_true", default=None,
                        help="choose weight decay and BN momentum first (Smith 2018)")
    parser.add_argument("--force", action="store_true",
                        help="write into a non-empty folder that is not a run directory")
    for flag, text in _SWITCHES.items():
        parser.add_argument(flag, dest=_SWITCH_KEYS[flag], action="store_true",
                            default=None, help=text)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--json", action="store_true", help="print a JSON summary at the end")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    commands = {
        "run": "range test → bounds → one-cycle → baseline → test → report",
        "lr-find": "range test and bounds only: prints the suggested LR bounds",
        "train": "one-cycle training (and the stages it needs), no baseline",
    }
    for name, text in commands.items():
        parser = subparsers.add_parser(name, help=text, description=text)
        add_config_options(parser)
        _add_output_options(parser)
        parser.set_defaults(run=run, pipeline_command=name)
    parser = subparsers.add_parser("resume", help="continue a killed run where it stopped")
    parser.add_argument("run_dir", help="the run directory")
    add_config_options(parser)
    _add_output_options(parser)
    parser.set_defaults(run=run, pipeline_command="resume")
    parser = subparsers.add_parser("report", help="(re)write report.html of a run directory")
    parser.add_argument("run_dir", help="the run directory")
    parser.set_defaults(run=run_report)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = {key: getattr(args, key, None) for key, _, _ in _OPTIONS.values()}
    for key in ("augment", "download", "tune", *_SWITCH_KEYS.values()):
        overrides[key] = getattr(args, key, None)
    if getattr(args, "no_baseline", False):
        overrides["baseline_epochs"] = 0
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if getattr(args, "config", None):
        return RunConfig.from_file(args.config, **overrides)
    return RunConfig.from_dict(overrides)


def _resume_config(args: argparse.Namespace) -> RunConfig:
    run_dir = Path(args.run_dir)
    saved = RunDirectory(run_dir).config
    if not saved.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.json in it)")
    if getattr(args, "out", None) is not None and Path(args.out).resolve() != run_dir.resolve():
        raise ConfigError(
            f"resume continues {run_dir} in place; --out {args.out} would be ignored. Drop "
            "--out, or start a new run there with `superconverge run --out ...`."
        )
    config = RunConfig.from_saved(read_json(saved))
    asked = config_from_args(args) if (args.config or any(
        getattr(args, key, None) is not None for key, _, _ in _OPTIONS.values()
    )) else None
    if asked is not None:
        asked = asked.replace(out=str(run_dir))
        saved, wanted = config.to_dict(), asked.to_dict()
        # only the keys the user gave: the others come from the saved config anyway
        given = [k for k in changed_keys(saved, wanted)
                 if args.config or getattr(args, k, None) is not None]
        if given:
            raise ConfigError(mismatch_message(
                f"{run_dir}", saved, wanted, given,
                "A resumed run keeps the settings it started with; start a new run with --out "
                "for new settings.",
            ))
    return config.replace(out=str(run_dir))


def run(args: argparse.Namespace) -> int:
    from superconverge.pipeline import Pipeline

    command = args.pipeline_command
    config = _resume_config(args) if command == "resume" else config_from_args(args)
    if command == "train":
        config = config.replace(baseline_epochs=0)
    pipeline = Pipeline(config, quiet=args.quiet, force=getattr(args, "force", False))
    # with --json, stdout carries the JSON document only; the human lines go to stderr
    out = sys.stderr if args.json else sys.stdout
    if command == "resume" and pipeline.is_done("report"):
        print(f"{config.out} is already finished; nothing to do. Report: "
              f"{RunDirectory(config.out).report}", file=out)
        return 0
    stages = pipeline.planned_stages()
    if command == "lr-find":
        stages = [s for s in stages if s in ("prepare", "tune", "range_test", "bounds")]
    summary = pipeline.run(stages)
    bounds_path = RunDirectory(config.out).bounds
    if bounds_path.exists():
        bounds = read_json(bounds_path)
        print(f"LR bounds: max {bounds['max_lr']:.4g}, min {bounds['min_lr']:.4g} "
              f"(confidence {bounds['confidence']:.2f}) — {bounds['reason']}", file=out)
        if bounds.get("low_confidence"):
            print(f"WARNING: low confidence ({bounds['confidence']:.2f}): the max LR is a "
                  "guess. Look at range_test.png, or set --max-lr yourself.", file=sys.stderr)
    for name, values in summary.metrics.items():
        if name in ("one_cycle", "baseline"):
            print(f"{name}: test accuracy {100 * values['test_accuracy']:.2f}% after "
                  f"{values['epochs']} epochs, {values['wall_time']:.0f} s of training",
                  file=out)
    if summary.report and "report" in stages:
        print(f"report: {summary.report}", file=out)
    if args.json:
        json.dump(summary.to_dict(), sys.stdout, indent=2)
        print()
    return 0


def run_report(args: argparse.Namespace) -> int:
    from superconverge.pipeline.report import write_report

    run_dir = Path(args.run_dir)
    if not RunDirectory(run_dir).config.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.json in it)")
    print(f"report: {write_report(run_dir)}")
    return 0
