"""`RangeTestResult`: the curve an LR range test produced, with suggest / plot / save / load.

Pure NumPy + JSON (matplotlib only inside :meth:`RangeTestResult.plot`); no Keras import.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from superconverge.defaults import (
    ADAPTIVE_OPTIMIZER_CLASSES,
    ADAPTIVE_OPTIMIZER_METHOD,
    DIVERGENCE_FACTOR,
    LOSS_EMA_BETA,
)
from superconverge.finder.errors import RangeTestError

logger = logging.getLogger(__name__)

FORMAT = "superconverge.range_test"
FORMAT_VERSION = 1

STOP_REASONS = ("completed", "diverged", "non_finite", "exhausted", "interrupted", "error")
"""Why a range test stopped:

* ``completed``: all planned steps ran;
* ``diverged``: smoothed loss exceeded ``diverge × best smoothed loss``;
* ``non_finite``: a batch loss was NaN or ±inf;
* ``exhausted``: the data ran out before the planned number of steps;
* ``interrupted``: KeyboardInterrupt (the partial curve is kept);
* ``error``: another exception ended the sweep (only seen on a callback's partial result).
"""


def _as_array(values: Any, dtype: Any = np.float64) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=dtype).reshape(-1)


@dataclasses.dataclass
class RangeTestResult:
    """The outcome of an LR range test.

    Attributes:
        lrs: learning rate used for each step (``float64``, length ``n``).
        losses: the raw training loss of each step's own batch (not a running mean).
        smoothed_losses: bias-corrected EMA of ``losses``:
            ``avg_i = β·avg_{i-1} + (1-β)·loss_i``, ``smoothed_i = avg_i / (1 - β^(i+1))``.
        stop_reason: one of :data:`STOP_REASONS`.
        stop_step: index of the step at which the sweep stopped early (``None`` if it did not).
        mode: ``"exp"`` or ``"linear"``.
        start_lr, end_lr, num_steps: the planned sweep (``num_steps`` planned, ``n`` run).
        smooth: the EMA factor β. diverge: the divergence factor.
        batch_size: training batch size when known. backend: Keras backend name.
        val_steps: step indices after which validation ran (or ``None``).
        val_losses, val_accuracies: validation loss / accuracy at those steps
            (accuracy ``None`` when the model has no accuracy metric).
        metadata: free-form extra information (JSON-serialisable).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    stop_reason: str = "completed"
    stop_step: int | None = None
    mode: str = "exp"
    start_lr: float = float("nan")
    end_lr: float = float("nan")
    num_steps: int = 0
    smooth: float = LOSS_EMA_BETA
    diverge: float = DIVERGENCE_FACTOR
    batch_size: int | None = None
    backend: str | None = None
    val_steps: np.ndarray | None = None
    val_losses: np.ndarray | None = None
    val_accuracies: np.ndarray | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lrs = _as_array(self.lrs)
        self.losses = _as_array(self.losses)
        self.smoothed_losses = _as_array(self.smoothed_losses)
        if not (len(self.lrs) == len(self.losses) == len(self.smoothed_losses)):
            raise RangeTestError(
                "lrs, losses and smoothed_losses must have the same length, got "
                f"{len(self.lrs)}, {len(self.losses)}, {len(self.smoothed_losses)}."
            )
        if self.val_steps is not None:
            self.val_steps = _as_array(self.val_steps, np.int64)
            self.val_losses = _as_array(self.val_losses)
            if len(self.val_losses) != len(self.val_steps):
                raise RangeTestError("val_losses must have one value per entry of val_steps.")
            if self.val_accuracies is not None:
                self.val_accuracies = _as_array(self.val_accuracies)
                if len(self.val_accuracies) != len(self.val_steps):
                    raise RangeTestError(
                        "val_accuracies must have one value per entry of val_steps."
                    )
        elif self.val_losses is not None or self.val_accuracies is not None:
            raise RangeTestError("val_losses / val_accuracies need val_steps.")

    @classmethod
    def average(cls, results: list[RangeTestResult]) -> RangeTestResult:
        """One curve from several sweeps over the same LR grid (repeated range tests):

            loss_i = (1/k) · Σ_j loss_i^(j)        for the steps every sweep reached,

        smoothed again with the sweeps' EMA. A step where one sweep's loss is non-finite is
        non-finite in the average (where that sweep diverged, the average ends). Validation
        points are not carried over; ``metadata["sweeps"]`` holds each sweep's length and stop
        reason. Raises :class:`RangeTestError` for no results or different LR grids.
        """
        from superconverge.finder.sweep import smooth_losses

        if not results:
            raise RangeTestError("average() needs at least one range-test result.")
        steps = min(len(r) for r in results)
        if steps == 0:
            raise RangeTestError("average() got an empty range-test result.")
        first = results[0]
        lrs = first.lrs[:steps]
        for other in results[1:]:
            if other.mode != first.mode or not np.allclose(other.lrs[:steps], lrs, rtol=1e-9):
                raise RangeTestError(
                    "The sweeps do not share their LR grid (start_lr, end_lr, steps and mode "
                    "must be equal): run every repeat with the same range-test settings.")
        losses = np.mean([r.losses[:steps] for r in results], axis=0)
        shortest = min(results, key=len)
        return cls(
            lrs=lrs, losses=losses, smoothed_losses=smooth_losses(losses, first.smooth),
            stop_reason=shortest.stop_reason,
            stop_step=steps - 1 if shortest.stop_step is not None else None,
            mode=first.mode, start_lr=first.start_lr, end_lr=first.end_lr,
            num_steps=first.num_steps, smooth=first.smooth, diverge=first.diverge,
            batch_size=first.batch_size, backend=first.backend,
            metadata={"sweeps": [{"steps": len(r), "stop_reason": r.stop_reason}
                                 for r in results]},
        )

    # ------------------------------------------------------------------ reading the curve
    def __len__(self) -> int:
        return len(self.lrs)

    @property
    def val_lrs(self) -> np.ndarray | None:
        """Learning rate at each validation point (``lrs[val_steps]``)."""
        if self.val_steps is None:
            return None
        return self.lrs[self.val_steps]

    @property
    def finite_mask(self) -> np.ndarray:
        """Steps whose raw loss is finite."""
        return np.isfinite(self.losses)

    @property
    def lr_at_min_loss(self) -> float:
        """Learning rate at the lowest *smoothed* loss (NaN for an empty curve)."""
        finite = np.isfinite(self.smoothed_losses)
        if not finite.any():
            return float("nan")
        idx = np.flatnonzero(finite)[np.argmin(self.smoothed_losses[finite])]
        return float(self.lrs[idx])

    def suggest(self, **kwargs: Any) -> Any:
        """Read LR bounds off the curve: ``superconverge.bounds.suggest(lrs, losses, ...)``.

        The losses go in as recorded, NaN/inf included: a non-finite batch is where the sweep
        diverged, which the ``auto`` method uses as its divergence point. Validation
        accuracies, when recorded, are passed as ``accuracies=`` / ``accuracy_lrs=`` unless
        given in ``kwargs``. Returns a ``Suggestion`` (``max_lr``, ``min_lr``, ``method``,
        ``confidence``, ``reason``, ``diagnostics``).
        """
        from superconverge.bounds import suggest as _suggest  # lazy: written separately

        if not self.finite_mask.any():
            raise RangeTestError("The range test recorded no finite loss; nothing to suggest.")
        optimizer = str(self.metadata.get("optimizer", ""))
        if kwargs.get("method", "auto") == "auto" and optimizer in ADAPTIVE_OPTIMIZER_CLASSES:
            logger.warning(
                "This curve was swept with %s: 'auto' puts the max LR 0.8 decade below "
                "divergence, a margin measured under SGD; under Adam it picks far too high "
                "(README, benchmarks/results/lr_selection_adam/). Use suggest(method='%s').",
                optimizer, ADAPTIVE_OPTIMIZER_METHOD)
        if (
            self.val_accuracies is not None
            and "accuracies" not in kwargs
            and np.isfinite(self.val_accuracies).any()
        ):
            acc_mask = np.isfinite(self.val_accuracies)
            kwargs["accuracies"] = self.val_accuracies[acc_mask]
            kwargs.setdefault("accuracy_lrs", self.val_lrs[acc_mask])
        return _suggest(self.lrs, self.losses, **kwargs)

    # ------------------------------------------------------------------ plotting
    def plot(
        self,
        ax: Any = None,
        path: str | os.PathLike[str] | None = None,
        suggestion: Any = None,
        *,
        title: str | None = None,
    ) -> Any:
        """Plot raw and smoothed loss against the learning rate (log axis for ``exp`` sweeps).

        Args:
            ax: a matplotlib ``Axes`` to draw on; when ``None`` a new ``Figure`` is made without
                ``pyplot`` (no global state, Agg canvas).
            path: if given, save the figure there (format from the extension).
            suggestion: a ``Suggestion`` whose ``min_lr`` / ``max_lr`` are marked; ``None``
                tries :meth:`suggest` (silently skipped if unavailable), ``False`` marks none.
            title: optional title.

        Returns:
            The ``Axes`` drawn on.
        """
        from superconverge.finder.plot import plot_range_test

        if suggestion is None:
            from superconverge.bounds import SuggestionError

            try:
                suggestion = self.suggest()
            except SuggestionError as error:  # e.g. too short a curve: plot it without bounds
                logger.info("no bounds drawn: %s", error)
                suggestion = None
        elif suggestion is False:
            suggestion = None
        return plot_range_test(self, ax=ax, path=path, suggestion=suggestion, title=title)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON dict (NaN → ``null``, ±inf → ``"inf"`` / ``"-inf"``)."""
        out: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value = [_encode_float(v) for v in value.tolist()]
            elif isinstance(value, float):
                value = _encode_float(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeTestResult:
        if data.get("format") != FORMAT:
            raise RangeTestError(f"Not a range-test result (format={data.get('format')!r}).")
        if int(data.get("version", 0)) > FORMAT_VERSION:
            raise RangeTestError(
                f"Range-test result version {data['version']} is newer than this library "
                f"understands ({FORMAT_VERSION}); upgrade superconverge."
            )
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                continue
            if isinstance(value, list):
                value = [_decode_float(v) for v in value]
            elif key in {"start_lr", "end_lr", "smooth", "diverge"}:
                value = _decode_float(value)
            kwargs[key] = value
        return cls(**kwargs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON, atomically (temp file in the same directory, then
        ``os.replace``), so a crash never leaves a half-written file. Returns the path."""
        from superconverge.io import atomic_write_text

        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RangeTestResult:
        """Read a result written by :meth:`save`; a damaged file raises an error naming it."""
        from superconverge.io import DamagedFileError, read_json

        try:
            return cls.from_dict(read_json(path))
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, DamagedFileError | RangeTestError):
                raise
            raise DamagedFileError(
                f"{path} is not a range-test result superconverge wrote ({error}); rerun the "
                "range test in a new run directory."
            ) from None

    def summary(self) -> str:
        """One line: steps run, stop reason, LR at the lowest smoothed loss."""
        stop = f" at step {self.stop_step}" if self.stop_step is not None else ""
        return (
            f"{len(self)}/{self.num_steps} steps, {self.stop_reason}{stop}; "
            f"lr range {self.lrs[0] if len(self) else float('nan'):.3g}.."
            f"{self.lrs[-1] if len(self) else float('nan'):.3g}; "
            f"lowest smoothed loss at lr={self.lr_at_min_loss:.3g}"
        )


def _encode_float(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def _decode_float(value: Any) -> Any:
    if value is None:
        return float("nan")
    if value in ("inf", "-inf"):
        return float(value)
    return value


