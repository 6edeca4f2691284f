"""Make a Keras 3 optimizer follow a schedule for its LR and momentum inside compiled steps.

Why this exists: Keras 3 optimizers read ``SGD.momentum`` and ``Adam.beta_1`` as Python
constants. On TensorFlow and JAX the train step is traced once, so assigning
``optimizer.momentum`` from a callback changes nothing (checked: 0.9 → 0 between two ``fit``
calls leaves the weight updates identical). The learning rate is a variable, but setting it
from a callback on every batch costs a host round trip and ignores ``steps_per_execution``.

What it does: :func:`attach` installs, on one optimizer *instance*, hooks that compute

    step     = optimizer.iterations - step_offset
               (Keras already divides iterations by gradient_accumulation_steps; step_offset
               is the counter's value where this cycle started, a Python constant)
    lr       = lr_schedule(step)
    momentum = momentum_schedule(step)

inside the step the optimizer applies. No variable is added or removed, so checkpoints keep
their layout and restore the exact position through ``iterations``. :func:`detach` removes the
hooks. The update rules below are Keras's own (``SGD.update_step``, ``Adam.update_step``), with
the constant replaced by the scheduled tensor. The momentum is computed once per step and
handed to the update rules *with the learning rate*, as the one ``(learning_rate, momentum)``
argument Keras already passes to them, not through an attribute of the optimizer: under
``tf.distribute`` every replica traces the step in its own thread and the update rules run in
``merge_call``, where Keras's TensorFlow optimizer regroups that argument per replica; an
attribute would be one slot shared (and torn down) by all replicas. Every replica computes the
value from its copy of ``iterations``, which the strategies keep identical, so every replica
and every worker applies the same LR and momentum at the same step. On the PyTorch backend the
step runs eagerly: the LR and momentum of every step are tabulated once when the hooks are
attached, a host-side counter (set from ``iterations`` at attach, advanced after each update)
indexes the tables, and the hook hands Keras's fused ``torch._foreach`` update a Python float.
No tensor is read back and no formula is evaluated per step.
"""

from __future__ import annotations

import logging
import math
import types
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from superconverge.callbacks.keras_schedule import evaluate_piecewise
from superconverge.errors import ArgumentError, SuperconvergeError
from superconverge.schedules import PiecewiseSchedule

logger = logging.getLogger(__name__)

_HOOKED_METHODS = ("_get_current_learning_rate", "_backend_update_step", "update_step")
_STATE_ATTR = "_superconverge_hooks"


class UnsupportedOptimizerError(SuperconvergeError, ValueError):
    """The optimizer cannot have its momentum scheduled."""


def momentum_attribute(optimizer: keras.optimizers.Optimizer) -> str:
    """Name of the attribute that plays Smith's "momentum" for this optimizer.

    ``momentum`` for SGD (which must have been built with ``momentum > 0``), ``beta_1`` for
    Adam and AdamW. Other optimizers raise :class:`UnsupportedOptimizerError`.
    """
    if isinstance(optimizer, keras.optimizers.SGD):
        if float(optimizer.momentum) == 0.0:
            raise UnsupportedOptimizerError(
                "SGD was created with momentum=0, so it has no momentum buffer to cycle. "
                "Create it with momentum=0.9 (any value > 0), or pass cycle_momentum=False."
            )
        return "momentum"
    if isinstance(optimizer, keras.optimizers.Adam):  # AdamW subclasses Adam
        return "beta_1"
    raise UnsupportedOptimizerError(
        f"Cannot cycle the momentum of {type(optimizer).__name__}: supported are SGD (with "
        "momentum > 0), Adam and AdamW. Pass cycle_momentum=False to schedule the LR only."
    )


@dataclass
class _Hooks:
    lr_schedule: PiecewiseSchedule
    momentum_schedule: PiecewiseSchedule | None
    momentum_attribute: str | None
    original_momentum: float | None
    original_methods: dict[str, Any]
    step_offset: int = 0
    # eager (torch) only: per-step values and the host-side position in them
    lr_table: list[float] | None = None
    momentum_table: list[float] | None = None
    position: int = 0

    def tabulate(self) -> None:
        """Values for steps ``0 … span`` (later steps clamp to the last one)."""
        steps = np.arange(math.ceil(self.lr_schedule.span) + 1)
        self.lr_table = [float(v) for v in self.lr_schedule(steps)]
        if self.momentum_schedule is not None:
            self.momentum_table = [float(v) for v in self.momentum_schedule(steps)]

    def lr_now(self) -> float:
        assert self.lr_table is not None
        return self.lr_table[min(max(self.position, 0), len(self.lr_table) - 1)]

    def momentum_now(self) -> float:
        assert self.momentum_table is not None
        return self.momentum_table[min(max(self.position, 0), len(self.momentum_table) - 1)]


def _step_tensor(optimizer: keras.optimizers.Optimizer) -> Any:
    # Keras's ``iterations`` property counts updates: raw batches // accumulation steps.
    hooks: _Hooks = getattr(optimizer, _STATE_ATTR)
    if hooks.step_offset == 0:
        return optimizer.iterations
    return ops.subtract(optimizer.iterations, hooks.step_offset)


def host_step(optimizer: keras.optimizers.Optimizer) -> int:
    """Optimizer updates applied so far (the raw counter), read on the host."""
    return int(np.asarray(keras.ops.convert_to_numpy(optimizer.iterations)))


def cycle_step(optimizer: keras.optimizers.Optimizer) -> int:
    """Updates applied since the attached cycle's step 0 (``iterations - step_offset``): the
    host-side position on torch, one read of ``iterations`` elsewhere."""
    hooks: _Hooks = getattr(optimizer, _STATE_ATTR)
    if hooks.lr_table is not None:
        return hooks.position
    return host_step(optimizer) - hooks.step_offset


def set_step_offset(optimizer: keras.optimizers.Optimizer, step_offset: int) -> None:
    """Move the start of the attached cycle to the counter value ``step_offset``.

    The compiled train step reads the offset as a constant when it is traced: rebuild the
    model's train function after a change (``model.make_train_function(force=True)``).
    """
    hooks: _Hooks = getattr(optimizer, _STATE_ATTR)
    hooks.step_offset = int(step_offset)
    hooks.position = host_step(optimizer) - hooks.step_offset


# -- update rules (Keras's own, with a scheduled momentum) ----------------------------------
# ``scheduled`` is the ``(learning_rate, momentum)`` pair from ``_hooked_backend_update_step``.
def _sgd_update_step(self: Any, gradient: Any, variable: Any, scheduled: Any) -> None:
    learning_rate, momentum = scheduled
    lr = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    momentum = ops.cast(momentum, variable.dtype)
    m = self.momentums[self._get_variable_index(variable)]
    self.assign(m, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, lr)))
    if self.nesterov:
        self.assign_add(
            variable, ops.subtract(ops.multiply(m, momentum), ops.multiply(gradient, lr))
        )
    else:
        self.assign_add(variable, m)


def _adam_update_step(self: Any, gradient: Any, variable: Any, scheduled: Any) -> None:
    learning_rate, beta_1 = scheduled
    lr = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype)
    beta_1 = ops.cast(beta_1, variable.dtype)
    local_step = ops.cast(self.iterations + 1, variable.dtype)
    beta_1_power = ops.power(beta_1, local_step)
    beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
    m = self._momentums[self._get_variable_index(variable)]
    v = self._velocities[self._get_variable_index(variable)]
    alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - beta_1))
    self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
    if self.amsgrad:
        v_hat = self._velocity_hats[self._get_variable_index(variable)]
        self.assign(v_hat, ops.maximum(v_hat, v))
        v = v_hat
    self.assign_sub(
        variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon))
    )


# -- hooks ------------------------------------------------------------------------------------
def _hooked_learning_rate_eager(self: Any) -> float:
    # PyTorch runs the step eagerly: a table look-up, where the formula as ~40 tiny tensor
    # ops would cost milliseconds and a read of `iterations` a device sync
    hooks: _Hooks = getattr(self, _STATE_ATTR)
    return hooks.lr_now()


def _hooked_learning_rate(self: Any) -> Any:
    hooks: _Hooks = getattr(self, _STATE_ATTR)
    return evaluate_piecewise(hooks.lr_schedule, _step_tensor(self))


def _hooked_backend_update_step_compiled(
    self: Any, grads: Any, trainable_variables: Any, learning_rate: Any
) -> None:
    hooks: _Hooks = getattr(self, _STATE_ATTR)
    assert hooks.momentum_schedule is not None
    momentum = evaluate_piecewise(hooks.momentum_schedule, _step_tensor(self))
    # one argument, so that tf.distribute's merge_call carries it to every replica's update
    hooks.original_methods["_backend_update_step"](
        grads, trainable_variables, (learning_rate, momentum)
    )


def _hooked_backend_update_step_eager(
    self: Any, grads: Any, trainable_variables: Any, learning_rate: Any
) -> None:
    hooks: _Hooks = getattr(self, _STATE_ATTR)
    if hooks.momentum_table is not None and hooks.momentum_attribute is not None:
        setattr(self, hooks.momentum_attribute, hooks.momentum_now())
    hooks.original_methods["_backend_update_step"](grads, trainable_variables, learning_rate)
    hooks.position += 1  # Keras advances `iterations` right after this update


def is_attached(optimizer: keras.optimizers.Optimizer) -> bool:
    return _STATE_ATTR in vars(optimizer)


def check(optimizer: keras.optimizers.Optimizer, *, cycle_momentum: bool) -> None:
    """Raise a clear error if ``optimizer`` cannot follow a One Cycle schedule.

    Raises:
        ValueError: the optimizer was built with a ``LearningRateSchedule`` or a callable
            learning rate (two schedules cannot both own the LR).
        UnsupportedOptimizerError: ``cycle_momentum`` for an optimizer that has no momentum
            (see :func:`momentum_attribute`).
    """
    learning_rate = optimizer._learning_rate
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ArgumentError(
            f"The optimizer was created with a LearningRateSchedule "
            f"({type(learning_rate).__name__}); OneCycle sets the learning rate itself. "
            "Create the optimizer with a float learning_rate (any value) instead."
        )
    if callable(learning_rate) and not isinstance(learning_rate, keras.Variable):
        raise ArgumentError(
            "The optimizer's learning_rate is a callable; OneCycle sets the learning rate "
            "itself. Create the optimizer with a float learning_rate instead."
        )
    if cycle_momentum:
        momentum_attribute(optimizer)


def attach(
    optimizer: keras.optimizers.Optimizer,
    lr_schedule: PiecewiseSchedule,
    momentum_schedule: PiecewiseSchedule | None = None,
    *,
    step_offset: int = 0,
) -> None:
    """Install the LR (and momentum) schedule hooks on ``optimizer``; see the module doc.

    ``step_offset`` is the value of ``optimizer.iterations`` at which the schedule's step 0
    falls (a cycle that starts after earlier training on the same optimizer).

    Raises what :func:`check` raises, and ``ValueError`` if hooks are already attached.
    """
    if is_attached(optimizer):
        raise ArgumentError(
            "This optimizer already follows a superconverge schedule: use one OneCycle "
            "callback per fit call."
        )
    check(optimizer, cycle_momentum=momentum_schedule is not None)
    attribute = None
    original_momentum = None
    if momentum_schedule is not None:
        attribute = momentum_attribute(optimizer)
        original_momentum = float(getattr(optimizer, attribute))
    hooks = _Hooks(
        lr_schedule=lr_schedule,
        momentum_schedule=momentum_schedule,
        momentum_attribute=attribute,
        original_momentum=original_momentum,
        original_methods={name: getattr(optimizer, name) for name in _HOOKED_METHODS},
        step_offset=int(step_offset),
    )
    object.__setattr__(optimizer, _STATE_ATTR, hooks)
    eager = keras.backend.backend() == "torch"
    _bind(
        optimizer,
        "_get_current_learning_rate",
        _hooked_learning_rate_eager if eager else _hooked_learning_rate,
    )
    if eager:
        hooks.tabulate()
        set_step_offset(optimizer, step_offset)  # the host-side position in the tables
        # always hooked: it advances the host-side position after each update
        _bind(optimizer, "_backend_update_step", _hooked_backend_update_step_eager)
    elif momentum_schedule is not None:
        update = _sgd_update_step if attribute == "momentum" else _adam_update_step
        _bind(optimizer, "update_step", update)
        _bind(optimizer, "_backend_update_step", _hooked_backend_update_step_compiled)
    logger.debug("Attached schedule hooks to %s", type(optimizer).__name__)


def replace_schedules(optimizer: keras.optimizers.Optimizer, lr_schedule: PiecewiseSchedule,
                      momentum_schedule: PiecewiseSchedule | None) -> None:
    """Swap the attached schedules in place, keeping the cycle's start (``step_offset``) and
    position: for a schedule that agrees with the old one on the steps taken (``stretch``).

    The compiled train step holds the schedule as constants from its tracing: rebuild the
    model's train function after a change (``model.make_train_function(force=True)``); the
    eager (torch) tables are rebuilt here.
    """
    hooks: _Hooks = getattr(optimizer, _STATE_ATTR)
    if (momentum_schedule is None) != (hooks.momentum_schedule is None):
        raise ArgumentError("replace_schedules keeps whether momentum is scheduled")
    hooks.lr_schedule, hooks.momentum_schedule = lr_schedule, momentum_schedule
    if hooks.lr_table is not None:
        hooks.tabulate()


def detach(optimizer: keras.optimizers.Optimizer, *, keep_last_lr: bool = True) -> None:
    """Remove the hooks; momentum gets its original value back, and the LR variable the last
    scheduled value (``keep_last_lr``) or whatever it holds (``keep_last_lr=False``: after a
    ``fit`` that raised, the user may have set it since)."""
    if not is_attached(optimizer):
        return
    hooks: _Hooks = getattr(optimizer, _STATE_ATTR)
    last_lr = float(hooks.lr_schedule(max(host_step(optimizer) - hooks.step_offset - 1, 0)))
    for name in _HOOKED_METHODS:
        vars(optimizer).pop(name, None)
    object.__delattr__(optimizer, _STATE_ATTR)
    if hooks.momentum_attribute is not None and hooks.original_momentum is not None:
        setattr(optimizer, hooks.momentum_attribute, hooks.original_momentum)
    if keep_last_lr:
        optimizer._learning_rate.assign(last_lr)


def _bind(optimizer: Any, name: str, function: Any) -> None:
    object.__setattr__(optimizer, name, types.MethodType(function, optimizer))
