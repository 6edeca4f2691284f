"""``superconverge schedule``: print a One Cycle policy and plot its LR and momentum."""

from __future__ import annotations

import argparse
import json

from superconverge.errors import ArgumentError
from superconverge.schedules import PRESETS, OneCycleSchedule, one_cycle_schedule


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="show a One Cycle policy (summary, plot)",
        description="Print a One Cycle policy's phases and plot LR and momentum over the steps.",
    )
    parser.add_argument("--max-lr", type=float, required=True, help="peak learning rate")
    parser.add_argument("--steps", type=int, required=True, help="optimizer steps in total")
    parser.add_argument("--preset", choices=list(PRESETS), default="smith")
    parser.add_argument("--min-lr", type=float, default=None,
                        help="default: max_lr / 10 (smith preset only)")
    parser.add_argument("--interpolation", choices=("linear", "cos"), default=None,
                        help="default: linear (smith preset only)")
    parser.add_argument("--no-momentum", action="store_true", help="do not cycle momentum")
    parser.add_argument("--plot", metavar="PNG", help="write the plot here")
    parser.add_argument("--json", action="store_true", help="print the policy's config as JSON")
    parser.set_defaults(run=run)


def build(args: argparse.Namespace) -> OneCycleSchedule:
    smith_only = {"min_lr": args.min_lr, "interpolation": args.interpolation}
    given = {k: v for k, v in smith_only.items() if v is not None}
    if args.preset != "smith" and given:
        flags = " and ".join(f"--{k.replace('_', '-')}" for k in given)
        raise ArgumentError(
            f"{flags} apply to the smith preset only; the {args.preset} preset reproduces its "
            "library's own formula. Drop them, or use --preset smith."
        )
    return one_cycle_schedule(args.preset, args.max_lr, args.steps,
                              cycle_momentum=not args.no_momentum, **given)


def run(args: argparse.Namespace) -> int:
    policy = build(args)
    if args.json:
        print(json.dumps(policy.to_config(), indent=2))
    else:
        print(policy.summary())
        last = policy.total_steps - 1
        print(f"  step 0: LR {policy.lr(0):.4g}   step {last}: LR {policy.lr(last):.4g}")
    if args.plot:
        from superconverge.plotting import plot_schedule

        plot_schedule(policy, path=args.plot)
        print(f"plot written to {args.plot}")
    return 0
