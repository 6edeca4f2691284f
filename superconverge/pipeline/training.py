"""Resumable training: a checkpoint at every epoch end, written so that a kill loses nothing.

Layout under ``run_dir/checkpoints/NAME/``: ``epoch-EEEE.keras`` (the full model with its
optimizer state, so the iteration counter, momentum slots and LR position come back exactly)
and ``state.json``, which names the newest complete checkpoint and carries the per-epoch
history, the LR/momentum applied per step, and the wall time so far. The model file is
written first and the state last, each atomically, so the state never points at a partial
file; older checkpoints are removed only after the state has moved on.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

import superconverge.losses  # noqa: F401  (registers the pipeline's losses for loading)
from superconverge.io import DamagedFileError, atomic_write_json, atomic_write_with, read_json
from superconverge.models.fused_bn import fuse_batch_norm
from superconverge.pipeline.rundir import STATE, RunDirectory

logger = logging.getLogger(__name__)


@dataclass
class TrainingOutcome:
    """What a finished (or resumed-and-finished) training run produced."""

    model: keras.Model
    history: list[dict[str, float]]
    applied: dict[str, list[float]] = field(default_factory=dict)
    wall_time: float = 0.0
    epochs: int = 0


class _EpochCheckpoint(keras.callbacks.Callback):
    def __init__(self, directory: Path, history: list[dict[str, float]], wall_time: float,
                 applied_source: Any, applied_before: dict[str, list[float]]) -> None:
        super().__init__()
        self.directory = directory
        self.history = history
        self.wall_time = wall_time
        self.applied_source = applied_source
        self.applied_before = applied_before
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def applied(self) -> dict[str, list[float]]:
        current = getattr(self.applied_source, "applied", None) or {}
        keys = set(self.applied_before) | set(current)
        return {k: list(self.applied_before.get(k, [])) + list(current.get(k, [])) for k in keys}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.wall_time += time.perf_counter() - self._epoch_start
        row = {"epoch": float(epoch + 1), "wall_time": self.wall_time}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.history.append(row)
        name = f"epoch-{epoch + 1:04d}.keras"
        # fsynced (file and folder) before state.json points at it
        # fused BN layers are written as plain Keras ones; a resumed run fuses them (fuse_bn)
        atomic_write_with(self.directory / name, self.model.save)
        state = {
            "epoch": epoch + 1,
            "checkpoint": name,
            "wall_time": self.wall_time,
            "history": self.history,
            "applied": self.applied(),
        }
        schedule = getattr(self.applied_source, "schedule", None)
        if schedule is not None:  # as followed so far: a budget guard may have stretched it
            state["schedule"] = schedule.to_config()
        atomic_write_json(self.directory / STATE, state)
        for old in self.directory.glob("epoch-*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)


class _StopAtStep(keras.callbacks.Callback):
    """Ends ``fit`` after optimizer step ``total_steps`` (counted as ``epoch·n + batch + 1``,
    ``n`` steps per whole epoch): the last epoch of a budgeted run is partial. Keras still
    validates and calls ``on_epoch_end`` (the checkpoint) for the cut epoch."""

    def __init__(self, total_steps: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._epoch * self.steps_per_epoch + batch + 1 >= self.total_steps:
            self.model.stop_training = True


#: A budgeted run may be stretched to at most this many times its planned steps
MAX_STRETCH = 1.5
#: ... and is stretched only for a gain of at least this share of its planned steps (each
#: stretch retraces the train step on JAX and TensorFlow)
MIN_STRETCH_GAIN = 0.01


class BudgetGuard(keras.callbacks.Callback):
    """Keeps a budgeted run's training on its deadline when the machine's speed drifts.

    At each epoch end from the second on (one clock reading per epoch boundary, none per
    step) it takes the step time as the median over the epochs trained so far, the first one
    (tracing) left out, of ``(epoch seconds - overhead) / steps`` (at least half of each
    epoch over its steps), and finds the largest total ``T`` (up to ``max_steps``) whose

        finish(T) = now + (T - done) · step + (epochs left for T) · overhead

    is on time. With a ``one_cycle`` callback the rest of the cycle is laid over ``T`` steps
    (``OneCycle.stretch``: same shape, no jump): shorter when the run would end late, longer
    when it would end early by more than :data:`MIN_STRETCH_GAIN` of the plan, so a machine
    faster than measured before training trains longer instead of idling. Without one, a late
    run stops at ``T``, in the schedule's tail (a warm-up + cosine schedule cut 5 % early stops
    at 0.6 % of its peak).
    """

    def __init__(self, stop: _StopAtStep, *, deadline: float, overhead_seconds: float,
                 clock: Callable[[], float] = time.perf_counter, one_cycle: Any = None,
                 max_steps: int | None = None) -> None:
        super().__init__()
        self.stop, self.deadline, self.overhead = stop, deadline, overhead_seconds
        self.clock = clock
        self.one_cycle = one_cycle
        self.planned_steps = stop.total_steps
        self.max_steps = max(self.planned_steps, max_steps or self.planned_steps)
        self._started = 0.0
        self._step_times: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = self.clock()

    def _finish(self, total: int, done: int, now: float, step: float) -> float:
        n = self.stop.steps_per_epoch
        epochs_left = math.ceil(total / n) - math.ceil(done / n)
        return now + (total - done) * step + epochs_left * self.overhead

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = self.clock()
        n = self.stop.steps_per_epoch
        seconds = now - self._started
        self._step_times.append(max(seconds - self.overhead, 0.5 * seconds) / n)
        done = min((epoch + 1) * n, self.stop.total_steps)
        if done >= self.stop.total_steps:
            return
        if len(self._step_times) < 2:  # the first epoch's time includes tracing, counted in
            return                       # the plan's once-per-run seconds
        step = statistics.median(self._step_times[1:])
        total = self.stop.total_steps
        late = self._finish(total, done, now, step) - self.deadline
        logger.debug("budget guard after epoch %d: %.1f s to the deadline, %.1f ms a step, "
                     "the plan ends %.1f s after it", epoch + 1, self.deadline - now,
                     1000 * step, late)
        if late <= 0 and self.one_cycle is None:
            return
        # the largest total on time (finish grows with it): bisection over [done, max_steps]
        low, high = done, self.max_steps if self.one_cycle is not None else total
        while low < high:
            middle = (low + high + 1) // 2
            if self._finish(middle, done, now, step) <= self.deadline:
                low = middle
            else:
                high = middle - 1
        if late <= 0 and low - total < MIN_STRETCH_GAIN * self.planned_steps:
            return  # on time, and not early enough to be worth a longer cycle
        if low <= done:
            self.stop.total_steps = done
            self.model.stop_training = True
            logger.warning("running %.0f s behind the budget: training stops now, after step "
                           "%d of %d", late, done, total)
            return
        self.stop.total_steps = low
        if self.one_cycle is not None:
            self.one_cycle.stretch(low)
            logger.log(logging.WARNING if late > 0 else logging.INFO,
                       "%s the budget by %.0f s at %.1f ms a step: the rest of the one-cycle "
                       "schedule now spans steps %d -> %d (was %d)",
                       "behind" if late > 0 else "ahead of", abs(late), 1000 * step, done, low,
                       total)
        else:
            logger.warning("running %.0f s behind the budget: training stops after step %d "
                           "instead of %d (the schedule's tail is cut)", late, low, total)


def _load_checkpoint(path: Path) -> keras.Model:
    if not path.is_file():
        raise DamagedFileError(
            f"the checkpoint {path} that state.json names is missing; the run directory was "
            "edited. Start a new run with another --out."
        )
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises anything from zipfile, h5py or JSON here
        raise DamagedFileError(
            f"the checkpoint {path} cannot be loaded ({type(error).__name__}); it is truncated "
            "or damaged. Delete the checkpoints/ folder of this stage to restart it."
        ) from error


def checkpoint_state(run_dir: Path, name: str) -> dict[str, Any] | None:
    path = RunDirectory(run_dir).checkpoints(name) / STATE
    return read_json(path) if path.exists() else None


def train_resumable(
    name: str,
    run_dir: Path,
    build_model: Callable[[], keras.Model],
    *,
    epochs: int,
    train_data: Any,
    validation_data: Any,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    schedule_callback: Any = None,
    fit_kwargs: dict[str, Any] | None = None,
    on_resume: Callable[[int], Any] | None = None,
    fuse_bn: bool = False,
    total_steps: int | None = None,
    deadline: tuple[float, float, Callable[[], float]] | None = None,
) -> TrainingOutcome:
    """Train ``epochs`` epochs, continuing from the newest checkpoint of ``name`` if any.

    ``build_model`` returns a compiled model for a fresh start; on resume the checkpoint
    (weights and optimizer state) is loaded instead and ``fit`` continues at
    ``initial_epoch``. ``schedule_callback`` (a ``OneCycle``) contributes its ``applied``
    LR/momentum record to the saved state. ``on_resume(initial_epoch)`` lets the data
    feeder jump to that epoch's shuffle (e.g. ``ArrayBatches.set_epoch``). ``fuse_bn``: a
    loaded checkpoint gets fused BN layers, as ``build_model``'s model has them
    (``superconverge.models.fuse_batch_norm``). ``total_steps``: stop after that many
    optimizer steps, inside the last epoch (``len(train_data)`` steps per whole epoch).
    ``deadline = (time, overhead_seconds_per_epoch, clock)`` (with ``total_steps``): a
    :class:`BudgetGuard` keeps the run on it, stretching the ``schedule_callback``'s cycle
    (up to :data:`MAX_STRETCH` times the steps) or stopping earlier. The state records the
    schedule followed, and a resumed run follows it (with its length) again.
    """
    directory = RunDirectory(run_dir).checkpoints(name)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".tmp-*"):
        stale.unlink(missing_ok=True)
    state = checkpoint_state(run_dir, name)
    if state is not None:
        try:
            path = directory / str(state["checkpoint"])
            initial_epoch = int(state["epoch"])
            history = list(state["history"])
            wall_time = float(state["wall_time"])
            applied_before = {k: list(v) for k, v in state.get("applied", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DamagedFileError(
                f"{directory / STATE} is damaged ({type(error).__name__}: {error}); "
                "it is not the checkpoint record superconverge wrote."
            ) from None
        logger.info("%s: resuming from %s (epoch %d of %d)", name, path, initial_epoch, epochs)
        if state.get("schedule") is not None and schedule_callback is not None:
            from superconverge.schedules import OneCycleSchedule

            followed = OneCycleSchedule.from_config(state["schedule"])
            schedule_callback.use_schedule(followed)
            if total_steps is not None and followed.total_steps != total_steps:
                logger.info("%s: the run was stretched to %d steps (planned %d)", name,
                            followed.total_steps, total_steps)
                total_steps = followed.total_steps
                epochs = math.ceil(total_steps / len(train_data))
        model = _load_checkpoint(path)
        if fuse_bn:
            fuse_batch_norm(model)
    else:
        model = build_model()
        initial_epoch, history, wall_time, applied_before = 0, [], 0.0, {}
    checkpoint = _EpochCheckpoint(directory, history, wall_time, schedule_callback,
                                  applied_before)
    if initial_epoch and on_resume is not None:
        on_resume(initial_epoch)
    stop: list[keras.callbacks.Callback] = []
    fit_epochs = epochs
    # a per-batch hook only where it can act: a partial last epoch, or a deadline to keep
    if total_steps is not None and (deadline is not None
                                    or total_steps < epochs * len(train_data)):
        stop.append(_StopAtStep(total_steps, len(train_data)))
        if deadline is not None:
            time_limit, overhead, clock = deadline
            stretchable = schedule_callback if hasattr(schedule_callback, "stretch") else None
            max_steps = math.floor(total_steps * MAX_STRETCH) if stretchable else total_steps
            # fit may run the epochs a stretched cycle needs; _StopAtStep ends it on time
            fit_epochs = max(epochs, math.ceil(max_steps / len(train_data)))
            stop.append(BudgetGuard(stop[0], deadline=time_limit, overhead_seconds=overhead,
                                    clock=clock, one_cycle=stretchable, max_steps=max_steps))
    if initial_epoch < epochs:
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=fit_epochs,
            initial_epoch=initial_epoch,
            callbacks=[*callbacks, *stop, checkpoint],
            verbose=0,
            # the feeder shuffles by (seed, epoch); Keras's own shuffle is unseeded
            shuffle=False,
            **(fit_kwargs or {}),
        )
    return TrainingOutcome(
        model=model,
        history=checkpoint.history,
        applied=checkpoint.applied(),
        wall_time=checkpoint.wall_time,
        # the epochs trained (a budget guard may have stretched or cut the plan)
        epochs=len(checkpoint.history) if total_steps is not None else epochs,
    )
