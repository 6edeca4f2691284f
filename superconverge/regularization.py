"""Regularisation defaults from the length of the run (pure math).

Batch-norm momentum, Keras convention: ``moving = m * moving + (1 - m) * batch``, so ``0.99``
is a slow average. Its time constant is ``tau = 1 / (1 - m)`` steps: after ``n`` steps a
fraction ``m ** n ≈ exp(-n / tau)`` of older statistics remains. Super-convergence changes the
weights fast until the very end, so the moving statistics must catch up within the last phase
of the cycle (the annihilation): Smith and Topin used 0.95 for short runs and 0.999 for long
ones. :func:`recommended_bn_momentum` fits ``fit`` time constants into that last phase.
"""

from __future__ import annotations

import math

from superconverge.errors import ArgumentError


def recommended_bn_momentum(
    total_steps: int,
    *,
    annihilation_fraction: float = 0.1,
    fit: float = 4.0,
    lower: float = 0.9,
    upper: float = 0.999,
) -> float:
    """``m = 1 - fit / (annihilation_fraction * total_steps)``, clipped to ``[lower, upper]``.

    With ``fit = 4`` time constants in the last phase, ``exp(-4) ≈ 2%`` of the statistics
    from before the annihilation remain at the end of training. Examples: 158 steps → 0.9
    (clipped), 1,688 steps → 0.976, 100,000 steps → 0.999 (clipped).
    """
    if total_steps < 1:
        raise ArgumentError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 < annihilation_fraction <= 1:
        raise ArgumentError(
            f"annihilation_fraction must lie in (0, 1], got {annihilation_fraction}"
        )
    tail = annihilation_fraction * total_steps
    momentum = 1.0 - fit / tail
    if math.isnan(momentum):
        return lower
    return round(min(max(momentum, lower), upper), 4)
