"""The ``superconverge`` command line: subcommands live in :mod:`superconverge.commands`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from superconverge import __version__
from superconverge.commands import pipeline, schedule, tune
from superconverge.errors import SuperconvergeError

SUBCOMMANDS = [pipeline, schedule, tune]
BACKENDS = ("torch", "tensorflow", "jax")
DEFAULT_BACKEND = "torch"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="superconverge",
        description="Super-convergence for Keras 3: LR range test, automatic LR bounds, "
        "One Cycle training and a report.",
    )
    parser.add_argument("--version", action="version", version=f"superconverge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help=f"Keras backend (default: $KERAS_BACKEND, else {DEFAULT_BACKEND}, the fastest "
        "measured on CPU; see the README)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Must happen before anything imports Keras; an explicit flag wins over the environment.
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    else:
        os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Optuna reports every trial at INFO; our own log lines say what matters.
    logging.getLogger("optuna").setLevel(logging.WARNING)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"superconverge {args.command}: interrupted; `superconverge resume DIR` continues "
              "a run where it stopped", file=sys.stderr)
        return 130
    except SuperconvergeError as error:
        print(f"superconverge {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # a path the user named (run directory, config file, plot): one line, not a traceback
        if error.filename is None:
            raise
        print(f"superconverge {args.command}: error: {describe_os_error(error)}",
              file=sys.stderr)
        return 2


def describe_os_error(error: OSError) -> str:
    """``'cannot use PATH: REASON'`` for an ``OSError`` raised on a path."""
    path = error.filename if error.filename2 is None else f"{error.filename} -> {error.filename2}"
    reason = error.strerror or type(error).__name__
    return f"cannot use {path}: {reason}"
