"""`lr_range_test`: snapshot → `model.fit(..., callbacks=[LRRangeTest])` → restore (always)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import keras

from superconverge.defaults import DIVERGENCE_FACTOR, LOSS_EMA_BETA, RANGE_END_LR, RANGE_START_LR
from superconverge.finder.callback import (
    LRRangeTest,
    check_learning_rate_settable,
    check_steps_per_execution,
)
from superconverge.finder.errors import RangeTestError
from superconverge.finder.inputs import check_inputs, is_array_like
from superconverge.finder.result import RangeTestResult
from superconverge.finder.state import TrainingState
from superconverge.finder.sweep import check_beta, check_num_steps, check_sweep_args

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32  # what model.fit uses for arrays when batch_size is None


def _is_tf_dataset(x: Any) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "cardinality")


def batches_per_epoch(x: Any, batch_size: int | None) -> int | None:
    """Number of batches in one epoch of ``x`` (``None`` if unknown or infinite).

    Raises :class:`RangeTestError` for empty data.
    """
    if x is None:
        raise RangeTestError("No training data: pass x (and y) as you would to model.fit.")
    if isinstance(x, keras.utils.PyDataset):
        n = x.num_batches
        if n == 0:
            raise RangeTestError("The PyDataset is empty (num_batches == 0).")
        return n
    if _is_tf_dataset(x):
        card = int(x.cardinality())
        if card == 0:
            raise RangeTestError("The tf.data.Dataset is empty (cardinality 0).")
        return card if card > 0 else None  # -1 infinite, -2 unknown
    if is_array_like(x):
        n = len(keras.tree.flatten(x)[0])
        if n == 0:
            raise RangeTestError("The training data is empty (0 samples).")
        return math.ceil(n / (batch_size or DEFAULT_BATCH_SIZE))
    try:
        n = len(x)  # e.g. a torch DataLoader
    except TypeError:
        return None
    if n == 0:
        raise RangeTestError("The training data is empty (len 0).")
    return n


def _first_batch(x: Any, y: Any, batch_size: int | None) -> Any:
    if isinstance(x, keras.utils.PyDataset):
        return x[0]
    if _is_tf_dataset(x):
        return next(iter(x))
    if is_array_like(x):
        bs = batch_size or DEFAULT_BATCH_SIZE
        xb = keras.tree.map_structure(lambda a: a[:bs], x)
        yb = None if y is None else keras.tree.map_structure(lambda a: a[:bs], y)
        return (xb, yb)
    raise RangeTestError(
        "The model is not built and the first batch cannot be read from this input without "
        "consuming it. Build the model first: call it once on a batch (model(x_batch)), "
        "call model.build(input_shape), or start it with keras.Input(shape)."
    )


def check_model(model: keras.Model) -> None:
    """Raise :class:`RangeTestError` unless ``model`` is a compiled Keras model whose
    optimizer has a settable (float) learning rate and ``steps_per_execution == 1``."""
    if not isinstance(model, keras.Model):
        raise RangeTestError(f"Expected a keras.Model, got {type(model).__name__}.")
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise RangeTestError(
            "The model is not compiled: call model.compile(optimizer=..., loss=...) before the "
            "range test (the test uses that optimizer and loss)."
        )
    check_learning_rate_settable(model.optimizer)
    check_steps_per_execution(model)


def prepare_model(model: keras.Model, x: Any, y: Any, batch_size: int | None) -> None:
    """Check the model can be range-tested; build it and its optimizer if needed so that the
    snapshot contains every variable the sweep will touch."""
    check_model(model)
    if not model.built:
        batch = _first_batch(x, y, batch_size)
        xb, yb, _ = keras.utils.unpack_x_y_sample_weight(
            tuple(batch) if isinstance(batch, list) else batch
        )
        try:
            if hasattr(model, "_symbolic_build"):  # what fit() itself does first
                model._symbolic_build(data_batch=(xb, yb))
            else:  # pragma: no cover - older/newer Keras
                model(xb, training=False)
        except Exception as exc:
            raise RangeTestError(
                "The model is not built and could not be built from the first batch "
                f"({exc}). Build it first: model.build(input_shape), call it on a batch, or "
                "start it with keras.Input(shape)."
            ) from exc
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def lr_range_test(
    model: keras.Model,
    x: Any = None,
    y: Any = None,
    *,
    batch_size: int | None = None,
    start_lr: float = RANGE_START_LR,
    end_lr: float = RANGE_END_LR,
    steps: int | None = None,
    mode: str = "exp",
    smooth: float = LOSS_EMA_BETA,
    diverge: float | None = DIVERGENCE_FACTOR,
    min_steps: int = 10,
    validation_data: Any = None,
    validation_every: int | None = None,
    validation_batches: int = 4,
    validation_batch_size: int | None = None,
    sample_weight: Any = None,
    class_weight: dict[int, float] | None = None,
    shuffle: bool = True,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    catch_interrupt: bool = True,
    verbose: int | str = 0,
) -> RangeTestResult:
    """Run an LR range test (Smith 2015/2018) and leave the model exactly as it was.

    Trains for at most ``steps`` batches (default: one epoch, usually stopping earlier on
    divergence) while the learning rate grows from ``start_lr`` to ``end_lr``:
    ``lr_i = start·(end/start)^(i/(N-1))`` (``mode="exp"``) or linearly (``mode="linear"``).
    Records each batch's own loss and its bias-corrected EMA
    ``smoothed_i = avg_i/(1-β^(i+1))``, ``avg_i = β·avg_{i-1} + (1-β)·loss_i`` (β = ``smooth``),
    and stops once ``smoothed_i > diverge × best`` (after ``min_steps`` steps) or a loss is
    NaN/inf. See :class:`LRRangeTest` for the mechanism.

    The weights, non-trainable state (batch-norm statistics, RNG seeds), every optimizer
    variable (iterations, slots, learning rate), metric state, ``model.history`` and
    ``model.stop_training`` are restored bit-for-bit afterwards, also after an exception.
    An unbuilt optimizer is built first, so it comes back built but fresh.

    Args:
        model: a compiled ``keras.Model`` whose optimizer has a float learning rate.
        x, y, batch_size, sample_weight, class_weight, shuffle: as for ``model.fit``
            (NumPy arrays, ``tf.data.Dataset``, ``keras.utils.PyDataset``, …).
        start_lr, end_lr: sweep bounds, ``0 < start_lr < end_lr``.
        steps: number of steps (>= 10). ``None`` = one epoch (needs a known epoch length).
            More than one epoch of data repeats the data.
        mode: ``"exp"`` or ``"linear"``.
        smooth: EMA factor β in ``[0, 1)``.
        diverge: stop factor > 1; ``None`` / ``math.inf`` never stops on divergence.
        min_steps: steps before the divergence check starts.
        validation_data, validation_every, validation_batches, validation_batch_size:
            optional validation loss/accuracy every ``validation_every`` steps on a fixed
            sample of ``validation_batches`` batches.
        callbacks: extra Keras callbacks, called after the range-test callback.
        catch_interrupt: on ``KeyboardInterrupt`` restore the model and return the partial
            curve (``stop_reason="interrupted"``) instead of re-raising.
        verbose: passed to ``model.fit`` (0 = silent; a summary is logged at INFO).

    Returns:
        A :class:`RangeTestResult`.

    Raises:
        RangeTestError: (a ``ValueError``) for bad arguments, empty data, an uncompiled
            model, a learning-rate schedule, or fewer than 10 steps.
    """
    check_sweep_args(start_lr, end_lr, mode)
    check_beta(smooth)
    if steps is not None:
        check_num_steps(int(steps))
    check_model(model)
    nb = batches_per_epoch(x, batch_size)
    if steps is None:
        if nb is None:
            raise RangeTestError(
                "steps=None means one epoch, but the number of batches in this input is "
                "unknown or infinite; pass steps=N."
            )
        check_num_steps(nb, " (one epoch of this data)")
        steps = nb
    steps = int(steps)

    cb = LRRangeTest(
        start_lr,
        end_lr,
        steps,
        mode=mode,
        smooth=smooth,
        diverge=diverge,
        min_steps=min_steps,
        validation_data=validation_data,
        validation_every=validation_every,
        validation_batches=validation_batches,
        validation_batch_size=validation_batch_size or batch_size,
    )
    if is_array_like(x):
        cb.batch_size = int(batch_size or DEFAULT_BATCH_SIZE)
    else:  # a batch source: its own batch size where it has one (Batches, PyDataset)
        size = batch_size if batch_size is not None else getattr(x, "batch_size", None)
        cb.batch_size = int(size) if isinstance(size, int) else None

    prepare_model(model, x, y, batch_size)
    inputs_checked = check_inputs(model, x, y)
    snapshot = TrainingState.capture(model)

    if nb is not None and steps > nb:
        fit_kwargs: dict[str, Any] = {"epochs": math.ceil(steps / nb), "steps_per_epoch": None}
    else:
        fit_kwargs = {"epochs": 1, "steps_per_epoch": steps}
    if is_array_like(x):
        fit_kwargs["batch_size"] = batch_size
        fit_kwargs["shuffle"] = shuffle
    else:
        fit_kwargs["shuffle"] = False  # datasets shuffle themselves; avoids a Keras warning
        if batch_size is not None:
            logger.debug("batch_size ignored: the input yields batches itself.")

    logger.info(
        "LR range test: %d steps, lr %.3g → %.3g (%s), backend %s",
        steps, start_lr, end_lr, mode, keras.backend.backend(),
    )
    try:
        model.fit(
            x,
            y,
            sample_weight=sample_weight,
            class_weight=class_weight,
            callbacks=[cb, *(callbacks or [])],
            verbose=verbose,
            **fit_kwargs,
        )
    except KeyboardInterrupt:
        cb.stop_reason = "interrupted"
        cb.stop_step = cb.steps_recorded - 1 if cb.steps_recorded else None
        if not catch_interrupt:
            raise
        logger.warning("LR range test interrupted after %d steps; model restored.",
                       cb.steps_recorded)
    except BaseException:
        cb.stop_reason = cb.stop_reason or "error"
        raise
    finally:
        cb.release()  # after an exception: on_train_end did not run
        snapshot.restore(model)
    result = cb.result
    if len(result) == 0:
        raise RangeTestError("The range test recorded no steps (did the data yield batches?).")
    result.metadata.update({"optimizer": type(model.optimizer).__name__,
                            "fit_epochs": fit_kwargs["epochs"], "batches_per_epoch": nb,
                            "inputs_checked_finite": inputs_checked})
    if cb.stop_reason == "non_finite":
        if inputs_checked:
            logger.warning("The loss became NaN/inf at LR %.3g; the inputs are finite, so this "
                           "is divergence.", result.lrs[-1] if len(result) else float("nan"))
        else:
            logger.warning("The loss became NaN/inf at LR %.3g. These inputs could not be "
                           "checked ahead (not in-memory arrays): if they may hold NaN or inf, "
                           "the curve's end is the data's fault, not the LR's.",
                           result.lrs[-1] if len(result) else float("nan"))
    return result


