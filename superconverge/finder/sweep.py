"""Pure NumPy pieces of the LR range test: the learning-rate sweep and the loss smoothing.

No Keras import here, so these can be tested (and reused) without a backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from superconverge.defaults import LOSS_EMA_BETA
from superconverge.finder.errors import RangeTestError
from superconverge.schedules import Phase, PiecewiseSchedule

MODES = ("exp", "linear")
MIN_STEPS = 10
"""Fewest steps a range test may have: fewer points than this cannot show a curve."""


def sweep_lrs(start_lr: float, end_lr: float, num_steps: int, mode: str = "exp") -> np.ndarray:
    """The learning rate for each step ``i = 0 … N-1`` of a range test.

    * ``mode="exp"`` (geometric): ``lr_i = start · (end / start) ** (i / (N - 1))``
    * ``mode="linear"``:          ``lr_i = start + (end - start) · i / (N - 1)``

    ``lr_0 = start_lr`` and ``lr_{N-1} = end_lr`` exactly. ``N = 1`` gives ``[start_lr]``.
    """
    check_sweep_args(start_lr, end_lr, mode)
    if num_steps < 1:
        raise RangeTestError(f"num_steps must be >= 1, got {num_steps}.")
    if num_steps == 1:
        return np.array([float(start_lr)])
    # the schedule evaluates the formula (and holds both ends exactly)
    return np.asarray(sweep_schedule(start_lr, end_lr, num_steps, mode)(
        np.arange(num_steps, dtype=np.float64)), dtype=np.float64)


def sweep_schedule(start_lr: float, end_lr: float, num_steps: int, mode: str = "exp"
                   ) -> PiecewiseSchedule:
    """The same sweep as :func:`sweep_lrs` as a one-phase schedule over steps ``0 … N-1``
    (an ``"exp"`` or ``"linear"`` :class:`~superconverge.schedules.Phase`), for evaluating it
    inside a compiled train step from the optimizer's step counter; later steps hold
    ``end_lr``. Needs ``N >= 2``."""
    check_sweep_args(start_lr, end_lr, mode)
    if num_steps < 2:
        raise RangeTestError(f"a sweep schedule needs num_steps >= 2, got {num_steps}.")
    return PiecewiseSchedule((Phase(float(start_lr), float(end_lr), float(num_steps - 1),
                                    "exp" if mode == "exp" else "linear"),))


def smooth_losses(
    losses: Sequence[float] | np.ndarray, beta: float = LOSS_EMA_BETA
) -> np.ndarray:
    """Bias-corrected exponential moving average of ``losses``.

    ``avg_i = β · avg_{i-1} + (1 - β) · loss_i`` with ``avg_{-1} = 0``, and
    ``smoothed_i = avg_i / (1 - β ** (i + 1))`` (the Adam-style bias correction, so the first
    values are not pulled towards 0). ``β = 0`` returns the losses unchanged.
    A non-finite loss makes every later smoothed value non-finite.
    """
    check_beta(beta)
    ema = LossEMA(beta)
    return np.array([ema.update(float(v)) for v in np.asarray(losses, dtype=np.float64)])


class LossEMA:
    """Incremental form of :func:`smooth_losses` (same arithmetic, same results)."""

    def __init__(self, beta: float = LOSS_EMA_BETA) -> None:
        check_beta(beta)
        self.beta = float(beta)
        self.avg = 0.0
        self.count = 0

    def update(self, loss: float) -> float:
        """Feed one raw loss, get the bias-corrected smoothed value."""
        self.avg = self.beta * self.avg + (1.0 - self.beta) * float(loss)
        self.count += 1
        return self.avg / (1.0 - self.beta**self.count)


def check_beta(beta: float) -> None:
    if not (0.0 <= float(beta) < 1.0):
        raise RangeTestError(
            f"smooth must be in [0, 1) (0 = no smoothing, 0.98 = the usual), got {beta!r}."
        )


def check_sweep_args(start_lr: float, end_lr: float, mode: str) -> None:
    """Validate the sweep bounds and mode; raise :class:`RangeTestError` saying what to change."""
    if mode not in MODES:
        raise RangeTestError(f"Unknown mode {mode!r}: use 'exp' (geometric sweep) or 'linear'.")
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(
            float(value)
        ):
            raise RangeTestError(f"{name} must be a finite number, got {value!r}.")
    if start_lr <= 0:
        raise RangeTestError(
            f"start_lr must be > 0 (the sweep is geometric), got {start_lr!r}; try 1e-7."
        )
    if end_lr <= start_lr:
        raise RangeTestError(
            f"end_lr ({end_lr!r}) must be larger than start_lr ({start_lr!r}): the range test "
            "sweeps the learning rate upwards; e.g. start_lr=1e-7, end_lr=10."
        )


def check_num_steps(num_steps: int, where: str = "") -> None:
    if num_steps < MIN_STEPS:
        raise RangeTestError(
            f"A range test needs at least {MIN_STEPS} steps to show a curve, but would run only "
            f"{num_steps}{where}. Pass steps>={MIN_STEPS}, a smaller batch_size, or more data."
        )
