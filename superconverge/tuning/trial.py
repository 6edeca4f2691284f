"""One short one-cycle run (Keras): the unit of evidence of the search, and precise BN."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from superconverge.callbacks import OneCycle
from superconverge.defaults import DEFAULT_MOMENTA, MIN_LR_RATIO, PIPELINE_WARMUP_FRACTION
from superconverge.errors import ArgumentError
from superconverge.models import batch_norm_layers, compile_classifier, set_bn_momentum
from superconverge.schedules import PRESETS

__all__ = ["PreciseBN", "ShortRun", "precise_bn", "pruning_validation_size", "short_run",
           "weight_penalty"]

logger = logging.getLogger(__name__)

#: ``report(epoch, val_loss) -> stop?``: called after every epoch.
Reporter = Callable[[int, float], bool]


#: the per-epoch validation of a short run (the pruner's signal) uses at least this many of
#: the validation examples (or all); the final judgement uses all of them
PRUNING_VALIDATION_MIN = 1024


@dataclass
class ShortRun:
    """What one short run measured (``val_loss``: on the validation data, without the weight
    penalty; ``history["val_loss"]`` keeps Keras's loss, penalty included)."""

    val_loss: float
    val_accuracy: float | None
    epochs_run: int
    stopped: bool
    diverged: bool
    wall_time: float
    history: dict[str, list[float]] = field(default_factory=dict)


def pruning_validation_size(data: Any) -> int:
    """How many validation examples (the first ones) a short run is validated on after each
    epoch: ``min(len(val), max(PRUNING_VALIDATION_MIN, len(train)))``."""
    return min(len(data.val), max(PRUNING_VALIDATION_MIN, len(data.train)))


def weight_penalty(model: keras.Model) -> float:
    """The weight-regularisation term Keras adds to every loss it reports.

    ``penalty = Σ_w r_w(w)`` over the trainable variables with a ``regularizer`` (for the
    library's models ``r_w(w) = (λ/2)·‖w‖²`` on every conv and dense kernel). Keras adds it to
    the training *and* the validation loss (``Model.compute_loss`` sums ``model.losses``), so
    ``val_loss − penalty`` is the loss on the data alone. Comparing weight decays by Keras's
    ``val_loss`` would charge each candidate its own penalty: on the recipe's final runs it
    ranks the values by λ instead of by how well they generalise
    (``docs/tuning.md``, "the criterion").
    """
    total = 0.0
    for variable in model.trainable_weights:
        regularizer = getattr(variable, "regularizer", None)
        if regularizer is not None:
            total += float(np.asarray(keras.ops.convert_to_numpy(regularizer(variable))))
    return total


class _Report(keras.callbacks.Callback):
    def __init__(self, report: Reporter | None) -> None:
        super().__init__()
        self.report = report
        self.stopped = False
        self.diverged = False
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        for key in ("loss", "val_loss", "val_accuracy"):
            if key in logs:
                self.history.setdefault(key, []).append(float(logs[key]))
        val_loss = float(logs.get("val_loss", math.nan))
        if not math.isfinite(val_loss) or not math.isfinite(float(logs.get("loss", 0.0))):
            self.diverged = True
            self.model.stop_training = True
            return
        # judged on the data alone: the weight penalty is not part of the criterion
        val_loss -= weight_penalty(self.model)
        self.history.setdefault("val_data_loss", []).append(val_loss)
        if self.report is not None and self.report(epoch, val_loss):
            self.stopped = True
            self.model.stop_training = True


def precise_bn(
    model: keras.Model,
    x: np.ndarray,
    *,
    batch_size: int = 128,
    num_batches: int = 50,
    seed: int = 0,
) -> int:
    """Recompute the batch-norm statistics on training data ("precise BN", Wu & Johnson 2021).

    For every BN layer the moving mean and variance are replaced by the *equal-weight* average
    of the per-batch statistics over ``num_batches`` batches of ``x`` (drawn with ``seed``):
    ``μ = mean_b μ_b``, ``σ² = mean_b (σ²_b + μ_b²) - μ²`` (the population variance of
    the pooled batches), with the network in training mode, as the moving averages would see
    it. This removes the lag of a slow moving average (high Keras momentum) behind weights that
    changed fast at the end of a short one-cycle run. Needs a functional or ``Sequential``
    model (the BN inputs are read through a sub-model). Returns the number of BN layers set.
    """
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        probe = keras.Model(inputs, [layer.input for layer in layers])
    except (AttributeError, ValueError) as error:
        raise ArgumentError(
            "precise_bn needs a functional or Sequential model whose BN layers are reachable "
            f"from model.inputs ({error}); subclassed models are not supported"
        ) from error
    rng = np.random.default_rng(seed)
    n = int(x.shape[0])
    sums: list[tuple[np.ndarray, np.ndarray]] = []
    count = 0
    for _ in range(max(1, num_batches)):
        idx = rng.choice(n, size=min(batch_size, n), replace=False)
        outs = probe(x[idx], training=True)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for i, (layer, out) in enumerate(zip(layers, outs)):
            values = keras.ops.convert_to_numpy(out).astype(np.float64)
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            axis = axis % values.ndim
            reduce = tuple(a for a in range(values.ndim) if a != axis)
            mean, mean_sq = values.mean(axis=reduce), (values**2).mean(axis=reduce)
            if count == 0:
                sums.append((mean, mean_sq))
            else:
                sums[i] = (sums[i][0] + mean, sums[i][1] + mean_sq)
        count += 1
    for layer, (total, total_sq) in zip(layers, sums):
        mean = total / count
        var = np.maximum(total_sq / count - mean**2, 0.0)
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(var.astype(layer.moving_variance.dtype))
    logger.debug("precise BN: %d layers recalibrated on %d batches", len(layers), count)
    return len(layers)


class PreciseBN(keras.callbacks.Callback):
    """Calls :func:`precise_bn` on the model at the end of ``fit`` (training data ``x``)."""

    def __init__(self, x: np.ndarray, *, batch_size: int = 128, num_batches: int = 50,
                 seed: int = 0) -> None:
        super().__init__()
        self.x, self.batch_size, self.num_batches, self.seed = x, batch_size, num_batches, seed

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        precise_bn(self.model, self.x, batch_size=self.batch_size,
                   num_batches=self.num_batches, seed=self.seed)


def short_run(
    build_model: Callable[..., keras.Model],
    data: Any,
    *,
    weight_decay: float,
    bn_momentum: float,
    max_lr: float,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
    min_lr_ratio: float = MIN_LR_RATIO,
    momentum: tuple[float, float] = DEFAULT_MOMENTA,
    augment: bool = False,
    use_precise_bn: bool = False,
    compile_model: Callable[[keras.Model, Any], keras.Model] | None = None,
    report: Reporter | None = None,
    nesterov: bool = False,
    lr_shape: str = "smith",
    warmup_fraction: float = PIPELINE_WARMUP_FRACTION,
) -> ShortRun:
    """Train a fresh model for ``epochs`` with One Cycle and return its validation loss on the
    data alone (Keras's ``val_loss`` minus :func:`weight_penalty`).

    The model is ``build_model(bn_momentum=..., weight_decay=...)`` built after
    ``keras.utils.set_random_seed(seed)`` (every run starts from the same weights and sees the
    same batches), its BN momentum set once more with ``set_bn_momentum`` (for builders that
    ignore the argument), compiled with SGD (``momentum`` cycles ``max → min → max``) and
    trained on ``data.train_batches``; ``report`` is called after every epoch with the
    validation data loss and stops the run when it returns ``True``; that per-epoch loss is
    measured on the first :func:`pruning_validation_size` validation examples (validating a
    short run on a subset of the training data against all of a large validation split every
    epoch would cost more than the training). A NaN/inf loss ends the
    run as diverged. At the end (with ``use_precise_bn`` after recalibrating the BN statistics,
    :func:`precise_bn`) the run is judged on the whole validation split. ``nesterov``,
    ``lr_shape`` (a One Cycle preset of :data:`superconverge.schedules.PRESETS` taking
    ``warmup_fraction``, or ``"smith"``) make the short run train the recipe the final run
    will.
    """
    if len(data.val) == 0:
        raise ArgumentError("tuning needs validation data: load the data with validation_split > 0")
    keras.utils.set_random_seed(seed)
    model = build_model(bn_momentum=bn_momentum, weight_decay=weight_decay)
    set_bn_momentum(model, bn_momentum)
    optimizer = keras.optimizers.SGD(max_lr / min_lr_ratio, momentum=momentum[0],
                                     nesterov=nesterov)
    if compile_model is not None:
        model = compile_model(model, optimizer)
    else:
        model = compile_classifier(model, optimizer)
    batches = data.train_batches(batch_size, augment=augment, shuffle=True, seed=seed)
    if lr_shape == "smith":
        one_cycle = OneCycle(max_lr, min_lr=max_lr / min_lr_ratio, epochs=epochs,
                             max_momentum=momentum[0], min_momentum=momentum[1])
    else:
        if lr_shape not in PRESETS:
            raise ArgumentError(f"lr_shape must be 'smith' or one of {', '.join(PRESETS)}, "
                                f"got {lr_shape!r}")
        one_cycle = OneCycle(schedule=PRESETS[lr_shape](
            max_lr, epochs * len(batches), warmup_fraction=warmup_fraction,
            max_momentum=momentum[0], min_momentum=momentum[1]))
    reporter = _Report(report)
    # per epoch (for the pruner) the first m validation examples, at most about one training
    # set's worth; the run is judged at its end on all of them
    x_val, y_val = data.val.as_tuple()
    m = pruning_validation_size(data)
    started = time.perf_counter()
    # one short run after another: the policy summary of each is debug detail here
    policy_logger = logging.getLogger("superconverge.callbacks.one_cycle")
    level = policy_logger.level
    policy_logger.setLevel(max(level, logging.WARNING))
    try:
        model.fit(
            batches,
            epochs=epochs,
            validation_data=(x_val[:m], y_val[:m]),
            callbacks=[one_cycle, reporter],
            verbose=0,
        )
    finally:
        policy_logger.setLevel(level)
    history = reporter.history
    epochs_run = len(history.get("loss", []))
    val_loss = (history["val_data_loss"][-1] if history.get("val_data_loss")
                else history["val_loss"][-1] if history.get("val_loss") else math.nan)
    val_acc = history.get("val_accuracy", [None])[-1] if history.get("val_accuracy") else None
    if not reporter.stopped and not reporter.diverged:
        if use_precise_bn:
            precise_bn(model, data.train.x, batch_size=batch_size, seed=seed)
        if use_precise_bn or m < len(y_val):  # else the last epoch's validation was all of it
            results = model.evaluate(x_val, y_val, batch_size=512, verbose=0, return_dict=True)
            val_loss = float(results["loss"]) - weight_penalty(model)
            val_acc = float(results.get("accuracy", val_acc or math.nan))
        history["val_data_loss_final"] = [val_loss]
    diverged = reporter.diverged or not math.isfinite(val_loss)
    return ShortRun(
        val_loss=float(val_loss),
        val_accuracy=None if val_acc is None else float(val_acc),
        epochs_run=epochs_run,
        stopped=reporter.stopped,
        diverged=diverged,
        wall_time=time.perf_counter() - started,
        history=history,
    )
