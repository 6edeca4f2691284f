"""The pipeline's ``tune`` stage: the adapter between a :class:`Pipeline` and
:func:`~superconverge.tuning.tune_regularization` (the tuning layer knows no pipeline)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from superconverge.defaults import PIPELINE_TUNING_COST
from superconverge.tuning.api import TuningResult, tune_regularization

if TYPE_CHECKING:
    from superconverge.pipeline.pipeline import Pipeline

__all__ = ["short_run_recipe", "tune_stage"]

logger = logging.getLogger(__name__)


def short_run_recipe(pipeline: Pipeline) -> dict[str, Any]:
    """The training the final run gets, as :func:`tune_regularization` keywords, so that the
    short runs judge candidates on it: momenta, Nesterov, LR shape and warm-up, and the
    pipeline's compile (its loss, with label smoothing)."""
    config = pipeline.config
    return {"momentum": tuple(config.momentum), "nesterov": bool(pipeline.nesterov()),
            "lr_shape": config.lr_shape, "warmup_fraction": config.warmup_fraction,
            "compile_model": pipeline.compile}


def tune_stage(pipeline: Pipeline) -> TuningResult:
    """The pipeline's ``tune`` stage: tune for ``config.epochs`` on the run's data and model.

    Writes ``run_dir/tuning.json`` (read back by ``Pipeline.weight_decay()`` and
    ``bn_momentum()``), ``run_dir/tuning/*.png`` (embedded in the report) and keeps the Optuna
    study in ``run_dir/tuning.db``, so a killed run resumes without redoing finished short runs.

    * The short runs last ``config.epochs`` (the run being tuned: the BN momentum depends on
      its length) on the share of the training data that keeps the whole search within
      :data:`~superconverge.defaults.PIPELINE_TUNING_COST` final runs, at ``config.max_lr``
      when set, else at the max LR of one range test made
      with the configured range-test settings (the pipeline's own range test comes after
      tuning, with the tuned values).
    * ``config.bn_momentum`` set: only weight decay is tuned. A custom ``build_model`` (which
      takes no weight decay): only the BN momentum is tuned, weight decay stays
      ``config.weight_decay``.
    * ``config.precise_bn`` on (the default): the BN momentum is not searched either. Precise
      BN recomputes the final model's BN statistics, and BN momentum only sets how the moving
      statistics follow the batches (training itself uses batch statistics), so it cannot
      change the final model: measured bit-identical (recipe ablation, seed 0, momentum 0.9
      against the principled 0.988). The principled momentum is kept.
    """
    config = pipeline.config
    custom = pipeline.custom_build is not None
    skip_bn = config.precise_bn and config.bn_momentum is None and not custom
    if skip_bn:
        logger.info("tune: precise BN recomputes the BN statistics of the final model, so the "
                    "BN momentum cannot change it; only weight decay is tuned")

    def build(*, bn_momentum: float, weight_decay: float) -> Any:
        return pipeline.new_model(bn_momentum=bn_momentum, weight_decay=weight_decay)

    return tune_regularization(
        build,
        pipeline.data,
        weight_decays=() if custom else None,
        bn_momentum=config.bn_momentum,
        bn_momenta=() if skip_bn else None,
        out_dir=pipeline.run_dir,
        epochs=config.epochs,
        max_lr=config.max_lr,
        batch_size=pipeline.batch_size,
        seed=config.seed,
        min_lr_ratio=config.min_lr_ratio,
        augment=config.augment,
        # judged as the final model will be evaluated: with recalibrated BN statistics
        precise_bn=config.precise_bn,
        # the short runs together cost at most one final run (on a share of the data)
        cost_limit=PIPELINE_TUNING_COST,
        prior_weight_decay=config.weight_decay,
        range_test={
            "start_lr": config.range_start_lr, "end_lr": config.range_end_lr,
            "steps": config.range_steps, "diverge": config.range_diverge,
            "method": pipeline.bounds_method(), "min_lr_ratio": config.min_lr_ratio,
        },
        **short_run_recipe(pipeline),
    )
