"""A wall-clock budget for one-cycle training: how many epochs fit in ``--budget 5m``.

Pure: no Keras, no clock of its own (the caller measures and passes seconds), so the planner is
tested with made-up timings.

The plan, for a budget ``B`` of which ``S`` seconds are already spent (data loading, the range
test, the calibration), a training step of ``t`` seconds, ``n`` steps per epoch, ``v`` seconds
of per-epoch work besides the steps (validation, checkpoint) and ``F`` seconds of work once
per run (the first epoch's tracing, the weight-average swap, precise BN, the final
validation), is the largest number of optimizer steps ``T`` whose epochs fit::

    A       = B·(1 - margin) - S - F                 (seconds left for the epochs)
    T       = max over k ≥ 1 of  min(k·n, floor((A - k·v) / t))
              among the k whose last epoch keeps at least one step (T > (k-1)·n)
    epochs  = ceil(T / n)                             (the last one may be partial)

at least one whole epoch (``T ≥ n``), else :class:`BudgetError`. Planning in steps rather
than whole epochs lets the run end at the budget instead of up to one epoch early: the One
Cycle schedule is laid over exactly ``T`` optimizer steps (it annihilates when the budget
ends) and the last epoch stops after ``T - (epochs-1)·n`` steps, then validates and
checkpoints like any other.

The pipeline measures ``t``, ``v`` and ``F`` on the one-cycle configuration itself (same
model, optimizer with its weight average, batch size, data feeder, validation and checkpoint
calls: ``Pipeline.measure_one_cycle_costs``), not on the range test, whose plain optimizer
and validation probes cost differently.

``margin`` (2 %) leaves room for step times that drift; the test evaluation and the report
come after the budget. The step time comes from :func:`fit_costs`; during training
``superconverge.pipeline.training.BudgetGuard`` re-lays the rest of the one-cycle schedule
from the pace the epochs actually run at (``superconverge.schedules.stretch``), so that the
run ends at the budget less its margin whether the machine drifted faster or slower.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from superconverge.errors import ArgumentError, SuperconvergeError

__all__ = ["BudgetError", "BudgetPlan", "FitCosts", "fit_costs", "parse_duration", "plan_epochs"]

#: share of the budget kept free for drift of the step time: planned over actual seconds was
#: 1.07, 1.00 and 1.01 in three 5-minute runs (results/wall_budget_5m.md)
DEFAULT_MARGIN = 0.02
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
    total_steps: int
    margin: float
    final_seconds: float = 0.0

    @property
    def epochs(self) -> int:
        """Epochs of training, the last one possibly partial: ``ceil(total_steps / n)``."""
        return -(-self.total_steps // self.steps_per_epoch)

    @property
    def last_epoch_steps(self) -> int:
        """Steps of the last epoch: ``total_steps - (epochs - 1)·n``, in ``[1, n]``."""
        return self.total_steps - (self.epochs - 1) * self.steps_per_epoch

    @property
    def epoch_seconds(self) -> float:
        """A whole epoch: ``n·t + v``."""
        return self.steps_per_epoch * self.step_seconds + self.epoch_overhead_seconds

    @property
    def planned_seconds(self) -> float:
        """``S + T·t + epochs·v + F``."""
        return (self.spent_seconds + self.total_steps * self.step_seconds
                + self.epochs * self.epoch_overhead_seconds + self.final_seconds)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "epochs": self.epochs, "last_epoch_steps": self.last_epoch_steps,
                "epoch_seconds": self.epoch_seconds, "planned_seconds": self.planned_seconds}

    def summary(self) -> str:
        partial = ("" if self.last_epoch_steps == self.steps_per_epoch
                   else f", the last one {self.last_epoch_steps} steps")
        return (
            f"budget {format_duration(self.budget_seconds)}: {self.total_steps} steps in "
            f"{self.epochs} epoch(s) of {self.steps_per_epoch} steps{partial} "
            f"({1000 * self.step_seconds:.1f} ms per step, {self.epoch_overhead_seconds:.1f} s "
            f"per epoch besides), {self.final_seconds:.1f} s once, "
            f"{self.spent_seconds:.0f} s already spent, {self.planned_seconds:.0f} s planned"
        )


@dataclass(frozen=True)
class FitCosts:
    """A ``fit`` call's costs: per step, fixed per call, and the first call's tracing."""

    step: float
    per_fit: float
    tracing: float


def fit_costs(first: float, shorts: Sequence[float], longs: Sequence[float], *,
              short_steps: int, long_steps: int) -> FitCosts:
    """Costs from timed ``fit`` calls: a first one of ``short_steps`` steps (it traces), then
    pairs of ``short_steps`` and ``long_steps`` steps::

        step    = median over pairs of (long - short) / (long_steps - short_steps)
        per_fit = median(short) - short_steps · step     (set-up and tear-down of a call)
        tracing = first - median(short)

    Dividing one call's time by its steps instead spreads the fixed cost over them: with 24
    steps that overstated the step by about a quarter and the run ended at 0.87 of its budget.
    The median over pairs ignores a pair that a hiccup of the machine slowed (one 40-step slope
    read 56 ms where training ran at 40 ms). Where no slope is measurable (equal lengths, or
    long calls no slower than short ones), ``step = median(long) / long_steps`` and
    ``per_fit = 0``. Times below zero are clipped.
    """
    if not shorts or len(shorts) != len(longs):
        raise ArgumentError("fit_costs needs as many short as long calls, at least one each")
    short, long = statistics.median(shorts), statistics.median(longs)
    if long_steps > short_steps and long > short:
        step = statistics.median((b - a) / (long_steps - short_steps)
                                 for a, b in zip(shorts, longs))
        step = step if step > 0 else (long - short) / (long_steps - short_steps)
        per_fit = max(0.0, short - short_steps * step)
    else:
        step, per_fit = long / long_steps, 0.0
    return FitCosts(step=step, per_fit=per_fit, tracing=max(0.0, first - short))


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
    """The most optimizer steps, in epochs, that end within the budget (module docstring).

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
    n = int(steps_per_epoch)
    available = budget_seconds * (1.0 - margin) - spent_seconds - final_seconds
    total_steps = _most_steps(available, step_seconds, n, epoch_overhead_seconds)
    if total_steps < n:  # a partial first epoch is not a run the user asked for
        epoch = n * step_seconds + epoch_overhead_seconds
        needed = (spent_seconds + final_seconds + epoch) / (1.0 - margin)
        raise BudgetError(
            f"the budget of {format_duration(budget_seconds)} cannot hold one epoch: "
            f"{spent_seconds:.0f} s are spent before training, {final_seconds:.0f} s after it, "
            f"and one epoch takes "
            f"{epoch:.0f} s ({n} steps of {1000 * step_seconds:.0f} ms). Give "
            f"at least {format_duration(math.ceil(needed))}, or train on a subset "
            "(--train-subset)."
        )
    return BudgetPlan(
        budget_seconds=float(budget_seconds),
        spent_seconds=float(spent_seconds),
        step_seconds=float(step_seconds),
        steps_per_epoch=n,
        epoch_overhead_seconds=float(epoch_overhead_seconds),
        total_steps=int(total_steps),
        margin=float(margin),
        final_seconds=float(final_seconds),
    )


def _most_steps(available: float, step: float, per_epoch: int, overhead: float) -> int:
    """The ``T`` of the module docstring, in closed form: ``K = floor(A / (n·t + v))`` whole
    epochs, then ``floor((A - (K+1)·v) / t) - K·n`` steps of one more epoch if that is at least
    one (a later epoch would hold none: it would need more than ``A``)."""
    if available <= 0:
        return 0
    epoch = per_epoch * step + overhead
    whole = math.floor(available / epoch)
    if whole * epoch > available:  # the division rounded up to a whole number
        whole -= 1
    extra = math.floor((available - (whole + 1) * overhead) / step) - whole * per_epoch
    return whole * per_epoch + min(max(extra, 0), per_epoch)
