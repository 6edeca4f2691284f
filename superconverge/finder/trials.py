"""Short trial runs at a few max LRs around a pick: keep the one that trains best.

A range test's loss curve shows where training blows up, not which max LR trains best over a
whole cycle: on a sharply peaked task a pick a third of a decade off costs points. ``lr_trials``
runs a short One Cycle of ``steps`` optimizer steps at each candidate max LR, every trial from
the model's state at the call (same weights, same optimizer state, same batch order), scores
each on validation data and leaves the model exactly as it was (``TrainingState``).

The winner is the best-scoring candidate, moved to the vertex of the parabola through its
score and its two neighbours' in ``log10(max LR)``, at most half a candidate step away
(:func:`superconverge.bounds.signal.refine_log_peak`). Candidates come from
:func:`candidate_max_lrs`: ``pick · 10^o`` for the offsets of
:data:`superconverge.defaults.LR_TRIAL_OFFSETS`. Trials too short to leave chance accuracy
cannot rank the candidates: ``TrialResult.learned`` says whether they did (the pipeline keeps
the range test's pick when not). A winner above the pick is checked again with longer trials
at the pick and the winner (:func:`confirm_upward_move`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from superconverge.bounds.signal import refine_log_peak
from superconverge.defaults import LR_TRIAL_MIN_PROGRESS, LR_TRIAL_OFFSETS
from superconverge.finder.errors import RangeTestError
from superconverge.finder.inputs import is_array_like
from superconverge.finder.runner import batches_per_epoch, prepare_model
from superconverge.finder.state import TrainingState

logger = logging.getLogger(__name__)

CRITERIA = ("accuracy", "loss")
#: ``schedule(max_lr, steps)``: the LR (and momentum) schedule of one trial
ScheduleFactory = Callable[[float, int], Any]


@dataclasses.dataclass(frozen=True)
class LRTrial:
    """One trial: its max LR and the validation loss / accuracy it ended with."""

    max_lr: float
    val_loss: float
    val_accuracy: float | None

    def score(self, criterion: str) -> float:
        """Higher is better: the accuracy, or minus the loss (a non-finite loss: −inf)."""
        if criterion == "accuracy":
            return -math.inf if self.val_accuracy is None else float(self.val_accuracy)
        return -self.val_loss if math.isfinite(self.val_loss) else -math.inf


@dataclasses.dataclass(frozen=True)
class TrialResult:
    """The trials of :func:`lr_trials` and the max LR they choose."""

    trials: tuple[LRTrial, ...]
    steps: int
    criterion: str

    @property
    def winner_max_lr(self) -> float:
        """The best-scoring candidate (ties: the one nearest the middle of the list)."""
        middle = (len(self.trials) - 1) / 2
        best = max(range(len(self.trials)),
                   key=lambda i: (self.trials[i].score(self.criterion), -abs(i - middle)))
        return self.trials[best].max_lr

    @property
    def best_max_lr(self) -> float:
        """The winner refined by the parabola through it and its neighbours (module doc)."""
        lrs = [t.max_lr for t in self.trials]
        scores = [t.score(self.criterion) for t in self.trials]
        return float(10.0 ** refine_log_peak(np.log10(lrs), scores,
                                             start=math.log10(self.winner_max_lr)))

    def learned(self, num_classes: int, min_progress: float = LR_TRIAL_MIN_PROGRESS) -> bool:
        """Whether the trials trained enough to rank their candidates: the best validation
        accuracy ``a`` satisfies ``a ≥ c + min_progress · (1 − c)`` with chance ``c = 1 /
        num_classes``. Trials that recorded no accuracy count as learned (nothing to judge)."""
        if num_classes < 2:
            raise RangeTestError(f"num_classes must be at least 2, got {num_classes}.")
        if not 0.0 <= min_progress <= 1.0:
            raise RangeTestError(f"min_progress must lie in [0, 1], got {min_progress}.")
        accuracies = [t.val_accuracy for t in self.trials if t.val_accuracy is not None]
        if not accuracies:
            return True
        chance = 1.0 / num_classes
        return max(accuracies) >= chance + min_progress * (1.0 - chance)

    def moves_up(self, pick: float) -> bool:
        """Whether the winner lies above ``pick`` (the range test's max LR): the move that
        :func:`confirm_upward_move` checks with longer trials."""
        return self.winner_max_lr > pick * (1.0 + 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "criterion": self.criterion,
                "winner_max_lr": self.winner_max_lr, "best_max_lr": self.best_max_lr,
                "trials": [dataclasses.asdict(t) for t in self.trials]}


def confirm_upward_move(first: TrialResult, pick: float, confirmation: TrialResult) -> float:
    """The max LR once an upward move has been checked again.

    ``first`` chose a winner above ``pick``; ``confirmation`` ran longer trials (the pipeline:
    :data:`~superconverge.defaults.LR_TRIAL_CONFIRM_FACTOR` × the first's steps) at ``pick``
    and that winner. The move stands, as ``first.best_max_lr``, only if the winner scores
    strictly better than ``pick`` there; otherwise ``pick``. A short trial can like an LR that
    the whole run does not survive (measured: a 25-step trial chose 0.148, whose 200-step run
    collapsed to chance; the 50-step trials had already ranked it last).

    Raises:
        RangeTestError: if ``confirmation`` did not try exactly ``pick`` and the winner.
    """
    tried = sorted(t.max_lr for t in confirmation.trials)
    wanted = sorted((pick, first.winner_max_lr))
    if len(tried) != 2 or not all(math.isclose(a, b, rel_tol=1e-9)
                                  for a, b in zip(tried, wanted)):
        raise RangeTestError(f"The confirmation must try the pick and the winner {wanted}, "
                             f"it tried {tried}.")
    by_lr = {t.max_lr: t.score(confirmation.criterion) for t in confirmation.trials}
    low, high = sorted(by_lr)
    return first.best_max_lr if by_lr[high] > by_lr[low] else pick


@dataclasses.dataclass(frozen=True)
class TrialChoice:
    """What the trials decide (:func:`choose_max_lr`): the max LR to train at, whether the
    trials learned at all, and, when the winner lay above the pick, the longer trials that
    checked the move and whether it held (``None`` otherwise)."""

    max_lr: float
    learned: bool
    confirmation: TrialResult | None = None
    held: bool | None = None

    @property
    def by_trials(self) -> bool:
        """Whether the trials' choice trains (``False``: the range test's pick stays)."""
        return self.learned and self.held is not False


def choose_max_lr(first: TrialResult, pick: float, *, num_classes: int,
                  confirm: Callable[[list[float]], TrialResult],
                  min_progress: float = LR_TRIAL_MIN_PROGRESS) -> TrialChoice:
    """The max LR the trials choose around the range test's ``pick``: ``pick`` when no trial
    left chance accuracy (:meth:`TrialResult.learned`); ``first.best_max_lr`` when the winner
    does not lie above ``pick``; else whatever :func:`confirm_upward_move` keeps after
    ``confirm([pick, winner])`` ran the longer trials (the pipeline runs them; a benchmark
    may look them up)."""
    if not first.learned(num_classes, min_progress):
        return TrialChoice(pick, learned=False)
    if not first.moves_up(pick):
        return TrialChoice(first.best_max_lr, learned=True)
    second = confirm([pick, first.winner_max_lr])
    chosen = confirm_upward_move(first, pick, second)
    return TrialChoice(chosen, True, second, held=chosen != pick)


def candidate_max_lrs(pick: float, offsets: Sequence[float] = LR_TRIAL_OFFSETS) -> list[float]:
    """``pick · 10^o`` for each offset ``o`` (decades), ascending."""
    if not (math.isfinite(pick) and pick > 0):
        raise RangeTestError(f"The max LR to try around must be a positive number, got {pick}.")
    return [float(pick * 10.0 ** o) for o in sorted(offsets)]


def _default_schedule(max_lr: float, steps: int) -> Any:
    from superconverge.schedules import OneCycleSchedule

    return OneCycleSchedule.smith(max_lr, steps)


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


def _accuracy_of(results: dict[str, Any]) -> float | None:
    for name, value in results.items():
        if "acc" in name and np.ndim(value) == 0:
            return float(value)
    return None


def lr_trials(
    model: keras.Model,
    x: Any = None,
    y: Any = None,
    *,
    max_lrs: Sequence[float],
    steps: int,
    validation_data: Any,
    batch_size: int | None = None,
    schedule: ScheduleFactory | None = None,
    criterion: str = "accuracy",
    shuffle: bool = True,
    verbose: int | str = 0,
) -> TrialResult:
    """Train ``steps`` steps of One Cycle at each of ``max_lrs`` from the model's present state,
    score each on ``validation_data``, and restore the model bit-for-bit.

    Args:
        model: a compiled ``keras.Model`` (its optimizer's LR must be a plain float);
            ``criterion="accuracy"`` needs an accuracy metric compiled in.
        x, y, batch_size, shuffle: the training data, as for ``model.fit``. A batch source
            with ``set_epoch`` (``superconverge.data`` batches) is rewound before each trial,
            so every trial sees the same batches.
        max_lrs: the candidates, ascending and evenly spaced in log10 for the refinement
            (:func:`candidate_max_lrs` makes them).
        steps: optimizer steps per trial (>= 1).
        validation_data: ``(x_val, y_val)`` or a dataset, as for ``model.evaluate``.
        schedule: ``schedule(max_lr, steps)`` gives the trial's schedule (an
            ``OneCycleSchedule`` or preset); default Smith's One Cycle, min LR = max / 10.
        criterion: ``"accuracy"`` (higher wins) or ``"loss"`` (lower wins).
        verbose: passed to ``model.fit``.

    Returns:
        A :class:`TrialResult`: ``best_max_lr`` is the choice.

    Raises:
        RangeTestError: (a ``ValueError``) for bad arguments, an uncompiled model, or
            ``criterion="accuracy"`` without an accuracy metric.
    """
    from superconverge.callbacks import OneCycle

    lrs = [float(v) for v in max_lrs]
    if len(lrs) < 1 or not all(math.isfinite(v) and v > 0 for v in lrs):
        raise RangeTestError(f"max_lrs must be positive numbers, got {list(max_lrs)}.")
    if lrs != sorted(lrs):
        raise RangeTestError(f"max_lrs must be ascending, got {lrs}.")
    if isinstance(steps, bool) or int(steps) < 1:
        raise RangeTestError(f"steps must be a whole number >= 1, got {steps!r}.")
    if criterion not in CRITERIA:
        raise RangeTestError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    if validation_data is None:
        raise RangeTestError("lr_trials scores each trial on held-out data: pass "
                             "validation_data=(x_val, y_val).")
    steps = int(steps)
    make_schedule = schedule or _default_schedule
    prepare_model(model, x, y, batch_size)
    nb = batches_per_epoch(x, batch_size)
    fit_kwargs: dict[str, Any] = (
        {"epochs": math.ceil(steps / nb), "steps_per_epoch": None}
        if nb is not None and steps > nb else {"epochs": 1, "steps_per_epoch": steps})
    if is_array_like(x):
        fit_kwargs.update(batch_size=batch_size, shuffle=shuffle)
    else:
        fit_kwargs["shuffle"] = False
    val = validation_data
    val_x, val_y = (val[0], val[1]) if isinstance(val, tuple | list) else (val, None)
    rewind = getattr(x, "set_epoch", None)
    start_epoch = getattr(x, "epoch", 0)
    schedules = [make_schedule(lr, steps) for lr in lrs]  # a bad one fails before training
    snapshot = TrainingState.capture(model)
    trials: list[LRTrial] = []
    try:
        for lr, trial_schedule in zip(lrs, schedules):
            snapshot.restore(model)
            if rewind is not None:
                rewind(start_epoch)
            model.fit(x, y, callbacks=[OneCycle(schedule=trial_schedule), _StopAfter(steps)],
                      verbose=verbose, **fit_kwargs)
            results = model.evaluate(val_x, val_y, batch_size=batch_size, verbose=0,
                                     return_dict=True)
            accuracy = _accuracy_of(results)
            if criterion == "accuracy" and accuracy is None:
                raise RangeTestError(
                    "criterion='accuracy' needs an accuracy metric: compile with "
                    "metrics=['accuracy'], or pass criterion='loss'.")
            trial = LRTrial(lr, float(results["loss"]), accuracy)
            trials.append(trial)
            logger.info("LR trial %d/%d: max LR %.4g, %d steps -> val loss %.4g, accuracy %s",
                        len(trials), len(lrs), lr, steps, trial.val_loss,
                        "n/a" if accuracy is None else f"{accuracy:.4f}")
    finally:
        snapshot.restore(model)
        if rewind is not None:
            rewind(start_epoch)
    result = TrialResult(tuple(trials), steps, criterion)
    logger.info("LR trials: winner %.4g, refined %.4g (%s)", result.winner_max_lr,
                result.best_max_lr, criterion)
    return result
