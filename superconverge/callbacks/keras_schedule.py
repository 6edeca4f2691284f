"""Evaluate a :class:`~superconverge.schedules.PiecewiseSchedule` inside compiled Keras code.

The pure schedule works on NumPy floats; here the same formula is written with ``keras.ops`` so
that it can run inside a traced train step (TensorFlow graph, JAX jit) from the optimizer's own
iteration counter. :class:`KerasPiecewiseSchedule` wraps it as a Keras
``LearningRateSchedule`` that serializes with the model.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from superconverge.schedules import PiecewiseSchedule


def evaluate_piecewise(schedule: PiecewiseSchedule, step: Any) -> Any:
    """The value of ``schedule`` at ``step`` as a float32 tensor (same formula as NumPy).

    ``value = start_k + (end_k - start_k) * shape((s - o_k) / length_k)`` for the first phase
    ``k`` whose end ``o_k + length_k >= s``, with ``s`` clamped to ``[0, span]``.
    """
    s = ops.clip(ops.cast(step, "float32"), 0.0, schedule.span)
    value = ops.full_like(s, schedule.final_value)
    for phase, end in zip(reversed(schedule.phases), reversed(schedule.boundaries)):
        if phase.length == 0:
            continue
        begin = end - phase.length
        t = ops.clip((s - begin) / phase.length, 0.0, 1.0)
        if phase.interpolation == "cos":
            shape = (1.0 - ops.cos(t * 3.141592653589793)) / 2.0
        else:
            shape = t
        value = ops.where(s <= end, phase.start + (phase.end - phase.start) * shape, value)
    return ops.where(s >= schedule.span, schedule.final_value, value)


@keras.saving.register_keras_serializable(package="superconverge")
class KerasPiecewiseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A piecewise (One Cycle) schedule as a Keras ``LearningRateSchedule``.

    ``lr = schedule(iterations // step_divisor)``; ``step_divisor`` is the optimizer's
    ``gradient_accumulation_steps`` (Keras counts every batch in ``iterations``), so the
    schedule follows optimizer updates, not batches.

    Use it directly for an LR-only One Cycle with no callback at all::

        policy = sc.OneCycleSchedule(max_lr=0.4, total_steps=epochs * steps_per_epoch)
        optimizer = keras.optimizers.SGD(sc.KerasPiecewiseSchedule(policy.lr_schedule))
    """

    def __init__(self, schedule: PiecewiseSchedule | dict[str, Any], step_divisor: int = 1):
        super().__init__()
        if isinstance(schedule, dict):
            schedule = PiecewiseSchedule.from_config(schedule)
        if not isinstance(schedule, PiecewiseSchedule):
            raise TypeError(
                "KerasPiecewiseSchedule needs a superconverge PiecewiseSchedule "
                f"(e.g. OneCycleSchedule(...).lr_schedule), got {type(schedule).__name__}."
            )
        if int(step_divisor) < 1:
            raise ValueError(f"step_divisor must be >= 1, got {step_divisor}.")
        self.schedule = schedule
        self.step_divisor = int(step_divisor)

    def __call__(self, step: Any) -> Any:
        if self.step_divisor > 1:
            step = ops.floor_divide(step, self.step_divisor)
        return evaluate_piecewise(self.schedule, step)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_config(), "step_divisor": self.step_divisor}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> KerasPiecewiseSchedule:
        return cls(**config)
