"""Keras callbacks and adapters: the thin layer between the schedules and ``model.fit``."""

from superconverge.callbacks.keras_schedule import KerasPiecewiseSchedule, evaluate_piecewise
from superconverge.callbacks.one_cycle import OneCycle, detach
from superconverge.callbacks.optimizer_hooks import UnsupportedOptimizerError

__all__ = [
    "KerasPiecewiseSchedule",
    "OneCycle",
    "UnsupportedOptimizerError",
    "detach",
    "evaluate_piecewise",
]
