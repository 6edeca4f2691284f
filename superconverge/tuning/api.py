"""``tune_regularization``: Smith's weight-decay and batch-norm-momentum search on Optuna."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from superconverge.defaults import (
    DEFAULT_MOMENTA,
    DIVERGENCE_FACTOR,
    MIN_LR_RATIO,
    PIPELINE_RANGE_START_LR,
    PIPELINE_WARMUP_FRACTION,
    RANGE_END_LR,
)
from superconverge.errors import ArgumentError
from superconverge.io import atomic_write_json, read_json
from superconverge.settings_check import changed_keys, mismatch_message
from superconverge.tuning import procedure
from superconverge.tuning import study as study_lib
from superconverge.tuning.files import (
    TUNING_DIR,
    TUNING_JSON,
    TUNING_RANGE_TEST_JSON,
    TUNING_RANGE_TEST_PNG,
)
from superconverge.tuning.procedure import Evaluation, SearchSpec

__all__ = ["TuningResult", "TuningSettings", "tune_regularization"]

logger = logging.getLogger(__name__)


@dataclass
class TuningResult:
    """The chosen values and the evidence.

    Attributes:
        weight_decay: Caffe/Smith ``λ`` (what ``superconverge.models.build(weight_decay=...)``
            takes: ``loss += (λ/2)·||w||²``).
        bn_momentum: for a run of ``target_steps`` steps (Keras convention).
        reason: one paragraph: what was tried and why these values.
        evaluations: every finished short run (``phase``, both values, ``val_loss`` — ``None``
            when pruned or diverged —, ``val_accuracy``, ``state``, ``epochs_run``, per-epoch
            ``history``).
        max_lr, max_lr_source: the one-cycle peak of the short runs and where it came from.
        default_bn_momentum: the principled default for the *tuning* run length.
        trial_epochs, target_epochs, steps_per_epoch: run lengths (the momentum found on
            runs of ``trial_epochs`` is rescaled to ``target_epochs`` when they differ).
        cost_epochs: epochs of training spent on tuning (short runs, pruned ones counted as
            far as they ran, plus the range test's fraction of an epoch), on the training
            examples the short runs used (``train_fraction`` of them with a ``cost_limit``;
            ``cost_final_runs``: the same in runs of the training tuned for).
        spec: the search (grid, momenta, bisection steps).
        study_name, storage: where the Optuna study lives (password redacted).
        wall_time: seconds this process spent (the last invocation only, when resumed).
    """

    weight_decay: float
    bn_momentum: float
    reason: str
    evaluations: list[Evaluation]
    max_lr: float
    max_lr_source: str
    default_bn_momentum: float
    trial_epochs: int
    target_epochs: int
    steps_per_epoch: int
    cost_epochs: float
    spec: dict[str, Any]
    study_name: str
    storage: str | None
    precise_bn: bool = False
    wall_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight_decay": self.weight_decay,
            "bn_momentum": self.bn_momentum,
            "reason": self.reason,
            "max_lr": self.max_lr,
            "max_lr_source": self.max_lr_source,
            "default_bn_momentum": self.default_bn_momentum,
            "trial_epochs": self.trial_epochs,
            "target_epochs": self.target_epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "cost_epochs": self.cost_epochs,
            "runs": len(self.evaluations),
            "spec": self.spec,
            "study_name": self.study_name,
            "storage": self.storage,
            "precise_bn": self.precise_bn,
            "wall_time": self.wall_time,
            "evaluations": [e.to_dict() for e in self.evaluations],
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningResult:
        known = {
            "weight_decay", "bn_momentum", "reason", "max_lr", "max_lr_source",
            "default_bn_momentum", "trial_epochs", "target_epochs", "steps_per_epoch",
            "cost_epochs", "runs", "spec", "study_name", "storage", "precise_bn", "wall_time",
            "evaluations",
        }
        return cls(
            weight_decay=float(data["weight_decay"]),
            bn_momentum=float(data["bn_momentum"]),
            reason=str(data["reason"]),
            evaluations=[Evaluation.from_dict(e) for e in data.get("evaluations", [])],
            max_lr=float(data["max_lr"]),
            max_lr_source=str(data.get("max_lr_source", "")),
            default_bn_momentum=float(data["default_bn_momentum"]),
            trial_epochs=int(data["trial_epochs"]),
            target_epochs=int(data["target_epochs"]),
            steps_per_epoch=int(data["steps_per_epoch"]),
            cost_epochs=float(data.get("cost_epochs", 0.0)),
            spec=dict(data.get("spec", {})),
            study_name=str(data.get("study_name", "")),
            storage=data.get("storage"),
            precise_bn=bool(data.get("precise_bn", False)),
            wall_time=float(data.get("wall_time", 0.0)),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def save(self, path: str | Path) -> Path:
        """Write ``tuning.json`` (atomically)."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> TuningResult:
        return cls.from_dict(read_json(path))

    def plot(self, out_dir: str | Path) -> list[Path]:
        """Write ``weight_decay.png`` and ``bn_momentum.png`` into ``out_dir``."""
        from superconverge.tuning.plots import save_plots

        return save_plots(self, out_dir)


def _max_lr_from_range_test(
    build_model: Callable[..., Any],
    data: Any,
    *,
    weight_decay: float,
    bn_momentum: float,
    batch_size: int,
    seed: int,
    momentum: float,
    compile_model: Callable[..., Any] | None,
    range_test: dict[str, Any],
    out_dir: Path | None,
) -> tuple[float, str, float]:
    """One LR range test at the prior values; returns ``(max_lr, source, epochs spent)``."""
    import keras

    from superconverge.finder import lr_range_test
    from superconverge.models import compile_classifier, set_bn_momentum

    settings = {"start_lr": PIPELINE_RANGE_START_LR, "end_lr": RANGE_END_LR,
                "diverge": DIVERGENCE_FACTOR, "steps": None, "method": "auto",
                "min_lr_ratio": MIN_LR_RATIO, **range_test}
    keras.utils.set_random_seed(seed)
    model = build_model(bn_momentum=bn_momentum, weight_decay=weight_decay)
    set_bn_momentum(model, bn_momentum)
    optimizer = keras.optimizers.SGD(settings["start_lr"], momentum=momentum)
    if compile_model is not None:
        model = compile_model(model, optimizer)
    else:  # keeps a compiled model's own loss, as the short runs do
        model = compile_classifier(model, optimizer)
    batches = data.train_batches(batch_size, augment=False, shuffle=True, seed=seed)
    steps = min(settings["steps"] or len(batches), len(batches))
    result = lr_range_test(
        model, batches, start_lr=settings["start_lr"], end_lr=settings["end_lr"],
        steps=max(10, steps), diverge=settings["diverge"],
    )
    suggestion = result.suggest(method=settings["method"],
                                min_lr_ratio=settings["min_lr_ratio"])
    if out_dir is not None:
        from superconverge.plotting import save_figure

        result.save(out_dir / TUNING_DIR / TUNING_RANGE_TEST_JSON)
        axes = result.plot(suggestion=suggestion)
        save_figure(axes.figure, out_dir / TUNING_DIR / TUNING_RANGE_TEST_PNG)
    ran = len(result.lrs) if hasattr(result, "lrs") else steps
    source = (
        f"LR range test before tuning ({ran} steps at weight decay {weight_decay:g}, "
        f"BN momentum {bn_momentum:g}; method {suggestion.method}, confidence "
        f"{suggestion.confidence:.2f})"
    )
    return float(suggestion.max_lr), source, ran / max(1, len(batches))


def _tunes_weight_decay(weight_decays: Any) -> bool:
    """``()`` (an empty list of values) means: keep the prior, search no weight decay."""
    return isinstance(weight_decays, str) or weight_decays is None or bool(weight_decays)


#: a short run cut to fit ``cost_limit`` keeps at least this many batches per epoch
MIN_SHORT_RUN_BATCHES = 8


def _short_run_data(data: Any, cost_limit: float, epochs: int, trial_epochs: int,
                    batch_size: int, weight_decays: Any, bn_momenta: Any,
                    bn_momentum: float | None, *, range_test: bool) -> Any:
    """``data`` with its training split cut to ``⌊f·N⌋`` examples (see ``cost_limit``), but
    never below :data:`MIN_SHORT_RUN_BATCHES` batches (a warm-up and a decay need steps); the
    run count ``R`` is an upper bound of the default search's (every momentum candidate
    counted as an extra run, and the range test, at most one epoch, as one more)."""
    import dataclasses as dc

    from superconverge.data.splits import Split

    if not (math.isfinite(cost_limit) and cost_limit > 0):
        raise ArgumentError(f"cost_limit must be a positive number of final runs, got "
                            f"{cost_limit!r}")
    grid = (len(procedure.weight_decay_candidates(weight_decays)) + 1
            if _tunes_weight_decay(weight_decays) else 0)
    momenta = 0 if bn_momentum is not None or (bn_momenta is not None and not bn_momenta) \
        else len(procedure.BN_MOMENTUM_CANDIDATES if bn_momenta is None else bn_momenta) + 1
    runs = max(1, grid + (1 if grid >= 2 else 0) + momenta) + (1 if range_test else 0)
    fraction = min(1.0, cost_limit * epochs / (runs * trial_epochs))
    n = len(data.train)
    keep = max(math.floor(fraction * n), MIN_SHORT_RUN_BATCHES * batch_size)
    if keep >= n:
        return data
    logger.info("tuning: short runs on %d of the %d training examples (cost limit %g final "
                "runs over at most %d runs of %d epoch(s))", keep, n, cost_limit, runs,
                trial_epochs)
    return dc.replace(data, train=Split(data.train.x[:keep], data.train.y[:keep]))


def _resolve_storage(storage: str | Any | None, out_dir: Path | None) -> str | Any | None:
    if storage is None and out_dir is not None:
        return study_lib.default_storage(out_dir)
    return storage


@dataclass(frozen=True)
class TuningSettings:
    """Every setting of :func:`tune_regularization` but the model, the data and the compile
    function (their meanings are in its docstring). Pass one, or the same names as keywords."""

    weight_decays: Sequence[float] | str | None = None
    bn_momenta: Sequence[float] | None = None
    budget: int | None = None
    storage: str | Any | None = None
    study_name: str = study_lib.DEFAULT_STUDY_NAME
    out_dir: str | Path | None = None
    epochs: int = 2
    trial_epochs: int | None = None
    max_lr: float | None = None
    batch_size: int = 128
    seed: int = 0
    min_lr_ratio: float = MIN_LR_RATIO
    momentum: tuple[float, float] = DEFAULT_MOMENTA
    augment: bool = False
    prior_weight_decay: float = 5e-4
    bn_momentum: float | None = None
    bn_tolerance: float = 0.01
    wd_tolerance: float = procedure.WD_TOLERANCE
    precise_bn: bool = False
    nesterov: bool = False
    lr_shape: str = "smith"
    warmup_fraction: float = PIPELINE_WARMUP_FRACTION
    prune_ratio: float = 2.0
    range_test: dict[str, Any] | None = None
    plots: bool = True
    cost_limit: float | None = None


def tune_regularization(
    build_model: Callable[..., Any],
    data: Any,
    settings: TuningSettings | None = None,
    *,
    compile_model: Callable[..., Any] | None = None,
    **overrides: Any,
) -> TuningResult:
    """Choose weight decay and batch-norm momentum with Smith's short runs (on Optuna).

    1. Max LR of the short runs: ``max_lr`` when given, else one LR range test at
       ``prior_weight_decay`` and the principled momentum (kept in the study, so a resumed or
       second worker reuses it).
    2. Weight-decay grid (``weight_decays``: values or ``"default"`` = ``1e-3, 1e-4, 1e-5, 0``,
       ``"deep"``, ``"shallow"``; ``()``: not tuned; ``prior_weight_decay`` is added) at the
       principled BN momentum
       ``m₀ = 1 - 4 / (0.1·T)`` clipped to ``[0.9, 0.999]`` for ``T`` steps of a short run.
    3. Bisection of the exponent between the best value and its better neighbour.
    4. Batch-norm momenta (``bn_momenta``, default ``0.9, 0.95, 0.99, 0.999`` plus ``m₀``;
       ``()``: not tuned) at the chosen weight decay.

    Each short run trains a fresh model (same initial weights and batches) for
    ``trial_epochs`` with One Cycle at ``max_lr`` and is judged on its final validation loss
    on the data (Keras's ``val_loss`` less the L2 term, :func:`~trial.weight_penalty`);
    the validation loss after each epoch is reported to Optuna, which prunes hopeless runs
    (:class:`~superconverge.tuning.study.HopelessPruner`).

    Args (the settings are fields of :class:`TuningSettings`, given as one or as keywords):
        build_model: ``build_model(bn_momentum=..., weight_decay=...) -> keras.Model`` with
            ``weight_decay`` as Caffe ``λ`` (e.g. ``functools.partial(models.build,
            "simple_cnn", shape, classes, seed=0)``). Compiled or not: it is compiled with SGD.
        data: a :class:`~superconverge.data.DatasetSplits` with a validation split.
        budget: the number of short runs (default: grid + momenta + one bisection step; more
            budget buys more bisection steps). The range test is not counted.
        storage: an Optuna storage or URL; default ``sqlite:///<out_dir>/tuning.db`` with
            ``out_dir``, in memory without. Workers sharing a URL and ``study_name`` share the
            search; a killed search resumes where it stopped (finished runs are not redone).
        study_name: the study within the storage.
        out_dir: where ``tuning.json`` and ``tuning/*.png`` are written (and the default
            storage lives); ``None``: nothing written.
        epochs: the length of the training being tuned for (its BN momentum is for this).
        trial_epochs: length of each short run (default ``epochs``). When shorter, momenta
            are compared on the short runs and the winner is rescaled to ``epochs`` at the same
            time constant per run length (:func:`~procedure.rescale_bn_momentum`).
        bn_momentum: a fixed momentum (only weight decay is tuned).
        bn_tolerance: relative improvement another momentum needs to replace ``m₀``.
        prior_weight_decay: the default weight decay: the range test's, always in the grid,
            and kept unless another value lowers the validation loss by more than
            ``wd_tolerance`` (relative; short runs of values that end level differ by noise).
        precise_bn: recalibrate BN statistics on training data at the end of each short run
            before judging it (see :func:`~superconverge.tuning.trial.precise_bn`).
        nesterov, lr_shape, warmup_fraction: the recipe of the short runs (Nesterov SGD; a
            One Cycle preset such as ``"warmup_cosine"``, or ``"smith"``): the final run's, so
            that candidates are judged on the training they will get.
        prune_ratio: see ``HopelessPruner``.
        range_test: options of the range test (``start_lr``, ``end_lr``, ``steps``,
            ``diverge``, ``method``).
        compile_model: ``(model, optimizer) -> model`` instead of the default compile.
        plots: write the plots (with ``out_dir``).
        cost_limit: the most the default search (grid + one bisection + momenta, at most
            ``R`` runs) may cost, in runs of ``epochs`` on all of ``data.train``: each short run
            trains on the first ``⌊f·N⌋`` training examples (already shuffled by the seed; the
            validation split is kept whole), ``f = min(1, cost_limit · epochs /
            (R · trial_epochs))``, the range test for the max LR counted as one more run.
            ``None``: all ``N`` (Smith's short runs). A ``budget`` above the default adds runs
            at that size. At least 8 batches per epoch are kept.

    Returns:
        A :class:`TuningResult` (also saved as ``out_dir/tuning.json``).
    """
    known = {f.name for f in dataclasses.fields(TuningSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ArgumentError(f"tune_regularization takes no {', '.join(unknown)}; its settings "
                            f"are {', '.join(sorted(known))}")
    settings = dataclasses.replace(settings or TuningSettings(), **overrides)
    weight_decays, bn_momenta, budget = (settings.weight_decays, settings.bn_momenta,
                                         settings.budget)
    storage, study_name, out_dir = settings.storage, settings.study_name, settings.out_dir
    epochs, trial_epochs, max_lr = settings.epochs, settings.trial_epochs, settings.max_lr
    batch_size, seed, min_lr_ratio = settings.batch_size, settings.seed, settings.min_lr_ratio
    momentum, augment = settings.momentum, settings.augment
    prior_weight_decay, bn_momentum = settings.prior_weight_decay, settings.bn_momentum
    bn_tolerance, precise_bn = settings.bn_tolerance, settings.precise_bn
    recipe = {"nesterov": settings.nesterov, "lr_shape": settings.lr_shape,
              "warmup_fraction": settings.warmup_fraction}
    prune_ratio, range_test, plots = settings.prune_ratio, settings.range_test, settings.plots
    from superconverge.tuning.trial import pruning_validation_size, short_run

    started = time.perf_counter()
    out_path = Path(out_dir) if out_dir is not None else None
    trial_epochs = int(trial_epochs or epochs)
    if trial_epochs < 1 or epochs < 1:
        raise ArgumentError(f"epochs and trial_epochs must be >= 1, got {epochs}, {trial_epochs}")
    target_steps = epochs * math.ceil(len(data.train) / batch_size)
    full_examples = len(data.train)
    cost_limit = settings.cost_limit
    if cost_limit is not None:
        data = _short_run_data(data, cost_limit, epochs, trial_epochs, batch_size,
                               weight_decays, bn_momenta, bn_momentum,
                               range_test=max_lr is None)
    steps_per_epoch = math.ceil(len(data.train) / batch_size)
    trial_steps = trial_epochs * steps_per_epoch

    if bn_momentum is not None:
        default_bn = float(bn_momentum)
        momenta: tuple[float, ...] = ()
    else:
        default_bn = procedure.default_bn_momentum(trial_steps)
        momenta = (
            () if bn_momenta is not None and len(bn_momenta) == 0
            else procedure.bn_momentum_candidates(default_bn, bn_momenta)
        )
    if not _tunes_weight_decay(weight_decays):
        grid: tuple[float, ...] = ()
    else:
        # the prior is the default a candidate has to beat (by more than wd_tolerance)
        grid = procedure.weight_decay_candidates(
            [*procedure.weight_decay_candidates(weight_decays), prior_weight_decay])
    spec = SearchSpec.from_budget(
        grid, momenta, default_bn, budget,
        prior_weight_decay=prior_weight_decay, bn_tolerance=bn_tolerance,
        wd_tolerance=settings.wd_tolerance,
    )

    storage = _resolve_storage(storage, out_path)
    study = study_lib.open_study(storage, study_name,
                                 pruner=study_lib.HopelessPruner(prune_ratio))
    settings = {
        "spec": spec.to_dict(), "trial_epochs": trial_epochs, "batch_size": batch_size,
        "seed": seed, "steps_per_epoch": steps_per_epoch, "precise_bn": precise_bn,
        "min_lr_ratio": min_lr_ratio, "momentum": list(momentum), "augment": augment,
        # what a trial's value is: the validation loss without the L2 term (studies from
        # before, judged on Keras's val_loss with it, are refused on resume)
        "criterion": "val_data_loss", "train_examples": len(data.train),
        "pruning_validation": pruning_validation_size(data),
        **recipe,
    }
    saved = study.user_attrs.get("settings")
    if saved is None:
        study.set_user_attr("settings", settings)
    elif changed_keys(saved, settings):
        raise ArgumentError(mismatch_message(
            f"study {study_name!r} in {study_lib.redact(str(storage))}", saved, settings,
            changed_keys(saved, settings),
            "Resume it with the same settings, or use a new study name / output directory.",
        ))

    # 1. the max LR of the short runs, shared through the study
    lr, source, range_epochs = study_lib.shared_max_lr(
        study, study_name, storage, given=max_lr,
        measure=lambda: _max_lr_from_range_test(
            build_model, data, weight_decay=prior_weight_decay, bn_momentum=default_bn,
            batch_size=batch_size, seed=seed, momentum=momentum[0],
            compile_model=compile_model, range_test=range_test or {}, out_dir=out_path,
        ),
    )

    def objective(trial: Any) -> float:
        import optuna

        wd, bn = study_lib.claim_candidate(trial)
        logger.info("tuning: trial %d (%s): weight decay %g, BN momentum %g ...",
                    trial.number, trial.user_attrs.get("phase"), wd, bn)

        def report(epoch: int, val_loss: float) -> bool:
            trial.report(val_loss, epoch)
            return trial.should_prune()

        run = short_run(
            build_model, data, weight_decay=wd, bn_momentum=bn, max_lr=lr,
            epochs=trial_epochs, batch_size=batch_size, seed=seed, min_lr_ratio=min_lr_ratio,
            momentum=momentum, augment=augment, use_precise_bn=precise_bn,
            compile_model=compile_model, report=report, **recipe,
        )
        trial.set_user_attr("epochs_run", run.epochs_run)
        trial.set_user_attr("val_accuracy", run.val_accuracy)
        trial.set_user_attr("history", run.history)
        trial.set_user_attr("wall_time", round(run.wall_time, 3))
        logger.info("tuning: trial %d: val loss %.4f%s (%.1f s)", trial.number, run.val_loss,
                    " (pruned)" if run.stopped else " (diverged)" if run.diverged else "",
                    run.wall_time)
        if run.stopped or run.diverged:
            trial.set_user_attr("diverged", run.diverged)
            raise optuna.TrialPruned(
                f"val loss {run.val_loss:.4g} after {run.epochs_run} epoch(s)"
            )
        return run.val_loss

    # 2-4. the search: recompute the plan from what is stored, run what is missing
    study_lib.run_search(study, spec, objective)

    evaluations = study_lib.evaluations(study)
    decision = procedure.decide(spec, evaluations)
    chosen_bn = decision.bn_momentum
    reason = decision.reason
    if trial_steps != target_steps and bn_momentum is None:
        chosen_bn = procedure.rescale_bn_momentum(decision.bn_momentum, trial_steps,
                                                  target_steps)
        reason += (
            f" Short runs had {trial_steps} steps, the training has {target_steps}: momentum "
            f"{decision.bn_momentum:g} rescaled to {chosen_bn:g} (same time constant per run "
            "length)."
        )
    cost = range_epochs + sum(e.epochs_run for e in evaluations)
    share = len(data.train) / full_examples
    cost_final = cost * share / epochs
    wall_time = round(time.perf_counter() - started, 3)
    reason += (
        f" Max LR of the short runs {lr:.3g} ({source}). Tuning cost {cost:.1f} epochs of "
        + (f"{len(data.train)} of the {full_examples} training examples "
           f"({cost * share:.2f} epochs of all of them, {cost_final:.2f}× the {epochs}-epoch "
           "run tuned for)" if share < 1 else
           f"the training data ({cost_final:.2f}× the {epochs}-epoch run tuned for)")
        + f", {wall_time:.0f} s."
    )
    result = TuningResult(
        weight_decay=decision.weight_decay,
        bn_momentum=chosen_bn,
        reason=reason,
        evaluations=evaluations,
        max_lr=lr,
        max_lr_source=source,
        default_bn_momentum=default_bn,
        trial_epochs=trial_epochs,
        target_epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        cost_epochs=round(cost, 3),
        spec=spec.to_dict(),
        study_name=study_name,
        storage=study_lib.redact(storage if isinstance(storage, str) else None),
        precise_bn=precise_bn,
        wall_time=wall_time,
        extra={"bn_momentum_for_trials": decision.bn_momentum,
               # the cost against the run tuned for: short runs' examples × epochs over the
               # final run's (with the range test); seconds in wall_time
               "train_examples": len(data.train), "train_fraction": round(share, 6),
               "cost_final_runs": round(cost_final, 4), "cost_limit": cost_limit},
    )
    if out_path is not None:
        result.save(out_path / TUNING_JSON)
        if plots:
            result.plot(out_path / TUNING_DIR)
    logger.info("tuning: weight decay %g, BN momentum %g. %s", result.weight_decay,
                result.bn_momentum, result.reason)
    return result
