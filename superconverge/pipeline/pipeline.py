"""The super-convergence pipeline: range test → bounds → one-cycle → baseline → test → report.

Every stage writes its outputs into the run directory (atomically) and then records itself as
done in ``state.json``; a resumed run skips finished stages and continues an interrupted
training from its newest checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from superconverge.batch_rule import BatchChoice, choose_batch_size
from superconverge.defaults import PIPELINE_BATCH_SIZE, RANGE_REPEAT_SEED_STRIDE
from superconverge.io import atomic_write_csv, atomic_write_json, atomic_write_with, read_json
from superconverge.pipeline import lr_trials_record
from superconverge.pipeline.config import ConfigError, RunConfig, saved_defaults
from superconverge.pipeline.environment import environment_info
from superconverge.pipeline.rundir import STATE, RunDirectory, RunDirectoryError
from superconverge.regularization import recommended_bn_momentum
from superconverge.settings_check import changed_keys, mismatch_message

logger = logging.getLogger(__name__)

STAGES: tuple[str, ...] = (
    "prepare",
    "tune",
    "range_test",
    "bounds",
    "one_cycle",
    "baseline",
    "evaluate",
    "report",
)
HISTORY_COLUMNS = (
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "momentum",
    "wall_time",
)

# config keys that may differ on resume without changing the result
_RESUME_NEUTRAL_KEYS = {"out"}
# once one of these has started, a run directory belongs to its configuration for good
_TRAINING_STAGES = ("one_cycle", "baseline", "evaluate", "report")
#: below this confidence the bounds are a guess: the CLI, the log and the report say so
LOW_CONFIDENCE = 0.3

__all__ = ["LOW_CONFIDENCE", "Pipeline", "RunDirectoryError", "RunSummary", "run"]


@dataclass
class RunSummary:
    """What ``Pipeline.run`` returns and ``--json`` prints."""

    run_dir: str
    report: str | None
    metrics: dict[str, Any]
    stages_run: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": self.run_dir,
            "report": self.report,
            "metrics": self.metrics,
            "stages_run": self.stages_run,
        }


def range_repeat_seed(seed: int, index: int) -> int:
    """Seed of repeat ``index`` of a run's range test: ``seed + index ·
    RANGE_REPEAT_SEED_STRIDE`` (repeat 0 is the run's own seed)."""
    return seed + index * RANGE_REPEAT_SEED_STRIDE


class Pipeline:
    """Run the stages for one configuration, on a built-in or your own model and data.

    Args:
        config: the run's :class:`RunConfig`.
        build_model: optional ``() -> keras.Model`` for your own architecture (compiled or
            not; it is compiled with the optimizer each stage needs, keeping its loss when it
            has one). Default: ``superconverge.models.build(config.model, ...)``.
        data: optional ``DatasetSplits`` (e.g. from ``superconverge.data.load``) instead of
            ``config.dataset``.
        quiet: no progress bars.
        force: write into a non-empty folder that is not a run directory (by default that is
            refused, so that a mistyped ``--out`` cannot overwrite a user's files).
        clock: seconds, for stage times and the budget planner's step time (a fake clock in
            tests).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        build_model: Callable[..., Any] | None = None,
        data: Any = None,
        quiet: bool = False,
        force: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.config = config
        self.run_dir = Path(config.out)
        self.directory = RunDirectory(self.run_dir)
        self.force = force
        self.clock = clock
        self.custom_build = build_model
        self._data = data
        self.quiet = quiet
        self.stages_run: list[str] = []

    # -- run directory state ----------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.directory.state

    def state(self) -> dict[str, Any]:
        if self.state_path.exists():
            state = read_json(self.state_path)
            if not isinstance(state, dict) or not isinstance(state.get("stages"), dict):
                raise RunDirectoryError(
                    f"{self.state_path} is not a run state (no 'stages' table); the run "
                    "directory was edited or damaged. Start a new run with another --out."
                )
            return state
        return {"stages": {}}

    def is_done(self, stage: str) -> bool:
        return bool(self.state()["stages"].get(stage, {}).get("done"))

    def _mark_done(self, stage: str, seconds: float, **info: Any) -> None:
        state = self.state()
        state["stages"][stage] = {"done": True, "seconds": round(seconds, 3), **info}
        state.pop("failed", None)
        atomic_write_json(self.state_path, state)

    def stage_seconds(self, *stages: str) -> float:
        """Seconds the finished ``stages`` took, from ``state.json`` (0 for one not run)."""
        recorded = self.state()["stages"]
        return sum(float(recorded.get(name, {}).get("seconds", 0.0)) for name in stages)

    def _mark_failed(self, stage: str, error: BaseException) -> None:
        """Record the failed stage, so that a corrected configuration may start over."""
        if not self.run_dir.is_dir():
            return
        try:
            state = self.state()
            state["failed"] = {"stage": stage, "error": f"{type(error).__name__}: {error}"}
            atomic_write_json(self.state_path, state)
        except (OSError, RunDirectoryError):
            logger.debug("could not record the failure of %s", stage, exc_info=True)
        if stage not in _TRAINING_STAGES and not isinstance(error, KeyboardInterrupt):
            logger.error(
                "%s failed before training started; fix the setting and run the same command "
                "again with the same --out: the run starts over.", stage,
            )

    def check_resumable(self) -> None:
        """Refuse to continue a run directory made with a different configuration.

        A run whose last attempt *failed* before any training started (e.g. its bounds method
        was misspelt) is started over with the new configuration instead: nothing it made is
        worth keeping.
        """
        saved_path = self.directory.config
        if not saved_path.exists():
            return
        saved = read_json(saved_path)
        current = self.config.to_dict()
        # a key missing from an older run's config.json stood for the value it had then
        saved = {**saved_defaults(saved), **saved}
        changed = changed_keys(saved, current, ignore=_RESUME_NEUTRAL_KEYS)
        if changed and self.state().get("failed") and not self._training_started():
            logger.warning(
                "%s: the previous attempt stopped before training; starting over with the new "
                "settings (%s)", self.run_dir, ", ".join(changed),
            )
            self.state_path.unlink(missing_ok=True)
            return
        if changed:
            raise RunDirectoryError(mismatch_message(
                f"{self.run_dir} holds a run that", saved, current, changed,
                "Resume it with its own settings (superconverge resume DIR), or choose another "
                "--out.",
            ))

    def _training_started(self) -> bool:
        stages = self.state().get("stages", {})
        if any(stages.get(name, {}).get("done") for name in _TRAINING_STAGES):
            return True
        checkpoints = self.directory.all_checkpoints
        return checkpoints.is_dir() and any(checkpoints.rglob(STATE))

    # -- building blocks ----------------------------------------------------------------------
    @property
    def data(self) -> Any:
        if self._data is None:
            from superconverge import data as data_module

            self._data = data_module.load(
                self.config.dataset,
                path=self.config.data_path,
                validation_split=self.config.validation_split,
                seed=self.config.seed,
                train_subset=self.config.train_subset,
                download=self.config.download,
                **self._loader_options(),
            )
        return self._data

    def _loader_options(self) -> dict[str, Any]:
        if self.config.dataset != "image_folder":
            return {}
        size = self.config.image_size
        return {"color_mode": self.config.color_mode,
                "image_size": None if size is None else (size, size)}

    def batch_choice(self) -> BatchChoice:
        """The one-cycle (and range-test, tuning) batch: ``config.batch_size`` when set, else
        chosen from the run's length (:func:`superconverge.batch_rule.choose_batch_size`,
        ``config.epochs`` of the training split). A budgeted run's length is planned only
        after its range test has run at some batch, so it keeps ``PIPELINE_BATCH_SIZE``."""
        n = len(self.data.train)
        given = self.config.batch_size
        if given is not None:  # a budgeted run's length is not known here
            steps = (None if self.config.budget_seconds is not None
                     else self.config.epochs * math.ceil(n / given))
            return BatchChoice(given, steps, f"batch {given}: set in the configuration")
        if self.config.budget_seconds is not None:
            return BatchChoice(PIPELINE_BATCH_SIZE, None, f"batch {PIPELINE_BATCH_SIZE}: the "
                               "default for a time budget (its length is planned after the "
                               "range test)")
        return choose_batch_size(n, self.config.epochs)

    @functools.cached_property
    def batch_size(self) -> int:
        """The one-cycle batch size (see :meth:`batch_choice`)."""
        return self.batch_choice().batch_size

    def steps_per_epoch(self, batch_size: int | None = None) -> int:
        """Optimizer steps per epoch at ``batch_size`` (default: one-cycle's)."""
        return math.ceil(len(self.data.train) / (batch_size or self.batch_size))

    def _budget_plan(self) -> dict[str, Any] | None:
        if self.config.budget_seconds is not None and self.directory.budget.exists():
            return read_json(self.directory.budget)
        return None

    def epochs(self) -> int:
        """One-cycle epochs: the budget's plan when ``budget_seconds`` is set (its last epoch
        may be partial), else ``config.epochs``."""
        plan = self._budget_plan()
        return int(plan["epochs"]) if plan else self.config.epochs

    def planned_steps(self) -> int:
        """One-cycle optimizer steps: the budget's plan, else ``epochs() × steps_per_epoch()``."""
        plan = self._budget_plan()
        if plan and "total_steps" in plan:
            return int(plan["total_steps"])
        return self.epochs() * self.steps_per_epoch()

    def plan_budget(self) -> Any:
        """Plan the one-cycle epochs that fit ``budget_seconds`` (see :mod:`superconverge.budget`)
        from the one-cycle configuration's own measured costs and the seconds spent so far
        (the measurement included); writes ``budget.json``."""
        from superconverge.budget import plan_epochs

        started = self.clock()
        costs = self.measure_one_cycle_costs()
        spent = self.stage_seconds("prepare", "tune", "range_test") + (self.clock() - started)
        # max-LR trials run len(offsets) x lr_trial_fraction of the planned steps on top, and
        # at worst a confirmation: the pick and the winner, CONFIRM_FACTOR times longer each
        from superconverge.defaults import LR_TRIAL_CONFIRM_FACTOR, LR_TRIAL_OFFSETS

        trial_share = ((len(LR_TRIAL_OFFSETS) + 2 * LR_TRIAL_CONFIRM_FACTOR)
                       * self.config.lr_trial_fraction)
        plan = plan_epochs(self.config.budget_seconds, spent_seconds=spent,
                           step_seconds=costs["step_seconds"] * (1.0 + trial_share),
                           steps_per_epoch=self.steps_per_epoch(),
                           epoch_overhead_seconds=costs["epoch_overhead_seconds"],
                           final_seconds=costs["final_seconds"])
        atomic_write_json(self.directory.budget, {**plan.to_dict(), "measured": costs})
        logger.info("%s", plan.summary())
        return plan

    def measure_one_cycle_costs(self, steps: int = 40, short_steps: int = 8,
                                repeats: int = 3) -> dict[str, float]:
        """Seconds the one-cycle stage will spend, measured on a throwaway copy of its
        configuration (model, optimizer with its weight average, batch size, data feeder):
        a ``fit`` call of ``short_steps`` (traces and warms up), then ``repeats`` pairs of
        ``short_steps`` and ``steps`` batches, turned into costs by
        :func:`superconverge.budget.fit_costs`:

        * ``step_seconds``: one optimizer step inside ``fit`` (the median slope between the
          short and the long calls: a call's fixed cost is not spread over its steps);
        * ``epoch_overhead_seconds``: the end-of-epoch validation (``evaluate`` as ``fit``
          calls it), writing the checkpoint, and a ``fit`` call's fixed cost (counted per
          epoch: an upper bound);
        * ``final_seconds``: once per run: the first ``fit``'s extra time (tracing), precise
          BN, the final validation (twice with ``tta_flip``) and saving the final model.
        """
        import tempfile

        from superconverge.budget import fit_costs

        model = self.compile(
            self.new_model(bn_momentum=0.99,
                           weight_decay=self.model_weight_decay(self.weight_decay())),
            self.make_optimizer(1e-9, self.config.momentum[0], ema=True),
        )
        batches = self._one_cycle_batches()
        long_steps = max(1, min(steps, len(batches)))
        short_steps = max(1, min(short_steps, long_steps))
        fit_seconds = []
        for count in (short_steps, *(short_steps, long_steps) * repeats):
            started = self.clock()
            model.fit(batches, epochs=1, steps_per_epoch=count, verbose=0, shuffle=False)
            fit_seconds.append(self.clock() - started)
        costs = fit_costs(fit_seconds[0], fit_seconds[1::2], fit_seconds[2::2],
                          short_steps=short_steps, long_steps=long_steps)
        validation = 0.0
        if len(self.data.val):
            x_val, y_val = self.data.val.as_tuple()
            model.evaluate(x_val, y_val, verbose=0)  # traced once, as in the first epoch
            started = self.clock()
            model.evaluate(x_val, y_val, verbose=0)
            validation = self.clock() - started
        with tempfile.TemporaryDirectory(dir=self.run_dir) as folder:
            started = self.clock()
            model.save(Path(folder) / "checkpoint.keras")
            checkpoint = self.clock() - started
        precise = 0.0
        if self.config.precise_bn:
            started = self.clock()
            self._precise_bn(model)
            precise = self.clock() - started
        return {
            "step_seconds": costs.step,
            "epoch_overhead_seconds": validation + checkpoint + costs.per_fit,
            "final_seconds": costs.tracing + precise
            + validation * (2 if self.config.tta_flip else 1) + checkpoint,
        }

    def bn_momentum(self) -> float:
        """The configured value, else the recommendation for this run's length (Smith)."""
        if self.config.bn_momentum is not None:
            return self.config.bn_momentum
        tuned = self._tuned()
        if tuned and tuned.get("bn_momentum") is not None:
            return float(tuned["bn_momentum"])
        return recommended_bn_momentum(self.planned_steps())

    def weight_decay(self) -> float:
        tuned = self._tuned()
        if tuned and tuned.get("weight_decay") is not None:
            return float(tuned["weight_decay"])
        return self.config.weight_decay

    def model_weight_decay(self, weight_decay: float) -> float:
        """The L2 the model's layers get: none with ``adamw`` (its decay is decoupled)."""
        return 0.0 if self.config.optimizer == "adamw" else weight_decay

    def nesterov(self) -> bool:
        """``config.nesterov``, or for ``None``: Nesterov exactly when the optimizer is SGD."""
        if self.config.nesterov is not None:
            return self.config.nesterov
        return self.config.optimizer == "sgd"

    def make_optimizer(self, learning_rate: float, momentum: float, *, ema: bool = False
                       ) -> Any:
        """The configured optimizer family (``optimizer``, ``nesterov``, ``ema_momentum``)."""
        import keras

        extra: dict[str, Any] = {}
        if ema and self.config.ema_momentum is not None:
            extra = {"use_ema": True, "ema_momentum": self.config.ema_momentum}
        kind = self.config.optimizer
        if kind == "adam":
            return keras.optimizers.Adam(learning_rate, beta_1=momentum, **extra)
        if kind == "adamw":
            return keras.optimizers.AdamW(learning_rate, beta_1=momentum,
                                          weight_decay=self.config.adamw_weight_decay, **extra)
        return keras.optimizers.SGD(learning_rate, momentum=momentum,
                                    nesterov=self.nesterov(), **extra)

    def _tuned(self) -> dict[str, Any] | None:
        path = self.directory.tuning
        return read_json(path) if self.config.tune and path.exists() else None

    def new_model(self, *, bn_momentum: float, weight_decay: float, seed: int | None = None
                  ) -> Any:
        """A fresh, uncompiled model with the run's seed (same initial weights every time), or
        with ``seed`` (a repeat of the range test)."""
        import keras

        from superconverge import models

        seed = self.config.seed if seed is None else seed
        keras.utils.set_random_seed(seed)
        with precision_policy(self.config.precision):
            if self.custom_build is not None:
                model = self.custom_build()
                models.set_bn_momentum(model, bn_momentum)
                return model
            return models.build(
                self.config.model,
                self.data.input_shape,
                self.data.num_classes,
                bn_momentum=bn_momentum,
                weight_decay=weight_decay,
                seed=seed,
            )

    def compile(self, model: Any, optimizer: Any, *, smoothing: bool = True) -> Any:
        """Compile with the model's own loss if it has one, else the (label-smoothed, when
        ``label_smoothing > 0`` and ``smoothing``) sparse cross-entropy; with ``fused_bn`` (on
        the torch backend) its BN layers run PyTorch's fused kernel."""
        from superconverge.models import compile_classifier, fuse_batch_norm

        loss = None
        if smoothing and self.config.label_smoothing > 0:
            from superconverge.losses import SparseSmoothedCrossentropy

            loss = SparseSmoothedCrossentropy(self.config.label_smoothing)
        model = compile_classifier(model, optimizer, loss=loss)
        if self.config.fused_bn:
            fuse_batch_norm(model)
        return model

    def _one_cycle_batches(self) -> Any:
        """The one-cycle run's training batches: the recipe's ``train_flip`` and
        ``train_shift`` on top of the dataset's own augmentation."""
        return self._train_batches(flip=self.config.train_flip, shift=self.config.train_shift)

    def _train_batches(self, augment: bool | None = None, *, flip: bool = False,
                       shift: int = 0, batch_size: int | None = None,
                       seed: int | None = None) -> Any:
        """Shuffled training batches; ``augment`` = the dataset's own augmentation
        (default: ``config.augment``), ``flip`` / ``shift`` add random mirror images /
        translations by up to ``±shift`` pixels on top of it (the one-cycle recipe's levers)."""
        augment = self.config.augment if augment is None else augment
        if flip or shift:
            from superconverge.data import Augmentation

            own = self.data.augmentation if augment and self.data.augmentation else None
            augment = Augmentation(pad=max(shift, own.pad if own else 0),
                                   flip=flip or bool(own and own.flip))
        return self.data.train_batches(
            batch_size or self.batch_size,
            augment=augment,
            shuffle=True,
            seed=self.config.seed if seed is None else seed,
        )

    def evaluate_model(self, model: Any, x: Any, y: Any, *, tta: bool = False
                       ) -> tuple[float, float]:
        """(loss, accuracy) of ``model`` on ``(x, y)``; with ``tta`` the predictions are
        averaged over each image and its mirror image (plain cross-entropy on the average)."""
        if not tta:
            loss, accuracy = model.evaluate(x, y, batch_size=512, verbose=0)[:2]
            return float(loss), float(accuracy)
        import numpy as np

        from superconverge.losses import flip_tta_predict

        probs = flip_tta_predict(model, x)
        labels = np.asarray(y).reshape(-1).astype(int)
        picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
        return float(-np.log(picked).mean()), float((probs.argmax(axis=1) == labels).mean())

    def finish_one_cycle(self, model: Any) -> dict[str, Any]:
        """The last steps before the one-cycle model is saved: swap in the weight average
        (``ema_momentum``), recompute the BN statistics (``precise_bn``); returns what was
        done and the final model's validation loss/accuracy (with ``tta_flip``'s TTA)."""
        done: dict[str, Any] = {"ema": False, "precise_bn_layers": 0}
        optimizer = getattr(model, "optimizer", None)
        if self.config.ema_momentum is not None and getattr(optimizer, "use_ema", False):
            # fit already does this at its end; again here for a run resumed after its last
            # epoch (the checkpoint holds the raw weights and the average); idempotent
            optimizer.finalize_variable_values(model.trainable_variables)
            done["ema"] = True
        if self.config.precise_bn:
            done["precise_bn_layers"] = self._precise_bn(model)
        if len(self.data.val):
            x_val, y_val = self.data.val.as_tuple()
            loss, accuracy = self.evaluate_model(model, x_val, y_val, tta=self.config.tta_flip)
            done.update(val_loss=loss, val_accuracy=accuracy)
        return done

    def _precise_bn(self, model: Any) -> int:
        """Precise BN of the final one-cycle model: ``max(50, 6400 / batch)`` training
        batches (``tuning.precise_bn``); returns the number of BN layers set."""
        from superconverge.tuning.trial import precise_bn

        batch = self.batch_size
        return precise_bn(model, self.data.train.x, batch_size=batch,
                          num_batches=max(50, math.ceil(6400 / batch)), seed=self.config.seed)

    def _progress(self, description: str) -> Any:
        from superconverge.pipeline.progress import ProgressBar

        return ProgressBar(description, disable=self.quiet)

    # -- stages -------------------------------------------------------------------------------
    def stage_prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.directory.config, self.config.to_dict())
        atomic_write_json(self.directory.environment, environment_info())
        atomic_write_json(self.directory.data, self.data.summary())

    def stage_tune(self) -> None:
        from superconverge.pipeline.tuning_stage import tune_stage

        tune_stage(self)

    def stage_range_test(self) -> None:
        """The range test; with ``range_repeats = k > 1``, ``k`` of them, sweep ``i`` from the
        initial weights and shuffle of seed ``seed + i · RANGE_REPEAT_SEED_STRIDE``, each saved
        as it ends (a resumed run keeps the finished ones), and ``range_test.json`` is their
        average per step (:meth:`RangeTestResult.average`)."""
        from superconverge.finder import RangeTestResult

        repeats = self.config.range_repeats
        seeds = [range_repeat_seed(self.config.seed, index) for index in range(repeats)]
        if repeats == 1:
            self._range_test_sweep(seeds[0]).save(self.directory.range_test)
            return
        sweeps = []
        for index, seed in enumerate(seeds):
            path = self.directory.range_test_sweep(index)
            if path.exists():
                sweeps.append(RangeTestResult.load(path))
                continue
            logger.info("range test %d of %d", index + 1, repeats)
            path.parent.mkdir(parents=True, exist_ok=True)
            sweep = self._range_test_sweep(seed)
            sweep.save(path)
            sweeps.append(sweep)
        average = RangeTestResult.average(sweeps)
        average.metadata["sweep_seeds"] = seeds
        average.save(self.directory.range_test)

    def _range_test_sweep(self, seed: int) -> Any:
        """One range test of the run's recipe, from the initial weights and shuffle of
        ``seed``."""
        from superconverge.finder import lr_range_test

        model = self.compile(
            self.new_model(bn_momentum=self.bn_momentum(),
                           weight_decay=self.model_weight_decay(self.weight_decay()), seed=seed),
            self.make_optimizer(self.config.range_start_lr, self.config.momentum[0]),
        )
        # at most one epoch by default, but never fewer steps than a curve needs (10)
        steps = self.config.range_steps or max(self.steps_per_epoch(), 10)
        return lr_range_test(
            model,
            self._train_batches(augment=False, seed=seed),
            start_lr=self.config.range_start_lr,
            end_lr=self.config.range_end_lr,
            steps=steps,
            diverge=self.config.range_diverge,
            validation_data=self.data.val.as_tuple(),
            validation_every=max(1, steps // 25),
            shuffle=False,
            verbose=0 if self.quiet else 1,
            # Ctrl-C stops the run (exit 130, stage not done): a partial curve is no result
            catch_interrupt=False,
        )

    def range_test_result(self) -> Any:
        from superconverge.finder import RangeTestResult

        path = self.directory.range_test
        return RangeTestResult.load(path) if path.exists() else None

    def stage_bounds(self) -> None:
        if self.config.budget_seconds is not None:
            self.plan_budget()  # before the BN momentum, which depends on the run's length
        planned_steps = self.planned_steps()
        if self.config.max_lr is not None:
            bounds = {
                "max_lr": self.config.max_lr,
                "min_lr": self.config.max_lr / self.config.min_lr_ratio,
                "method": "given",
                "confidence": 1.0,
                "reason": "max_lr set in the configuration; no range test was used",
            }
        else:
            result = self.range_test_result()
            method = self.bounds_method()
            # the planned length of training: recorded, and read by a method that takes it
            suggestion = result.suggest(
                method=method, min_lr_ratio=self.config.min_lr_ratio, total_steps=planned_steps,
            )
            bounds = suggestion.to_dict()
            if method != self.config.suggest_method:
                bounds["reason"] = (
                    f"optimizer {self.config.optimizer}: read with '{method}' "
                    f"(auto's margin below divergence is for SGD); {bounds['reason']}")
            bounds.update(self._sweep_spread(min_lr_ratio=self.config.min_lr_ratio,
                                             total_steps=planned_steps))
            from superconverge.plotting import save_figure

            axes = result.plot(suggestion=suggestion)
            save_figure(axes.figure, self.directory.range_test_plot)
        bounds["bn_momentum"] = self.bn_momentum()
        bounds["weight_decay"] = self.weight_decay()
        if self.config.lr_trial_fraction > 0:
            trials = self.run_lr_trials(bounds["max_lr"], bn_momentum=bounds["bn_momentum"],
                                        weight_decay=bounds["weight_decay"])
            bounds["range_test_max_lr"] = bounds["max_lr"]
            bounds["max_lr"] = trials["chosen_max_lr"]
            bounds["min_lr"] = trials["chosen_max_lr"] / self.config.min_lr_ratio
            bounds["chosen_by"] = trials["chosen_by"]
            bounds["reason"] = f"{bounds['reason']}; then {lr_trials_record.verdict(trials)}"
        bounds["low_confidence"] = float(bounds["confidence"]) < LOW_CONFIDENCE
        # the training the bounds are for; whether the pick was made for it (budget_aware:
        # the method read total_steps) or holds for any length
        bounds["planned_epochs"] = self.epochs()
        bounds["planned_steps"] = planned_steps
        bounds["budget_aware"] = bool(bounds.get("diagnostics", {}).get("budget_aware", False))
        choice = self.batch_choice()
        bounds["batch_size"], bounds["batch_size_reason"] = choice.batch_size, choice.reason
        atomic_write_json(self.directory.bounds, bounds)
        if bounds["low_confidence"]:
            logger.warning(
                "LOW CONFIDENCE (%.2f) in the LR bounds: max LR %.3g is a guess, and training "
                "at it may go nowhere. %s Look at range_test.png; set --max-lr to choose "
                "yourself, or widen the range test.",
                bounds["confidence"], bounds["max_lr"], bounds["reason"],
            )
        logger.info(
            "bounds: max LR %.3g, min LR %.3g (%s, confidence %.2f): %s",
            bounds["max_lr"], bounds["min_lr"], bounds["method"], bounds["confidence"],
            bounds["reason"],
        )

    def bounds_method(self) -> str:
        """``config.suggest_method``, except that ``auto`` under an adaptive optimizer (Adam,
        AdamW) reads the curve with ``ADAPTIVE_OPTIMIZER_METHOD`` (measured: see
        :mod:`superconverge.defaults`)."""
        from superconverge.defaults import ADAPTIVE_OPTIMIZER_METHOD, ADAPTIVE_OPTIMIZERS

        if self.config.suggest_method == "auto" and self.config.optimizer in ADAPTIVE_OPTIMIZERS:
            return ADAPTIVE_OPTIMIZER_METHOD
        return self.config.suggest_method

    def _sweep_spread(self, **suggest_kwargs: Any) -> dict[str, Any]:
        """With repeated range tests: the method's max LR on each sweep alone and their
        seed-to-seed spread, ``std(log10 max_lr)`` in decades (the pick itself is read off
        the averaged curve). Only ``range_repeats`` for a single range test."""
        from superconverge.bounds import SuggestionError
        from superconverge.finder import RangeTestResult

        repeats = self.config.range_repeats
        if repeats == 1:
            return {"range_repeats": 1}
        picks: list[float | None] = []
        for index in range(repeats):
            sweep = RangeTestResult.load(self.directory.range_test_sweep(index))
            try:
                picks.append(float(sweep.suggest(method=self.bounds_method(),
                                                 **suggest_kwargs).max_lr))
            except SuggestionError:
                picks.append(None)
        found = [math.log10(p) for p in picks if p is not None]
        spread = statistics.stdev(found) if len(found) > 1 else None
        return {"range_repeats": repeats, "sweep_max_lrs": picks,
                "sweep_spread_decades": spread}

    def bounds(self) -> dict[str, Any]:
        return read_json(self.directory.bounds)

    def stage_one_cycle(self) -> None:
        from superconverge.callbacks import OneCycle
        from superconverge.pipeline.training import train_resumable

        bounds = self.bounds()
        max_momentum = self.config.momentum[0]

        def build() -> Any:
            model = self.new_model(
                bn_momentum=bounds["bn_momentum"],
                weight_decay=self.model_weight_decay(bounds["weight_decay"]),
            )
            return self.compile(model, self.make_optimizer(
                bounds["min_lr"], max_momentum, ema=True))

        total_steps = self.planned_steps()
        schedule = self.one_cycle_schedule(bounds["max_lr"], bounds["min_lr"], total_steps)
        # written before training, so a resume that finds every epoch checkpointed has it too
        atomic_write_json(self.directory.one_cycle_schedule, schedule.to_config())
        one_cycle = OneCycle(schedule=schedule)
        batches = self._one_cycle_batches()
        outcome = train_resumable(
            "one_cycle",
            self.run_dir,
            build,
            epochs=self.epochs(),
            train_data=batches,
            validation_data=self.data.val.as_tuple(),
            callbacks=[one_cycle, self._progress("one-cycle")],
            schedule_callback=one_cycle,
            on_resume=batches.set_epoch,
            fuse_bn=self.config.fused_bn,
            total_steps=total_steps,
            deadline=self._training_deadline(),
        )
        # the schedule followed: a budget guard may have stretched it
        atomic_write_json(self.directory.one_cycle_schedule, one_cycle.schedule.to_config())
        final = self.finish_one_cycle(outcome.model)
        self._write_training_outputs("one_cycle", outcome, final_info=final)

    def one_cycle_schedule(self, max_lr: float, min_lr: float, total_steps: int) -> Any:
        """The recipe's LR and momentum schedule (``lr_shape``, ``warmup_fraction``,
        ``momentum``, ``lr_end``) over ``total_steps`` steps, peaking at ``max_lr``."""
        from superconverge.schedules import PRESETS, OneCycleSchedule

        max_momentum, min_momentum = self.config.momentum
        if self.config.lr_shape != "smith":  # warmup_cosine, warmup_linear
            return PRESETS[self.config.lr_shape](
                max_lr, total_steps, warmup_fraction=self.config.warmup_fraction,
                max_momentum=max_momentum, min_momentum=min_momentum,
            )
        return OneCycleSchedule.smith(max_lr, total_steps, min_lr=min_lr,
                                      max_momentum=max_momentum, min_momentum=min_momentum,
                                      end=self.config.lr_end)

    def run_lr_trials(self, pick: float, *, bn_momentum: float, weight_decay: float
                      ) -> dict[str, Any]:
        """The max-LR trials (``lr_trial_fraction``): from the one-cycle run's own initial
        weights, batches and recipe, a run of ``lr_trial_fraction`` × the planned steps at
        each of ``pick`` · 10^o (``LR_TRIAL_OFFSETS``), scored by validation accuracy; a
        winner above ``pick`` is checked by runs ``LR_TRIAL_CONFIRM_FACTOR`` times longer at
        ``pick`` and the winner (``choose_max_lr``). Written to ``lr_trials.json`` (its keys:
        :mod:`superconverge.pipeline.lr_trials_record`) and returned: ``chosen_max_lr`` trains,
        ``chosen_by`` says whether the trials or the range test chose it."""
        from superconverge.defaults import (
            LR_TRIAL_CONFIRM_FACTOR,
            LR_TRIAL_MIN_PROGRESS,
            LR_TRIAL_OFFSETS,
        )
        from superconverge.finder.trials import candidate_max_lrs, choose_max_lr, lr_trials

        fraction = self.config.lr_trial_fraction
        planned = self.planned_steps()

        def steps_of(share: float) -> int:  # at least One Cycle's 3 phases, at most the run
            return min(planned, max(3, round(share * planned)))

        steps = steps_of(fraction)
        model = self.compile(
            self.new_model(bn_momentum=bn_momentum,
                           weight_decay=self.model_weight_decay(weight_decay)),
            self.make_optimizer(pick / self.config.min_lr_ratio, self.config.momentum[0]),
        )
        ratio = self.config.min_lr_ratio
        batches = self._one_cycle_batches()

        def trials_at(max_lrs: list[float], n_steps: int) -> Any:
            return lr_trials(
                model, batches, max_lrs=max_lrs, steps=n_steps,
                validation_data=self.data.val.as_tuple(),
                schedule=lambda max_lr, n: self.one_cycle_schedule(max_lr, max_lr / ratio, n),
            )

        logger.info("max-LR trials: %d runs of %d steps around %.3g", len(LR_TRIAL_OFFSETS),
                    steps, pick)
        result = trials_at(candidate_max_lrs(pick, LR_TRIAL_OFFSETS), steps)
        longer = steps_of(LR_TRIAL_CONFIRM_FACTOR * fraction)
        choice = choose_max_lr(result, pick, num_classes=self.data.num_classes,
                               confirm=lambda max_lrs: trials_at(max_lrs, longer))
        confirmation = (None if choice.confirmation is None
                        else {**choice.confirmation.to_dict(), "held": choice.held})
        record = {"fraction": fraction, "range_test_max_lr": pick,
                  "offsets_decades": list(LR_TRIAL_OFFSETS), **result.to_dict(),
                  "learned": choice.learned, "chance_accuracy": 1.0 / self.data.num_classes,
                  "min_progress": LR_TRIAL_MIN_PROGRESS, "confirmation": confirmation,
                  "chosen_max_lr": choice.max_lr,
                  "chosen_by": "lr_trials" if choice.by_trials else "range_test"}
        if not choice.by_trials:
            logger.warning("max-LR trials: %s", lr_trials_record.verdict(record))
        atomic_write_json(self.directory.lr_trials, record)
        return record

    def _training_deadline(self) -> tuple[float, float, Any] | None:
        """When one-cycle training must end for a budgeted run to end within its budget
        (``BudgetGuard``): the budget less the plan's margin, the stages before and the
        once-per-run work after; ``None`` without a budget or on resume (a resumed run's
        budget is spent). The margin stays free for the last epoch's drift: the guard
        re-lays the cycle to end at this deadline exactly (runs that filled the whole budget
        ended at 0.995, 1.006 and 0.995 of it)."""
        from superconverge.pipeline.training import checkpoint_state

        plan = self._budget_plan()
        if not plan or checkpoint_state(self.run_dir, "one_cycle") is not None:
            return None
        before = self.stage_seconds("prepare", "tune", "range_test", "bounds")
        left = (plan["budget_seconds"] * (1.0 - plan.get("margin", 0.0)) - before
                - plan["final_seconds"])
        return self.clock() + left, plan["epoch_overhead_seconds"], self.clock

    def stage_baseline(self) -> None:
        import keras

        from superconverge.pipeline.progress import LogScheduledLR
        from superconverge.pipeline.training import train_resumable

        epochs = self.config.baseline_epochs
        batch_size = self.config.baseline_batch_size
        steps = self.steps_per_epoch(batch_size) * epochs
        lr = self.config.baseline_lr
        # the usual recipe: LR / 10 at 50% and again at 75% of the epochs
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(0.5 * steps), int(0.75 * steps)], [lr, lr / 10, lr / 100]
        )

        def build() -> Any:
            model = self.new_model(bn_momentum=0.99,
                                   weight_decay=self.config.baseline_weight_decay)
            # the baseline is the usual recipe: none of the one-cycle levers
            return self.compile(
                model, keras.optimizers.SGD(schedule, momentum=self.config.baseline_momentum),
                smoothing=False,
            )

        batches = self._train_batches(batch_size=batch_size)
        outcome = train_resumable(
            "baseline",
            self.run_dir,
            build,
            epochs=epochs,
            train_data=batches,
            validation_data=self.data.val.as_tuple(),
            callbacks=[LogScheduledLR(), self._progress("baseline")],
            on_resume=batches.set_epoch,
            fuse_bn=self.config.fused_bn,
        )
        self._write_training_outputs("baseline", outcome)

    def _write_training_outputs(self, name: str, outcome: Any,
                                final_info: dict[str, Any] | None = None) -> None:
        atomic_write_csv(self.directory.history(name), outcome.history, HISTORY_COLUMNS)
        if outcome.applied.get("step"):
            rows = [
                {"step": s, "learning_rate": lr, "momentum": m}
                for s, lr, m in zip(
                    outcome.applied["step"],
                    outcome.applied["learning_rate"],
                    outcome.applied["momentum"],
                )
            ]
            atomic_write_csv(self.directory.applied(name), rows,
                             ("step", "learning_rate", "momentum"))
        atomic_write_with(self.directory.model(name), outcome.model.save)
        atomic_write_json(
            self.directory.training(name),
            {"epochs": outcome.epochs, "wall_time": outcome.wall_time,
             **({"final": final_info} if final_info is not None else {})},
        )

    def stage_evaluate(self) -> None:
        import keras

        import superconverge.losses  # noqa: F401  (registers the pipeline's losses)

        metrics: dict[str, Any] = {}
        # every model this run directory trained: a run of the stages prepare → baseline →
        # evaluate tests its baseline alone (no range test, no one-cycle model)
        runs = [name for name in ("one_cycle", "baseline") if self.is_done(name)]
        if not runs:
            raise RunDirectoryError(
                f"{self.run_dir} holds no trained model to evaluate: run the one_cycle or "
                "baseline stage first."
            )
        x_test, y_test = self.data.test.as_tuple()
        for name in runs:
            model = keras.saving.load_model(self.directory.model(name))
            # TTA is a property of the one-cycle recipe; the baseline trains without flips
            loss, accuracy = self.evaluate_model(
                model, x_test, y_test, tta=self.config.tta_flip and name == "one_cycle")
            training = read_json(self.directory.training(name))
            metrics[name] = {
                "test_loss": loss,
                "test_accuracy": accuracy,
                "epochs": training["epochs"],
                "wall_time": training["wall_time"],
            }
        range_test_seconds = self.stage_seconds("range_test")
        if "one_cycle" in metrics:
            metrics["one_cycle"]["range_test_seconds"] = range_test_seconds
        if self.config.budget_seconds is not None and self.directory.budget.exists():
            actual = self.stage_seconds("prepare", "tune", "range_test", "bounds", "one_cycle")
            plan = read_json(self.directory.budget)
            metrics["budget"] = {
                "budget_seconds": plan["budget_seconds"],
                "planned_epochs": plan["epochs"],
                "planned_steps": plan.get("total_steps"),
                "planned_seconds": plan["planned_seconds"],
                "actual_seconds": actual,
                "actual_over_budget": actual / plan["budget_seconds"],
            }
        if "baseline" in metrics and "one_cycle" in metrics:
            one, base = metrics["one_cycle"], metrics["baseline"]
            metrics["comparison"] = {
                "epoch_ratio": base["epochs"] / one["epochs"],
                # what a user waits for: the range test is part of the one-cycle recipe
                "wall_time_ratio": base["wall_time"]
                / max(one["wall_time"] + range_test_seconds, 1e-9),
                "wall_time_ratio_training_only": base["wall_time"] / max(one["wall_time"], 1e-9),
                "accuracy_difference": one["test_accuracy"] - base["test_accuracy"],
            }
            bounds = self.bounds()
            if bounds.get("low_confidence"):
                metrics["comparison"]["low_confidence_bounds"] = True
        atomic_write_json(self.directory.metrics, metrics)

    def stage_report(self) -> None:
        from superconverge.pipeline.report import write_report

        write_report(self.run_dir)

    # -- driver -------------------------------------------------------------------------------
    def planned_stages(self) -> list[str]:
        stages = list(STAGES)
        if not self.config.tune:
            stages.remove("tune")
        if self.config.max_lr is not None:
            stages.remove("range_test")
        if not self.config.baseline_epochs:
            stages.remove("baseline")
        return stages

    def run(self, stages: Sequence[str] | None = None) -> RunSummary:
        """Run (or resume) the stages in order; finished stages are skipped.

        Holds the run directory's lock throughout (a second run into it is refused).
        """
        wanted = self.planned_stages() if stages is None else list(stages)
        unknown = sorted(set(wanted) - set(STAGES))
        if unknown:
            raise ConfigError(f"unknown stage(s) {unknown}; stages are {list(STAGES)}")
        self.directory.check_usable(force=self.force)
        with self.directory:
            self.check_resumable()
            self.directory.create()
            self.directory.remove_orphans()
            self._run_stages(wanted)
        metrics_path = self.directory.metrics
        report_path = self.directory.report
        return RunSummary(
            run_dir=str(self.run_dir),
            report=str(report_path) if report_path.exists() else None,
            metrics=read_json(metrics_path) if metrics_path.exists() else {},
            stages_run=self.stages_run,
        )

    def _run_stages(self, wanted: list[str]) -> None:
        total = len(wanted)
        for index, stage in enumerate(wanted, 1):
            if self.is_done(stage):
                logger.info("[%d/%d] %s: already done", index, total, stage)
                continue
            logger.info("[%d/%d] %s ...", index, total, stage)
            started = self.clock()
            try:
                getattr(self, f"stage_{stage}")()
            except BaseException as error:
                self._mark_failed(stage, error)
                raise
            seconds = self.clock() - started
            self._mark_done(stage, seconds)
            self.stages_run.append(stage)
            logger.info("[%d/%d] %s done in %.1f s", index, total, stage, seconds)


@contextlib.contextmanager
def precision_policy(precision: str) -> Any:
    """Build layers under the Keras dtype policy ``precision`` (``"float32"`` or
    ``"mixed_bfloat16"``: bfloat16 compute, float32 variables, so the optimizer, OneCycle's
    hooks and the range test keep float32 state; no loss scaling is needed for bfloat16),
    restoring the global policy afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def run(config: RunConfig | None = None, **overrides: Any) -> RunSummary:
    """``sc.run(dataset="fashion_mnist", epochs=4, ...)``: the pipeline in one call."""
    config = (config or RunConfig()).replace(**overrides) if overrides else (config or RunConfig())
    return Pipeline(config).run()
