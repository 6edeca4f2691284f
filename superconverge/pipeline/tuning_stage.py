"""The pipeline's ``tune`` stage: the adapter between a :class:`Pipeline` and
:func:`~superconverge.tuning.tune_regularization` (the tuning layer knows no pipeline)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from superconverge.tuning.api import TuningResult, tune_regularization

if TYPE_CHECKING:
    from superconverge.pipeline.pipeline import Pipeline

__all__ = ["tune_stage"]


def tune_stage(pipeline: Pipeline) -> TuningResult:
    """The pipeline's ``tune`` stage: tune for ``config.epochs`` on the run's data and model.

    Writes ``run_dir/tuning.json`` (read back by ``Pipeline.weight_decay()`` and
    ``bn_momentum()``), ``run_dir/tuning/*.png`` (embedded in the report) and keeps the Optuna
    study in ``run_dir/tuning.db``, so a killed run resumes without redoing finished short runs.

    * The short runs last ``config.epochs`` (the run being tuned: the BN momentum depends on
      its length) at ``config.max_lr`` when set, else at the max LR of one range test made
      with the configured range-test settings (the pipeline's own range test comes after
      tuning, with the tuned values).
    * ``config.bn_momentum`` set: only weight decay is tuned. A custom ``build_model`` (which
      takes no weight decay): only the BN momentum is tuned, weight decay stays
      ``config.weight_decay``.
    """
    config = pipeline.config
    custom = pipeline.custom_build is not None

    def build(*, bn_momentum: float, weight_decay: float) -> Any:
        return pipeline.new_model(bn_momentum=bn_momentum, weight_decay=weight_decay)

    return tune_regularization(
        build,
        pipeline.data,
        weight_decays=() if custom else None,
        bn_momentum=config.bn_momentum,
        out_dir=pipeline.run_dir,
        epochs=config.epochs,
        max_lr=config.max_lr,
        batch_size=config.batch_size,
        seed=config.seed,
        min_lr_ratio=config.min_lr_ratio,
        momentum=tuple(config.momentum),
        augment=config.augment,
        prior_weight_decay=config.weight_decay,
        range_test={
            "start_lr": config.range_start_lr, "end_lr": config.range_end_lr,
            "steps": config.range_steps, "diverge": config.range_diverge,
            "method": config.suggest_method, "min_lr_ratio": config.min_lr_ratio,
        },
        compile_model=pipeline.compile,
    )
