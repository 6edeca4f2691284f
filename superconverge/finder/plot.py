"""Plot of an LR range test (matplotlib, object-oriented API only: no pyplot state)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from superconverge.finder.result import RangeTestResult


def _y_limits(result: RangeTestResult) -> tuple[float, float] | None:
    raw = result.losses[np.isfinite(result.losses)]
    sm = result.smoothed_losses[np.isfinite(result.smoothed_losses)]
    if raw.size == 0:
        return None
    low = float(min(raw.min(), sm.min() if sm.size else raw.min()))
    # Top: the start of the curve or the divergence threshold, whichever is higher, so the
    # exploding tail does not squash the interesting part.
    head = sm[: max(1, sm.size // 10)] if sm.size else raw[:1]
    best = float(sm.min()) if sm.size else low
    top = max(float(head.max()), best * float(result.diverge) if np.isfinite(result.diverge)
              and best > 0 else float(raw.max()))
    top = min(top, float(raw.max()))
    if top <= low:
        top = low + (abs(low) or 1.0) * 0.1
    pad = 0.05 * (top - low)
    return low - pad, top + pad


def plot_range_test(
    result: RangeTestResult,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    suggestion: Any = None,
    title: str | None = None,
) -> Any:
    """Draw ``result`` on ``ax`` (or a new Agg figure); see :meth:`RangeTestResult.plot`."""
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7.0, 4.5), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
    fig = ax.figure

    lrs = result.lrs
    ax.plot(lrs, result.losses, color="tab:blue", alpha=0.35, lw=0.8, label="batch loss")
    ax.plot(lrs, result.smoothed_losses, color="tab:blue", lw=2.0,
            label=f"EMA (β={result.smooth:g}, lags)")
    diagnostics = getattr(suggestion, "diagnostics", None) or {}
    if diagnostics.get("smoothed") is not None and diagnostics.get("lrs") is not None:
        # the curve ``auto`` read its landmarks from (Savitzky–Golay in log-LR, no lag)
        ax.plot(diagnostics["lrs"], diagnostics["smoothed"], color="black", lw=1.3,
                label="auto's smoothing (Savitzky–Golay)")
    if diagnostics.get("divergence_lr") is not None:
        ax.axvline(diagnostics["divergence_lr"], color="tab:red", lw=1.0, ls="--",
                   label=f"diverges at {diagnostics['divergence_lr']:.3g}")
    if diagnostics.get("spike_lr") is not None:
        ax.axvline(diagnostics["spike_lr"], color="tab:red", lw=1.0, ls=":",
                   label=f"spike at {diagnostics['spike_lr']:.3g} (recovers)")
    if result.val_steps is not None and len(result.val_steps):
        ax.plot(result.val_lrs, result.val_losses, "o-", color="tab:orange", ms=3, lw=1.0,
                label="validation loss")
    if result.mode == "exp":
        ax.set_xscale("log")
    limits = _y_limits(result)
    if limits is not None:
        ax.set_ylim(*limits)

    if result.stop_step is not None and 0 <= result.stop_step < len(lrs):
        ax.axvline(lrs[result.stop_step], color="tab:red", ls=":", lw=1.0,
                   label=f"stopped: {result.stop_reason}")

    if suggestion is not None:
        lo = getattr(suggestion, "min_lr", None)
        hi = getattr(suggestion, "max_lr", None)
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(lo, hi, color="tab:green", alpha=0.12)
        if hi is not None and np.isfinite(hi):
            ax.axvline(hi, color="tab:green", lw=1.5, label=f"max_lr = {hi:.3g}")
        if lo is not None and np.isfinite(lo):
            ax.axvline(lo, color="tab:green", lw=1.0, ls="--", label=f"min_lr = {lo:.3g}")

    handles, labels = ax.get_legend_handles_labels()
    if result.val_accuracies is not None and np.isfinite(result.val_accuracies).any():
        ax2 = ax.twinx()
        ax2.plot(result.val_lrs, result.val_accuracies, "s--", color="tab:purple", ms=3,
                 lw=0.8, label="validation accuracy")
        ax2.set_ylabel("validation accuracy")
        ax2.set_ylim(0.0, 1.0)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2

    ax.set_xlabel("learning rate" + (" (log scale)" if result.mode == "exp" else ""))
    ax.set_ylabel("training loss")
    ax.set_title(title or f"LR range test ({len(result)} steps, {result.stop_reason})")
    ax.grid(True, which="both", alpha=0.25)
    # beside the axes, not over the curves it explains
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.12 if len(labels) and
              result.val_accuracies is not None else 1.02, 1.0), fontsize="small",
              borderaxespad=0.0)
    if path is not None:
        fig.savefig(os.fspath(path), bbox_inches="tight")
    return ax
