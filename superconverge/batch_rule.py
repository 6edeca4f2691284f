"""The one-cycle batch size chosen from the run's length. Pure: no Keras.

A short cycle has few optimizer steps; halving the batch doubles them at the same cost in
examples. For ``n`` training examples and ``E`` epochs the rule takes the largest batch

    b = largest / 2^k,   k = 0, 1, …,   b ≥ smallest

whose cycle has ``E · ceil(n / b) ≥ min_cycle_steps`` steps, and ``smallest`` when none has.
With the defaults (``superconverge.defaults``: 64, 16, 1,000 steps) Fashion-MNIST's 54,000
training images keep batch 64 at any budget of 2 epochs or more (1,688 steps at 2 epochs);
12,000 images at 4 epochs (752 steps at 64) train at 32 (1,500 steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from superconverge.defaults import (
    PIPELINE_BATCH_SIZE,
    PIPELINE_MIN_CYCLE_STEPS,
    PIPELINE_SMALLEST_BATCH_SIZE,
)
from superconverge.errors import SuperconvergeError


class BatchRuleError(SuperconvergeError, ValueError):
    """Impossible arguments to the batch rule."""


@dataclass(frozen=True)
class BatchChoice:
    """The chosen batch size, the cycle length it gives and why."""

    batch_size: int
    #: one-cycle steps at ``batch_size``; ``None`` where the length is not known yet
    cycle_steps: int | None
    reason: str


def choose_batch_size(train_examples: int, epochs: int, *,
                      largest: int = PIPELINE_BATCH_SIZE,
                      smallest: int = PIPELINE_SMALLEST_BATCH_SIZE,
                      min_cycle_steps: int = PIPELINE_MIN_CYCLE_STEPS) -> BatchChoice:
    """The largest batch ``largest / 2^k ≥ smallest`` whose ``epochs · ceil(n / b)`` one-cycle
    steps reach ``min_cycle_steps`` (``smallest`` when none does)."""
    for name, value in (("train_examples", train_examples), ("epochs", epochs),
                        ("largest", largest), ("smallest", smallest),
                        ("min_cycle_steps", min_cycle_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BatchRuleError(f"{name} must be a whole number >= 1, got {value!r}")
    if smallest > largest:
        raise BatchRuleError(f"smallest batch {smallest} is larger than the largest {largest}")

    def steps(batch: int) -> int:
        return epochs * math.ceil(train_examples / batch)

    batch = largest
    while steps(batch) < min_cycle_steps and batch // 2 >= smallest:
        batch //= 2
    if batch == largest:
        reason = (f"batch {batch}: {steps(batch)} one-cycle steps ({epochs} epoch(s) of "
                  f"{train_examples} examples), at least {min_cycle_steps}")
    else:
        short = "" if steps(batch) >= min_cycle_steps else " (the smallest batch allowed)"
        reason = (f"batch {batch} instead of {largest}: {steps(largest)} steps at {largest} "
                  f"are fewer than {min_cycle_steps}; {steps(batch)} steps at {batch}{short}")
    return BatchChoice(batch_size=batch, cycle_steps=steps(batch), reason=reason)
