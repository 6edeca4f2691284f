"""The range test's per-step work moved inside the compiled train step.

Before every step the range test must (1) give the optimizer the step's learning rate and
(2) zero Keras's running loss metric, so that ``logs["loss"]`` is that batch's loss. Done from
the host, these are eager variable writes: about 0.1 ms for the LR and 0.17 ms for the metric
on TensorFlow on a 2-core CPU, 0.6 % of a 50 ms ``simple_cnn`` step. Here both run inside the
step instead:

* the LR: :mod:`superconverge.callbacks.optimizer_hooks` evaluates the sweep
  ``lr_i = start · (end / start) ** (i / (N - 1))`` (or the linear one) from
  ``i = iterations - iterations_at_start``, the schedule of :func:`~.sweep.sweep_schedule`;
* the loss metric: an instance-level wrapper of ``model.train_step`` zeroes the metric's
  variables before the step updates them (on JAX, its entries of the metrics state).

The price is a trace of the train step with the hooks in it. :class:`~.callback.LRRangeTest`
therefore uses this only for a model whose ``fit`` traces its train step anyway (it has none
yet: freshly compiled), and gives that untraced train function back afterwards, so the next
``fit`` traces exactly once, as it would have without the range test.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from superconverge.callbacks import leftovers, optimizer_hooks
from superconverge.schedules import PiecewiseSchedule

logger = logging.getLogger(__name__)

#: the name the clean-up after a ``fit`` that raised is registered under
LEFTOVER_NAME = "LRRangeTest"
_STEP_ATTR = "train_step"  # the instance attribute the wrapper occupies
_JAX_METRICS_STATE = 3  # (trainable, non_trainable, optimizer, metrics) in Keras's JAX state


def unusable_reason(model: keras.Model, loss_metric: keras.metrics.Metric | None,
                    fresh: bool) -> str | None:
    """Why the sweep cannot run inside the step for this model (``None``: it can)."""
    optimizer = model.optimizer
    if not fresh:
        return "the train step was built before (a second trace would cost more than it saves)"
    if loss_metric is None:
        return "the model has no metric named 'loss'"
    if int(getattr(optimizer, "gradient_accumulation_steps", None) or 1) > 1:
        return "gradient accumulation (one LR per update, several batches per update)"
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return "a LossScaleOptimizer wraps the optimizer"
    if optimizer_hooks.is_attached(optimizer):
        return "the optimizer already follows a schedule"
    if _STEP_ATTR in vars(model):
        return "model.train_step is already replaced on this instance"
    return None


class InStepSweep:
    """Install (:meth:`install`) and remove (:meth:`remove`) the in-step sweep on ``model``."""

    def __init__(self, model: keras.Model, schedule: PiecewiseSchedule,
                 loss_metric: keras.metrics.Metric) -> None:
        self.model = model
        self.schedule = schedule
        self.loss_metric = loss_metric
        self._saved_train_function: Any = None
        self.installed = False

    def install(self) -> None:
        model = self.model
        optimizer = model.optimizer
        optimizer_hooks.attach(optimizer, self.schedule, None,
                               step_offset=optimizer_hooks.host_step(optimizer))
        object.__setattr__(model, _STEP_ATTR, self._wrapped_train_step())
        # fit made this (untraced) train function before the callbacks ran; the next fit gets
        # it back, and this one traces a new one with the hooks in it
        self._saved_train_function = model.train_function
        type(model).make_train_function(model, force=True)
        # after a fit that raised, the LR variable keeps what it holds then (the user may
        # have set it since)
        leftovers.register(model, LEFTOVER_NAME, lambda: self.remove(keep_last_lr=False))
        self.installed = True

    def remove(self, *, keep_last_lr: bool = True) -> None:
        """Take the hooks out and give the model its own train function back; idempotent.
        The LR variable gets the last swept LR (``keep_last_lr``, what the host-side sweep
        leaves in it) or keeps what it holds."""
        if not self.installed:
            return
        model = self.model
        self.installed = False
        vars(model).pop(_STEP_ATTR, None)
        optimizer_hooks.detach(model.optimizer, keep_last_lr=keep_last_lr)
        model.train_function = self._saved_train_function
        self._saved_train_function = None
        leftovers.withdraw(model, LEFTOVER_NAME)

    def _wrapped_train_step(self) -> Any:
        original = self.model.train_step  # the class's method, bound
        metric = self.loss_metric
        if keras.backend.backend() == "jax":
            ids = {id(v) for v in metric.variables}
            positions = [i for i, v in enumerate(self.model.metrics_variables) if id(v) in ids]

            def train_step_jax(state: Any, data: Any) -> Any:
                state = list(state)
                metrics = list(state[_JAX_METRICS_STATE])
                for i in positions:
                    metrics[i] = keras.ops.zeros_like(metrics[i])
                state[_JAX_METRICS_STATE] = metrics
                return original(tuple(state), data)

            return train_step_jax

        def train_step(data: Any) -> Any:
            metric.reset_state()  # traced into the step on TensorFlow
            return original(data)

        return train_step
