r"""PyTorch Lightning's ``_LRFinder.suggestion()``, reproduced for comparison.

Input: Lightning's ``_LRCallback`` records the debiased EMA of the loss (β = 0.98, as fastai;
:func:`~superconverge.bounds.signal.debiased_ema`) and stops at the first step whose smoothed
loss exceeds ``early_stop_threshold × best`` (4.0; that step is recorded). The suggestion is

.. math:: i^* = \operatorname{argmin}_k\ \mathtt{np.gradient}(L_{fin})_k + \text{skip\_begin},
          \qquad L_{fin} = \text{finite values of } L[\text{skip\_begin} : -\text{skip\_end}]

with the gradient over the raw *index* (unit spacing, not log-LR), ``skip_begin=10``,
``skip_end=1``; the result is ``lr[i*]``. As in Lightning, dropping non-finite values before
the argmin shifts the index (Lightning's own TODO notes it). Differences: our EMA debiases
with ``1 - β^{i+1}`` (Lightning's uses the global step, one later), and Lightning returns
``None`` with fewer than 2 points where we raise :class:`SuggestionError`.
"""

from __future__ import annotations

import math

import numpy as np

from superconverge.bounds.auto import curve_quality
from superconverge.bounds.signal import debiased_ema
from superconverge.bounds.types import Pick, SuggestionError, Sweep
from superconverge.defaults import DIVERGENCE_FACTOR, LOSS_EMA_BETA

__all__ = ["lightning_method", "steepest_gradient"]


def steepest_gradient(
    lrs: np.ndarray, losses: np.ndarray, skip_begin: int = 10, skip_end: int = 1
) -> tuple[float, int]:
    """Lightning's ``suggestion()`` on a recorded (already smoothed) loss; ``(lr, index)``."""
    losses = np.asarray(losses, dtype=float)
    if skip_begin < 0 or skip_end < 1:
        raise SuggestionError("skip_begin must be >= 0 and skip_end >= 1 (Lightning's slice)")
    sl = losses[skip_begin:-skip_end]
    sl = sl[np.isfinite(sl)]
    if sl.size < 2:
        raise SuggestionError(
            f"only {sl.size} finite loss value(s) after skipping {skip_begin} at the start and "
            f"{skip_end} at the end; sweep more steps (Lightning needs at least 2)."
        )
    idx = int(np.argmin(np.gradient(sl))) + skip_begin
    return float(np.asarray(lrs, dtype=float)[idx]), idx


def lightning_method(
    sweep: Sweep,
    *,
    smooth: bool = True,
    beta: float = LOSS_EMA_BETA,
    early_stop_threshold: float | None = DIVERGENCE_FACTOR,
    skip_begin: int = 10,
    skip_end: int = 1,
) -> Pick:
    """Registry entry ``lightning``: steepest negative gradient over the sample index."""
    raw = np.asarray(sweep.losses, dtype=float)
    sm = debiased_ema(raw, beta) if smooth else raw.copy()
    stop = sm.size
    if early_stop_threshold is not None:
        best = math.inf
        for i, v in enumerate(sm):
            if i > 0 and v > early_stop_threshold * best:
                stop = i + 1
                break
            if v < best or i == 0:
                best = float(v)
    lrs = sweep.lrs[:stop]
    lr, idx = steepest_gradient(lrs, sm[:stop], skip_begin=skip_begin, skip_end=skip_end)
    conf = curve_quality(sweep.lrs, sweep.losses)
    reason = (
        f"lightning: steepest negative gradient of the smoothed loss over the sample index -> "
        f"{lr:.2g} (confidence reflects the curve, not the method)"
    )
    diag = {
        "log_lr": np.log10(lrs),
        "smoothed": sm[:stop],
        "pick_index": idx,
        "pick_lr": lr,
        "stop_index": stop,
    }
    return Pick(max_lr=lr, confidence=conf, reason=reason, diagnostics=diag)
