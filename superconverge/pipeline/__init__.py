"""The pipeline: stages, run directory, checkpoints, resume and report."""

from superconverge.pipeline.config import ConfigError, RunConfig
from superconverge.pipeline.pipeline import STAGES, Pipeline, RunDirectoryError, RunSummary, run

__all__ = ["STAGES", "ConfigError", "Pipeline", "RunConfig", "RunDirectoryError", "RunSummary",
           "run"]
