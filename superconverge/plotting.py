"""Figures shared by the CLI, the pipeline and the report (matplotlib, Agg, no global state)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from superconverge.schedules import OneCycleSchedule


def new_figure(
    width: float = 7.0, height: float = 4.0, nrows: int = 1, ncols: int = 1
) -> tuple[Figure, Any]:
    """A figure that never touches pyplot's global state (safe in threads and servers)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(nrows, ncols, sharex=nrows > 1)
    return figure, axes


def save_figure(figure: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Render ``figure`` and write it with the one atomic writer (:mod:`superconverge.io`)."""
    import io as _io

    from superconverge.io import atomic_write_bytes

    path = Path(path)
    suffix = path.suffix or ".png"
    buffer = _io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format=suffix.lstrip("."))
    return atomic_write_bytes(path, buffer.getvalue())


def plot_schedule(
    policy: OneCycleSchedule,
    *,
    applied: dict[str, list[float]] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """LR (top) and momentum (bottom) against the optimizer step.

    ``applied`` (``OneCycle.applied``) overlays the values recorded during training.
    """
    has_momentum = policy.momentum_schedule is not None
    figure, axes = new_figure(7.0, 5.0 if has_momentum else 3.2, nrows=2 if has_momentum else 1)
    ax_lr = axes[0] if has_momentum else axes
    steps = np.linspace(0, policy.total_steps - 1, min(policy.total_steps, 2000))
    ax_lr.plot(steps, policy.lr(steps), color="C0", label="policy")
    if applied and applied.get("step"):
        ax_lr.plot(applied["step"], applied["learning_rate"], ".", ms=2, color="C3",
                   label="applied")
        ax_lr.legend(loc="upper right")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_title(f"One Cycle ({policy.name}): max LR {policy.max_lr:.3g}, "
                    f"{policy.total_steps} steps")
    ax_lr.grid(alpha=0.3)
    if has_momentum:
        ax_m = axes[1]
        ax_m.plot(steps, policy.momentum(steps), color="C1")
        if applied and applied.get("step") and not np.all(np.isnan(applied["momentum"])):
            ax_m.plot(applied["step"], applied["momentum"], ".", ms=2, color="C3")
        ax_m.set_ylabel("momentum / β1")
        ax_m.grid(alpha=0.3)
        ax_m.set_xlabel("optimizer step")
    else:
        ax_lr.set_xlabel("optimizer step")
    if path is not None:
        save_figure(figure, path)
    return figure
