"""`LRRangeTest`: the range test as a Keras callback (the one mechanism the runner uses too)."""

from __future__ import annotations

import logging
import math
from typing import Any

import keras
import numpy as np

from superconverge.defaults import DIVERGENCE_FACTOR, LOSS_EMA_BETA, RANGE_START_LR
from superconverge.finder.errors import RangeTestError
from superconverge.finder.in_step import InStepSweep, unusable_reason
from superconverge.finder.result import RangeTestResult
from superconverge.finder.sweep import (
    LossEMA,
    check_beta,
    check_num_steps,
    check_sweep_args,
    sweep_lrs,
    sweep_schedule,
)

logger = logging.getLogger(__name__)

_ACCURACY_KEYS = (
    "accuracy",
    "acc",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
    "binary_accuracy",
)


def check_learning_rate_settable(optimizer: Any) -> None:
    """Raise :class:`RangeTestError` unless the optimizer's LR is a plain variable."""
    if optimizer is None:
        raise RangeTestError(
            "The model is not compiled: call model.compile(optimizer=..., loss=...) first."
        )
    lr = optimizer.learning_rate
    if not isinstance(lr, keras.Variable):
        raise RangeTestError(
            "The optimizer's learning rate is a schedule or a callable "
            f"({type(getattr(optimizer, '_learning_rate', lr)).__name__}); the range test "
            "must set it every step. Compile with a float learning rate, e.g. "
            "keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)."
        )


def check_steps_per_execution(model: keras.Model) -> None:
    spe = getattr(model, "steps_per_execution", 1) or 1
    if int(spe) != 1:
        raise RangeTestError(
            f"The model was compiled with steps_per_execution={spe}; the range test sets the "
            "learning rate and reads the loss every batch. Recompile with "
            "steps_per_execution=1 for the range test."
        )


def _accuracy_from(logs: dict[str, Any]) -> float | None:
    for key in _ACCURACY_KEYS:
        if key in logs:
            return float(logs[key])
    for key, value in logs.items():
        if "acc" in key:
            return float(value)
    return None


def materialize_batches(data: Any, num_batches: int, batch_size: int | None) -> tuple:
    """Take a fixed sample of ``num_batches`` validation batches as NumPy arrays ``(x, y)``
    (or ``(x, y, sample_weight)``). Accepts ``(x, y[, sw])`` array tuples, a
    ``tf.data.Dataset``, a ``keras.utils.PyDataset`` or any iterable of batches."""
    if num_batches < 1:
        raise RangeTestError(f"validation_batches must be >= 1, got {num_batches}.")
    if isinstance(data, (tuple, list)):
        if not 2 <= len(data) <= 3:
            raise RangeTestError(
                "validation_data must be (x, y), (x, y, sample_weight), a tf.data.Dataset or a "
                "keras.utils.PyDataset."
            )
        bs = batch_size or 32
        n = num_batches * bs
        out = tuple(keras.tree.map_structure(lambda a: np.asarray(a)[:n], part) for part in data)
        first = keras.tree.flatten(out[0])[0]
        if len(first) == 0:
            raise RangeTestError("validation_data is empty.")
        return out
    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        count = num_batches if count is None else min(num_batches, count)
        batches = [data[i] for i in range(count)]
    else:
        if hasattr(data, "take") and hasattr(data, "as_numpy_iterator"):  # tf.data
            iterator = iter(data.take(num_batches).as_numpy_iterator())
        else:
            iterator = iter(data)
        batches = []
        for batch in iterator:
            batches.append(batch)
            if len(batches) >= num_batches:
                break
    if not batches:
        raise RangeTestError("validation_data yielded no batches.")
    batches = [tuple(b) if isinstance(b, (tuple, list)) else (b,) for b in batches]
    width = len(batches[0])
    if width < 2:
        raise RangeTestError("validation batches must be (x, y) or (x, y, sample_weight).")
    return tuple(
        keras.tree.map_structure(
            lambda *parts: np.concatenate([np.asarray(p) for p in parts], axis=0),
            *[b[k] for b in batches],
        )
        for k in range(width)
    )


class LRRangeTest(keras.callbacks.Callback):
    """LR range test as a callback: sweeps the learning rate up, records each batch's loss.

    Step ``i`` runs at ``lr_i`` (see :func:`sweep_lrs`: ``lr_i = start·(end/start)^(i/(N-1))``
    for ``mode="exp"``, linear interpolation for ``"linear"``) with Keras's loss metric zeroed
    before it, so the ``loss`` Keras logs at the end of the batch is *that batch's* loss rather
    than the running mean since the epoch start; other metrics keep their running means.
    For a model whose train step this ``fit`` traces anyway (freshly compiled), both happen
    inside the compiled step (:mod:`superconverge.finder.in_step`: no host work per step, the
    model's own train function given back afterwards); otherwise from the host before each
    step (``optimizer.learning_rate = lr_i``, and the loss metric's ``reset_state()``, or
    ``model.reset_metrics()`` for a model without one).
    It keeps a bias-corrected EMA ``smoothed_i = avg_i / (1 - β^(i+1))`` with
    ``avg_i = β·avg_{i-1} + (1-β)·loss_i`` and stops training (``model.stop_training``) when

    * ``i >= min_steps`` and ``smoothed_i > diverge × min_{j<=i} smoothed_j`` (``"diverged"``),
    * a batch loss is NaN/inf (``"non_finite"``), or
    * ``N`` steps have run (``"completed"``).

    It does **not** restore the model afterwards: use :func:`superconverge.lr_range_test`
    for that, or :class:`superconverge.finder.state.TrainingState` yourself.

    Args:
        start_lr, end_lr: the sweep bounds, ``0 < start_lr < end_lr``.
        steps: number of steps ``N``; ``None`` = one epoch (``params["steps"]`` of the fit).
        mode: ``"exp"`` (geometric, the default) or ``"linear"``.
        smooth: EMA factor β in ``[0, 1)``.
        diverge: stop factor (> 1); ``math.inf`` or ``None`` disables the divergence stop.
        min_steps: steps before the divergence check starts (early noise).
        validation_data: optional ``(x, y)`` arrays / dataset; a fixed sample of
            ``validation_batches`` batches is taken once and evaluated every
            ``validation_every`` steps (default: about 20 evaluations over the sweep).
        validation_batch_size: batch size for array validation data (default 32).

    After training, :attr:`result` holds the :class:`RangeTestResult`.

    Example::

        cb = LRRangeTest(1e-6, 1.0, steps=200)
        model.fit(x, y, epochs=1, steps_per_epoch=200, callbacks=[cb])
        cb.result.plot(path="range.png")
    """

    def __init__(
        self,
        start_lr: float = RANGE_START_LR,
        end_lr: float = 10.0,
        steps: int | None = None,
        *,
        mode: str = "exp",
        smooth: float = LOSS_EMA_BETA,
        diverge: float | None = DIVERGENCE_FACTOR,
        min_steps: int = 10,
        validation_data: Any = None,
        validation_every: int | None = None,
        validation_batches: int = 4,
        validation_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        check_sweep_args(start_lr, end_lr, mode)
        check_beta(smooth)
        if diverge is None:
            diverge = math.inf
        if not float(diverge) > 1.0:
            raise RangeTestError(
                f"diverge must be > 1 (stop when the smoothed loss exceeds diverge × its best "
                f"value; 4 is usual, math.inf disables), got {diverge!r}."
            )
        if steps is not None:
            check_num_steps(int(steps))
        if min_steps < 0:
            raise RangeTestError(f"min_steps must be >= 0, got {min_steps}.")
        if validation_every is not None and validation_every < 1:
            raise RangeTestError(f"validation_every must be >= 1, got {validation_every}.")
        self.start_lr = float(start_lr)
        self.end_lr = float(end_lr)
        self.steps = None if steps is None else int(steps)
        self.mode = mode
        self.smooth = float(smooth)
        self.diverge = float(diverge)
        self.min_steps = int(min_steps)
        self.validation_data = validation_data
        self.validation_every = validation_every
        self.validation_batches = int(validation_batches)
        self.validation_batch_size = validation_batch_size
        self.batch_size: int | None = None  # metadata only; set by the runner
        # whether the model had no train function when fit handed it over (set_model runs
        # before fit makes one): then the in-step sweep costs no extra trace
        self._model_was_fresh = False
        self._in_step: InStepSweep | None = None
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self._schedule: np.ndarray | None = None
        self._loss_metric: keras.metrics.Metric | None = None
        self._lrs: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._val_steps: list[int] = []
        self._val_losses: list[float] = []
        self._val_accs: list[float | None] = []
        self._ema = LossEMA(self.smooth)
        self._best = math.inf
        self._step = 0
        self.stop_reason: str | None = None
        self.stop_step: int | None = None
        self._val_sample: tuple | None = None

    @property
    def num_steps(self) -> int | None:
        """Planned number of steps ``N`` (known once training began, or given)."""
        return None if self._schedule is None else len(self._schedule)

    @property
    def steps_recorded(self) -> int:
        """Steps whose loss the sweep has recorded so far."""
        return len(self._lrs)

    @property
    def result(self) -> RangeTestResult:
        """What was recorded so far, as a :class:`RangeTestResult`."""
        reason = self.stop_reason
        if reason is None:
            reason = "completed" if self.num_steps and self._step >= self.num_steps else "error"
        has_val = bool(self._val_steps)
        accs = None
        if has_val and any(a is not None for a in self._val_accs):
            accs = [np.nan if a is None else a for a in self._val_accs]
        return RangeTestResult(
            lrs=self._lrs,
            losses=self._losses,
            smoothed_losses=self._smoothed,
            stop_reason=reason,
            stop_step=self.stop_step,
            mode=self.mode,
            start_lr=self.start_lr,
            end_lr=self.end_lr,
            num_steps=self.num_steps or 0,
            smooth=self.smooth,
            diverge=self.diverge,
            batch_size=self.batch_size,
            backend=keras.backend.backend(),
            val_steps=self._val_steps if has_val else None,
            val_losses=self._val_losses if has_val else None,
            val_accuracies=accs,
            # where the sweep's LR and loss-metric reset ran: the compiled step or the host
            metadata={"min_steps": self.min_steps, "sweep_in_step": self.in_step},
        )

    @property
    def in_step(self) -> bool:
        """Whether the current (or last) sweep ran inside the compiled train step."""
        return self._in_step is not None

    def release(self) -> None:
        """Take the in-step sweep's hooks out of the model now (``on_train_end`` does it
        when ``fit`` returns; the runner calls this when ``fit`` raised). Idempotent."""
        if self._in_step is not None:
            self._in_step.remove()

    # ------------------------------------------------------------------ Keras hooks
    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self._model_was_fresh = getattr(model, "train_function", None) is None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.release()
        self._reset()
        model = self.model
        check_learning_rate_settable(model.optimizer)
        check_steps_per_execution(model)
        steps = self.steps
        if steps is None:
            steps = (self.params or {}).get("steps")
            if steps is None:
                raise RangeTestError(
                    "LRRangeTest(steps=None) uses one epoch, but the number of batches per "
                    "epoch is unknown for this input; pass steps=N to LRRangeTest and "
                    "steps_per_epoch=N to fit."
                )
            check_num_steps(int(steps), " (one epoch)")
        self._schedule = sweep_lrs(self.start_lr, self.end_lr, int(steps), self.mode)
        # Keras's running mean of the training loss (what logs["loss"] reports), if it has one
        self._loss_metric = next((m for m in model.metrics if m.name == "loss"), None)
        self._in_step = None
        reason = unusable_reason(model, self._loss_metric, self._model_was_fresh)
        if reason is None:
            self._in_step = InStepSweep(
                model, sweep_schedule(self.start_lr, self.end_lr, int(steps), self.mode),
                self._loss_metric)
            self._in_step.install()
        else:
            logger.debug("LR range test sets the LR from the host each step: %s", reason)
        self._model_was_fresh = False  # a second fit with this callback finds a traced step
        if self.validation_data is not None:
            self._val_sample = materialize_batches(
                self.validation_data, self.validation_batches, self.validation_batch_size
            )
            if self.validation_every is None:
                self.validation_every = max(1, int(steps) // 20)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._schedule is None:  # pragma: no cover - Keras always calls on_train_begin
            raise RangeTestError("LRRangeTest used without on_train_begin.")
        if self._in_step is not None:
            return  # the compiled step sets the LR and zeroes the loss metric itself
        # `self.model` (the property) re-attaches JAX state, so the assignments below reach
        # the next compiled step; on TF/torch it is a plain attribute.
        model = self.model
        i = min(self._step, len(self._schedule) - 1)
        model.optimizer.learning_rate = float(self._schedule[i])
        if self._loss_metric is not None:
            # only the loss is read: one metric's variables to zero, not every metric's (on
            # TensorFlow each reset is an eager op, ~0.1 ms per variable on this CPU)
            self._loss_metric.reset_state()
        else:
            model.reset_metrics()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        assert self._schedule is not None
        logs = logs or {}
        if "loss" not in logs:
            raise RangeTestError(
                "No 'loss' in the training logs; the range test needs the model's training loss."
            )
        i = self._step
        n = len(self._schedule)
        loss = float(logs["loss"])
        self._lrs.append(float(self._schedule[min(i, n - 1)]))
        self._losses.append(loss)
        self._step += 1
        if not math.isfinite(loss):
            self._smoothed.append(float("nan"))
            self._stop("non_finite", i)
            return
        smoothed = self._ema.update(loss)
        self._smoothed.append(smoothed)
        self._best = min(self._best, smoothed)
        if self._val_sample is not None and self._step % int(self.validation_every) == 0:
            self._validate(i)
        if (
            i >= self.min_steps
            and math.isfinite(self.diverge)
            and self._best > 0
            and smoothed > self.diverge * self._best
        ):
            self._stop("diverged", i)
        elif self._step >= n:
            self.stop_reason = "completed"
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.release()
        if self.stop_reason is None:
            n = self.num_steps or 0
            self.stop_reason = "completed" if self._step >= n else "exhausted"
        logger.info("LR range test: %s", self.result.summary())

    # ------------------------------------------------------------------ helpers
    def _stop(self, reason: str, step: int) -> None:
        self.stop_reason = reason
        self.stop_step = step
        self.model.stop_training = True
        logger.info(
            "LR range test stopped (%s) at step %d, lr=%.4g", reason, step, self._lrs[-1]
        )

    def _validate(self, step: int) -> None:
        model = self.model
        assert self._val_sample is not None
        x, y, *rest = self._val_sample
        bs = self.validation_batch_size or (len(keras.tree.flatten(x)[0]) // max(
            1, self.validation_batches) or None)
        out = model.evaluate(
            x, y, sample_weight=rest[0] if rest else None, batch_size=bs, verbose=0,
            return_dict=True,
        )
        if keras.backend.backend() == "torch":
            model.train()  # evaluate() switched the torch module to eval mode
        self._val_steps.append(step)
        self._val_losses.append(float(out.get("loss", np.nan)))
        self._val_accs.append(_accuracy_from(out))
