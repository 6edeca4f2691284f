"""The One Cycle policy as a ``model.fit`` callback."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from superconverge.callbacks import leftovers, optimizer_hooks
from superconverge.errors import ArgumentError
from superconverge.schedules import (
    PRESETS,
    OneCycleSchedule,
    PresetName,
    one_cycle_schedule,
    stretch,
)

logger = logging.getLogger(__name__)

#: the name OneCycle's clean-up is registered under (:mod:`superconverge.callbacks.leftovers`)
_LEFTOVER_NAME = "OneCycle"


def detach(model: keras.Model, *, keep_last_lr: bool = False) -> None:
    """Return ``model`` to plain Keras: remove OneCycle's hooks from its optimizer and drop
    the traced train step that contains them. The momentum gets its original value back; the
    LR variable keeps what it holds (the optimizer's own LR), or with ``keep_last_lr`` the last
    scheduled LR (what a ``fit`` that ends normally leaves). Safe on any model, any number of
    times; use it after a ``fit`` with OneCycle raised (the next ``fit`` also does it)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer_hooks.is_attached(optimizer):
        optimizer_hooks.detach(optimizer, keep_last_lr=keep_last_lr)
        model.train_function = None
    leftovers.withdraw(model, _LEFTOVER_NAME)


def _rebuild_train_function(model: keras.Model) -> None:
    # the class's method, not the leftovers guard: rebuilding is OneCycle's own doing
    type(model).make_train_function(model, force=True)


@dataclass
class _AppliedRange:
    """Optimizer steps ``first .. end - 1`` of one fit, applied under ``schedule``."""

    schedule: OneCycleSchedule
    first: int
    end: int


#: planned steps used to check a callback's settings when it is created (any value works)
_PROBE_STEPS = 1000


class OneCycle(keras.callbacks.Callback):
    """Drive the optimizer's LR and momentum (or Adam ``beta_1``) with the One Cycle policy.

    The values are computed from the optimizer's own iteration counter *inside* the compiled
    train step (see :mod:`superconverge.callbacks.optimizer_hooks`), so they take effect on
    TensorFlow, JAX and PyTorch alike, cost nothing per batch on the host, follow
    ``steps_per_execution`` and ``gradient_accumulation_steps`` (the schedule counts optimizer
    updates, not batches), and a model restored from a checkpoint continues at the exact step.

    Where the cycle starts: each ``fit`` with a new OneCycle runs its own cycle from step 0,
    also on a model trained before (fine-tuning in two phases, "another cycle"). A resumed
    run, ``fit(initial_epoch=k)``, is placed ``k`` epochs into the cycle instead:

        step = iterations - offset,   offset = iterations_at_start - k * updates_per_epoch

    so a model restored from a checkpoint taken after epoch ``k`` (``iterations = k *
    updates_per_epoch``) continues exactly where it stopped, and ``initial_epoch=0`` starts a
    new cycle wherever the optimizer's counter stands.

    Args:
        max_lr: peak learning rate (ignored when ``schedule`` is given).
        epochs, steps_per_epoch: the plan; each defaults to what ``fit`` was called with.
        total_steps: optimizer updates the policy spans; overrides ``epochs * steps_per_epoch``.
        schedule: a ready :class:`~superconverge.schedules.OneCycleSchedule`; overrides the rest.
        preset: ``"smith"`` (default: linear, annihilation to ``min_lr / 100`` in the last
            10%), ``"fastai"``, ``"pytorch"`` or ``"pytorch_three_phase"``.
        cycle_momentum: ``False`` schedules the LR only.
        **schedule_kwargs: passed to the preset (``min_lr``, ``div``, ``peak``,
            ``annihilation_fraction``, ``interpolation``, ``max_momentum``, ...).

    Logs ``learning_rate`` and ``momentum`` (the values of the last update applied) in each
    epoch's logs, so ``History`` and ``CSVLogger`` record them; ``self.applied`` keeps the
    per-update values (``step``, ``learning_rate``, ``momentum``) for plotting. Training past
    the planned steps warns once and holds the final values.
    """

    def __init__(
        self,
        max_lr: float | None = None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        schedule: OneCycleSchedule | None = None,
        preset: PresetName = "smith",
        cycle_momentum: bool = True,
        **schedule_kwargs: Any,
    ) -> None:
        super().__init__()
        if schedule is None and max_lr is None:
            raise ArgumentError(
                "OneCycle needs max_lr (or a ready schedule=OneCycleSchedule.smith(...))."
            )
        if preset not in PRESETS:
            raise ArgumentError(f"Unknown preset {preset!r}: use one of {', '.join(PRESETS)}.")
        for name, value in (
            ("epochs", epochs),
            ("steps_per_epoch", steps_per_epoch),
            ("total_steps", total_steps),
        ):
            if value is not None and (isinstance(value, bool) or int(value) < 1):
                raise ArgumentError(f"{name} must be a positive integer, got {value!r}.")
        if schedule is None:
            # a typo or an impossible value fails here, not in the middle of fit
            one_cycle_schedule(preset, max_lr, _PROBE_STEPS, cycle_momentum=cycle_momentum,
                               **schedule_kwargs)
        self.max_lr = max_lr
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = total_steps
        self.preset = preset
        self.cycle_momentum = cycle_momentum
        self.schedule_kwargs = schedule_kwargs
        self.schedule: OneCycleSchedule | None = schedule
        self._given_schedule = schedule is not None
        # optimizer steps applied, as [first, end) ranges, one per fit with the schedule it
        # followed: the values are computed from them when ``applied`` is read, not per batch
        self._applied_ranges: list[_AppliedRange] = []
        self._warned_past_end = False
        self._accumulation = 1
        self._placed = False

    # -- planning ---------------------------------------------------------------------------
    def _planned_updates(self, accumulation: int) -> int:
        if self.total_steps is not None:
            return int(self.total_steps)
        params = self.params or {}
        epochs = self.epochs or params.get("epochs")
        steps = self.steps_per_epoch or params.get("steps")
        if not epochs or not steps:
            raise ArgumentError(
                "OneCycle cannot infer the number of steps (the dataset has no known length): "
                "pass steps_per_epoch=... (and epochs=...) or total_steps=..."
            )
        return max(1, (int(epochs) * int(steps)) // accumulation)

    def _build_schedule(self, accumulation: int) -> OneCycleSchedule:
        return one_cycle_schedule(
            self.preset,
            self.max_lr,
            self._planned_updates(accumulation),
            cycle_momentum=self.cycle_momentum,
            **self.schedule_kwargs,
        )

    # -- Keras hooks ----------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ArgumentError(
                "OneCycle needs a compiled model: call model.compile(optimizer=...)."
            )
        optimizer_hooks.check(optimizer, cycle_momentum=self.cycle_momentum)
        accumulation = max(1, int(optimizer.gradient_accumulation_steps or 1))
        if not self._given_schedule:
            self.schedule = self._build_schedule(accumulation)
        assert self.schedule is not None
        momentum = self.schedule.momentum_schedule if self.cycle_momentum else None
        if optimizer_hooks.is_attached(optimizer):
            # left over from a fit that ended in an exception (on_train_end never ran)
            optimizer_hooks.detach(optimizer, keep_last_lr=False)
        # A new cycle starts at the counter's current value; ``on_epoch_begin`` moves the start
        # back when fit resumes at initial_epoch > 0 (Keras tells callbacks the epoch only there).
        optimizer_hooks.attach(
            optimizer,
            self.schedule.lr_schedule,
            momentum,
            step_offset=optimizer_hooks.host_step(optimizer),
        )
        # The train step may have been traced before the hooks existed: rebuild it.
        _rebuild_train_function(model)
        # a fit that raises never reaches on_train_end: the next fit removes the hooks
        leftovers.register(model, _LEFTOVER_NAME, lambda: detach(model))
        self._applied_ranges.append(_AppliedRange(self.schedule, 0, 0))
        self._placed = False
        self._accumulation = accumulation
        self._warned_past_end = False
        logger.info("%s", self.schedule.summary())

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._placed:
            return
        self._placed = True
        if epoch == 0:
            return
        optimizer = self.model.optimizer
        steps = self.steps_per_epoch or (self.params or {}).get("steps")
        if not steps:
            # Without the epoch length, the best guess for a resumed run is that the
            # optimizer's whole counter belongs to this cycle (a restored checkpoint).
            warnings.warn(
                f"fit resumed at initial_epoch={epoch}, but the number of steps per epoch is "
                "unknown: OneCycle takes the optimizer's step counter as the position in the "
                "cycle. Pass steps_per_epoch=... to place a resumed cycle exactly.",
                stacklevel=2,
            )
            updates_before = optimizer_hooks.host_step(optimizer)
        else:
            updates_before = (epoch * int(steps)) // self._accumulation
        offset = optimizer_hooks.host_step(optimizer) - updates_before
        optimizer_hooks.set_step_offset(optimizer, offset)
        _rebuild_train_function(self.model)
        self._applied_ranges[-1].first = self._applied_ranges[-1].end = updates_before
        logger.info(
            "OneCycle continues the cycle at step %d (initial_epoch=%d)", updates_before, epoch
        )

    # -- changing the plan ----------------------------------------------------------------------
    def use_schedule(self, schedule: OneCycleSchedule) -> None:
        """Follow ``schedule`` from the next ``fit`` on (before it starts): e.g. the stretched
        schedule a resumed run had reached (``train_resumable`` reads it from its state)."""
        if self._applied_ranges and self.model is not None and optimizer_hooks.is_attached(
                self.model.optimizer):
            raise ArgumentError("use_schedule() is for before fit; during fit use stretch()")
        self.schedule, self._given_schedule = schedule, True

    def stretch(self, total_steps: int) -> OneCycleSchedule:
        """During ``fit`` (e.g. at an epoch end): lay the rest of the cycle over
        ``total_steps`` optimizer steps in all, from the step reached
        (:func:`superconverge.schedules.stretch`: the steps taken keep their values, the rest
        keeps its shape, longer or shorter, with no jump). Rebuilds the train step once (a
        retrace on JAX and TensorFlow). Returns the new schedule."""
        optimizer = getattr(self.model, "optimizer", None)
        if (self.schedule is None or optimizer is None or not self._applied_ranges
                or not optimizer_hooks.is_attached(optimizer)):
            raise ArgumentError("OneCycle.stretch() works during fit, once the cycle has begun")
        self._sync_applied()
        at = self._applied_ranges[-1].end
        schedule = stretch(self.schedule, at, int(total_steps))
        optimizer_hooks.replace_schedules(
            optimizer, schedule.lr_schedule,
            schedule.momentum_schedule if self.cycle_momentum else None)
        _rebuild_train_function(self.model)
        self.schedule, self._given_schedule = schedule, True
        self._applied_ranges.append(_AppliedRange(schedule, at, at))
        self._warned_past_end = False
        logger.info("OneCycle: the rest of the cycle laid over steps %d -> %d (%d in all)",
                    at, schedule.total_steps, schedule.total_steps)
        return schedule

    # No batch-level hook: Keras then dispatches the batch callbacks of fit asynchronously (a
    # callback with ``on_train_batch_end`` makes every step wait for its logs). The steps
    # applied are read off the optimizer's counter at the end of each epoch instead.
    def _sync_applied(self) -> None:
        """Bring the current range up to the optimizer's update counter; warn once when the
        training has gone past the planned steps."""
        optimizer = getattr(self.model, "optimizer", None)
        if not self._applied_ranges or optimizer is None or not optimizer_hooks.is_attached(
                optimizer):
            return
        current = self._applied_ranges[-1]
        current.end = max(current.first, optimizer_hooks.cycle_step(optimizer))
        if current.end > current.schedule.total_steps and not self._warned_past_end:
            self._warned_past_end = True
            warnings.warn(
                f"Training ran past the {current.schedule.total_steps} optimizer steps that "
                "the One Cycle policy was planned for; the LR and momentum stay at their final "
                "values. Pass epochs/total_steps that match the training run.",
                stacklevel=2,
            )

    @property
    def applied(self) -> dict[str, list[float]]:
        """The values of every update applied so far: ``step``, ``learning_rate`` and
        ``momentum`` (NaN when momentum is not cycled), one entry per optimizer update, in order
        (several fits with this callback follow each other). Computed from the schedules when
        read, so recording costs nothing per batch."""
        values: dict[str, list[float]] = {"step": [], "learning_rate": [], "momentum": []}
        for applied_range in self._applied_ranges:
            steps = np.arange(applied_range.first, applied_range.end, dtype=np.int64)
            if steps.size == 0:
                continue
            schedule = applied_range.schedule
            momentum = schedule.momentum(steps) if self.cycle_momentum else None
            values["step"] += steps.astype(np.float64).tolist()
            values["learning_rate"] += np.broadcast_to(
                np.asarray(schedule.lr(steps), dtype=np.float64), steps.shape).tolist()
            values["momentum"] += (
                [float("nan")] * steps.size if momentum is None
                else np.broadcast_to(np.asarray(momentum, dtype=np.float64), steps.shape).tolist()
            )
        return values

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._sync_applied()
        current = self._applied_ranges[-1] if self._applied_ranges else None
        if logs is None or current is None or current.end <= current.first:
            return
        logs["learning_rate"] = float(current.schedule.lr(current.end - 1))
        if self.cycle_momentum:
            logs["momentum"] = float(current.schedule.momentum(current.end - 1))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._sync_applied()  # a fit stopped inside an epoch (EarlyStopping, steps)
        # The traced step contains the hooks: drop it too, so a later fit runs plain Keras.
        detach(self.model, keep_last_lr=True)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments; ``from_config`` rebuilds an equal callback."""
        config: dict[str, Any] = {
            "max_lr": self.max_lr,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "preset": self.preset,
            "cycle_momentum": self.cycle_momentum,
            **self.schedule_kwargs,
        }
        if self._given_schedule and self.schedule is not None:
            config["schedule"] = self.schedule.to_config()
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OneCycle:
        config = dict(config)
        schedule = config.pop("schedule", None)
        if schedule is not None:
            config["schedule"] = OneCycleSchedule.from_config(schedule)
        return cls(**config)
