"""Evidence plots: validation loss against weight decay and against batch-norm momentum."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from superconverge.plotting import new_figure, save_figure
from superconverge.tuning.files import BN_MOMENTUM_PNG, WEIGHT_DECAY_PNG
from superconverge.tuning.procedure import exponent, zero_exponent

if TYPE_CHECKING:  # pragma: no cover
    from superconverge.tuning.api import TuningResult

__all__ = ["plot_bn_momentum", "plot_weight_decay", "save_plots"]

_MARKERS = {"weight_decay": ("o", "C0", "grid"), "bisection": ("D", "C1", "bisection"),
            "bn_momentum": ("s", "C2", "momentum check")}


def _ceiling(losses: list[float]) -> float:
    finite = [v for v in losses if math.isfinite(v)]
    return 1.1 * max(finite) if finite else 1.0


def _stopped_at(evaluation: Any, top: float) -> float:
    """The last validation (data) loss a pruned run reported (``top`` when none is finite)."""
    history = evaluation.history
    values = [v for v in history.get("val_data_loss", history.get("val_loss", []))
              if math.isfinite(v)]
    return values[-1] if values else top


def plot_weight_decay(result: TuningResult, ax: Any = None) -> Any:
    """Final validation loss of the short runs at the default momentum against ``λ``.

    The x axis is ``log10(λ)``; ``λ = 0`` is drawn one decade below the smallest non-zero
    value (:func:`~superconverge.tuning.procedure.zero_exponent`) and labelled ``0``. Pruned or
    diverged runs are drawn as ``x`` at the top.
    """
    if ax is None:
        _, ax = new_figure(6.0, 3.6)
    runs = [e for e in result.evaluations
            if e.phase in ("weight_decay", "bisection")
            and math.isclose(e.bn_momentum, result.default_bn_momentum, rel_tol=1e-6)]
    zero_at = zero_exponent(e.weight_decay for e in runs)
    top = _ceiling([e.val_loss for e in runs])
    for phase in ("weight_decay", "bisection"):
        marker, color, label = _MARKERS[phase]
        sel = [e for e in runs if e.phase == phase]
        done = [e for e in sel if math.isfinite(e.val_loss)]
        ax.plot([exponent(e.weight_decay, zero_at) for e in done], [e.val_loss for e in done],
                marker, color=color, label=label, markersize=7)
        cut = [e for e in sel if not math.isfinite(e.val_loss)]
        if cut:
            ax.plot([exponent(e.weight_decay, zero_at) for e in cut],
                    [_stopped_at(e, top) for e in cut], "x", color=color, markersize=9,
                    label=f"{label}: pruned (val loss when stopped)")
    if any(not math.isfinite(e.val_loss) for e in runs):
        ax.set_yscale("log")
    line = sorted((exponent(e.weight_decay, zero_at), e.val_loss) for e in runs
                  if math.isfinite(e.val_loss))
    if line:
        ax.plot(*zip(*line), "-", color="0.6", linewidth=1, zorder=0)
    ax.axvline(exponent(result.weight_decay, zero_at), color="C3", linestyle="--",
               label=f"chosen {result.weight_decay:.3g}")
    ticks = sorted({exponent(e.weight_decay, zero_at) for e in runs})
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0" if t == zero_at else f"{10**t:.2g}" for t in ticks], fontsize=8)
    ax.set_xlabel("weight decay λ (Caffe L2; log scale, 0 at the left)")
    ax.set_ylabel(f"val loss (data, no L2) after {result.trial_epochs} epoch(s)")
    ax.set_title(f"weight decay (BN momentum {result.default_bn_momentum:g}, "
                 f"max LR {result.max_lr:.3g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_bn_momentum(result: TuningResult, ax: Any = None) -> Any:
    """Final validation loss against batch-norm momentum ``m`` at the chosen weight decay.

    The x axis is the time constant ``τ = 1/(1 - m)`` in steps (log scale), with the short
    run's length marked: a time constant comparable to the run cannot follow the weights.
    """
    if ax is None:
        _, ax = new_figure(6.0, 3.6)
    wd = result.spec.get("prior_weight_decay") if not result.spec.get("weight_decays") \
        else None
    chosen_wd = result.weight_decay if wd is None else wd
    runs = [e for e in result.evaluations
            if math.isclose(e.weight_decay, chosen_wd, rel_tol=1e-6, abs_tol=1e-15)]
    top = _ceiling([e.val_loss for e in runs])
    tau = lambda m: 1.0 / (1.0 - m)  # noqa: E731
    done = sorted((tau(e.bn_momentum), e.val_loss) for e in runs if math.isfinite(e.val_loss))
    if done:
        ax.plot(*zip(*done), "s-", color="C2", label="short runs")
    cut = [e for e in runs if not math.isfinite(e.val_loss)]
    if cut:
        ax.plot([tau(e.bn_momentum) for e in cut], [_stopped_at(e, top) for e in cut], "x",
                color="C2", markersize=9, label="pruned (val loss when stopped)")
        ax.set_yscale("log")
    ax.set_xscale("log")
    momenta = sorted({e.bn_momentum for e in runs})
    ax.set_xticks([tau(m) for m in momenta])
    ax.set_xticklabels([f"{m:g}" for m in momenta], fontsize=8)
    ax.minorticks_off()
    steps = result.trial_epochs * result.steps_per_epoch
    ax.axvline(0.1 * steps, color="0.5", linestyle=":",
               label=f"τ = last 10% of the run ({0.1 * steps:.0f} steps)")
    ax.axvline(tau(result.default_bn_momentum), color="C0", linestyle=":",
               label=f"principled default {result.default_bn_momentum:g}")
    chosen = result.bn_momentum
    if result.trial_epochs != result.target_epochs:
        chosen = float(result.extra.get("bn_momentum_for_trials", chosen))
    ax.axvline(tau(chosen), color="C3", linestyle="--", label=f"chosen {result.bn_momentum:g}")
    ax.set_xlabel("batch-norm momentum m (Keras; axis: time constant 1/(1-m) steps, log)")
    ax.set_ylabel(f"val loss (data, no L2) after {result.trial_epochs} epoch(s)")
    ax.set_title(f"batch-norm momentum (weight decay {chosen_wd:.3g}, {steps} steps per run)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def save_plots(result: TuningResult, out_dir: str | Path) -> list[Path]:
    """``weight_decay.png`` (when weight decay was searched) and ``bn_momentum.png``."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    if result.spec.get("weight_decays"):
        ax = plot_weight_decay(result)
        written.append(save_figure(ax.figure, out_dir / WEIGHT_DECAY_PNG))
    if result.spec.get("bn_momenta"):
        ax = plot_bn_momentum(result)
        written.append(save_figure(ax.figure, out_dir / BN_MOMENTUM_PNG))
    return written
