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

from superconverge.errors import ArgumentError
from superconverge.schedules import PiecewiseSchedule


def evaluate_piecewise(schedule: PiecewiseSchedule, step: Any) -> Any:
    """The value of ``schedule`` at ``step`` as a float32 tensor: the same formula as the NumPy
    evaluation (:meth:`PiecewiseSchedule.evaluate`), written with ``keras.ops``."""
    s = ops.clip(ops.cast(step, "float32"), 0.0, schedule.span)
    return schedule.evaluate(s, ops)


@keras.saving.register_keras_serializable(package="superconverge")
class KerasPiecewiseSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A piecewise (One Cycle) schedule as a Keras ``LearningRateSchedule``.

    ``lr = schedule(iterations // step_divisor)``; ``step_divisor`` is the optimizer's
    ``gradient_accumulation_steps`` (Keras counts every batch in ``iterations``), so the
    schedule follows optimizer updates, not batches.

    Use it directly for an LR-only One Cycle with no callback at all::

        policy = sc.OneCycleSchedule.smith(max_lr=0.4, total_steps=epochs * steps_per_epoch)
        optimizer = keras.optimizers.SGD(sc.KerasPiecewiseSchedule(policy.lr_schedule))
    """

    def __init__(self, schedule: PiecewiseSchedule | dict[str, Any], step_divisor: int = 1):
        super().__init__()
        if isinstance(schedule, dict):
            schedule = PiecewiseSchedule.from_config(schedule)
        if not isinstance(schedule, PiecewiseSchedule):
            raise TypeError(
                "KerasPiecewiseSchedule needs a superconverge PiecewiseSchedule "
                f"(e.g. OneCycleSchedule.smith(...).lr_schedule), got {type(schedule).__name__}."
            )
        if int(step_divisor) < 1:
            raise ArgumentError(f"step_divisor must be >= 1, got {step_divisor}.")
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
