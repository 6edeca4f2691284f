"""A wall-clock budget for one-cycle training: how many epochs fit in ``--budget 5m``.

Pure: no Keras, no clock of its own (the caller measures and passes seconds), so the planner is
tested with made-up timings.

The plan, for a budget ``B`` of which ``S`` seconds are already spent (data loading, the range
test, the calibration), a training step of ``t`` seconds, ``n`` steps per epoch, ``v`` seconds
of per-epoch work besides the steps (validation, checkpoint) and ``F`` seconds of work once
per run (the first epoch's tracing, the weight-average swap, precise BN, the final
validation)::

    epoch   = n·t + v
    epochs  = floor((B·(1 - margin) - S - F) / epoch)      (at least 1, else BudgetError)

The pipeline measures ``t``, ``v`` and ``F`` on the one-cycle configuration itself (same
model, optimizer with its weight average, batch size, data feeder, validation and checkpoint
calls: ``Pipeline.measure_one_cycle_costs``), not on the range test, whose plain optimizer
and validation probes cost differently.

``margin`` (5 %) leaves room for the test evaluation and for step times that drift. Whole
epochs: the pipeline checkpoints and resumes per epoch, and the One Cycle schedule is planned
over exactly ``epochs·n`` optimizer steps, so it ends (annihilates) when the budget does.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from superconverge.errors import ArgumentError, SuperconvergeError

__all__ = ["BudgetError", "BudgetPlan", "parse_duration", "plan_epochs"]

#: share of the budget kept free (test evaluation, drift of the step time)
DEFAULT_MARGIN = 0.05
_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"^\s*(?:{_NUMBER}h)?\s*(?:{_NUMBER}m)?\s*(?:{_NUMBER}s?)?\s*$")


class BudgetError(SuperconvergeError, ValueError):
    """The budget cannot hold one epoch; the message says how much it would need."""


@dataclass(frozen=True)
class BudgetPlan:
    """What the planner decided, and the figures it decided from (all in seconds)."""

    budget_seconds: float
    spent_seconds: float
    step_seconds: float
    steps_per_epoch: int
    epoch_overhead_seconds: float
    epochs: int
    margin: float
    final_seconds: float = 0.0

    @property
    def epoch_seconds(self) -> float:
        return self.steps_per_epoch * self.step_seconds + self.epoch_overhead_seconds

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def planned_seconds(self) -> float:
        return self.spent_seconds + self.epochs * self.epoch_seconds + self.final_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "epoch_seconds": self.epoch_seconds,
                "total_steps": self.total_steps, "planned_seconds": self.planned_seconds}

    def summary(self) -> str:
        return (
            f"budget {format_duration(self.budget_seconds)}: {self.epochs} epoch(s) of "
            f"{self.epoch_seconds:.1f} s ({self.steps_per_epoch} steps × "
            f"{1000 * self.step_seconds:.1f} ms + {self.epoch_overhead_seconds:.1f} s) and "
            f"{self.final_seconds:.1f} s once, {self.spent_seconds:.0f} s already spent, "
            f"{self.planned_seconds:.0f} s planned"
        )


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``"300"``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2.5m"`` (or a number)."""
    if isinstance(text, bool):
        raise ArgumentError(f"a duration must be like 5m, 90s or 1h30m, got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match or not any(match.groups()):
            raise ArgumentError(f"a duration must be like 5m, 90s or 1h30m, got {text!r}")
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        seconds = 3600 * hours + 60 * minutes + secs
    if not math.isfinite(seconds) or seconds <= 0:
        raise ArgumentError(f"a duration must be positive, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def plan_epochs(
    budget_seconds: float,
    *,
    spent_seconds: float,
    step_seconds: float,
    steps_per_epoch: int,
    epoch_overhead_seconds: float = 0.0,
    final_seconds: float = 0.0,
    margin: float = DEFAULT_MARGIN,
) -> BudgetPlan:
    """The most whole epochs that end within the budget (see the module docstring).

    Raises:
        BudgetError: not even one epoch fits; the message gives the budget that would.
        ArgumentError: a negative or non-finite timing, or ``steps_per_epoch < 1``.
    """
    for name, value in (("budget_seconds", budget_seconds), ("step_seconds", step_seconds)):
        if not math.isfinite(value) or value <= 0:
            raise ArgumentError(f"{name} must be a positive number, got {value!r}")
    for name, value in (("spent_seconds", spent_seconds),
                        ("epoch_overhead_seconds", epoch_overhead_seconds),
                        ("final_seconds", final_seconds)):
        if not math.isfinite(value) or value < 0:
            raise ArgumentError(f"{name} must be a number >= 0, got {value!r}")
    if not 0 <= margin < 1:
        raise ArgumentError(f"margin must lie in [0, 1), got {margin!r}")
    if int(steps_per_epoch) < 1:
        raise ArgumentError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
    epoch = int(steps_per_epoch) * step_seconds + epoch_overhead_seconds
    available = budget_seconds * (1.0 - margin) - spent_seconds - final_seconds
    epochs = math.floor(available / epoch) if available > 0 else 0
    if epochs < 1:
        needed = (spent_seconds + final_seconds + epoch) / (1.0 - margin)
        raise BudgetError(
            f"the budget of {format_duration(budget_seconds)} cannot hold one epoch: "
            f"{spent_seconds:.0f} s are spent before training, {final_seconds:.0f} s after it, "
            f"and one epoch takes "
            f"{epoch:.0f} s ({steps_per_epoch} steps of {1000 * step_seconds:.0f} ms). Give "
            f"at least {format_duration(math.ceil(needed))}, or train on a subset "
            "(--train-subset)."
        )
    return BudgetPlan(
        budget_seconds=float(budget_seconds),
        spent_seconds=float(spent_seconds),
        step_seconds=float(step_seconds),
        steps_per_epoch=int(steps_per_epoch),
        epoch_overhead_seconds=float(epoch_overhead_seconds),
        epochs=int(epochs),
        margin=float(margin),
        final_seconds=float(final_seconds),
    )
