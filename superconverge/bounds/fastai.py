r"""fastai 2.x ``lr_find`` suggestion functions, reproduced for comparison.

What the heuristics see. fastai's ``Recorder`` stores the *smoothed* training loss
(:func:`~superconverge.bounds.signal.debiased_ema`, β = 0.98); ``LRFinder`` stops the sweep at
the first batch whose smoothed loss exceeds 4 × the best smoothed loss so far (that batch is
still recorded); ``Learner.lr_find`` then keeps ``lrs[num_it // 10 : -5]`` and cuts everything
from the first NaN. :func:`fastai_inputs` repeats those steps on our raw per-batch losses, with
these documented differences:

* ``skip_start`` defaults to ``len(lrs) // 10`` (fastai uses the *planned* ``num_it // 10``);
* inf is cut like NaN (fastai only cuts NaN);
* when the trim would leave fewer than 5 points, it is shrunk so that 5 remain.

Pass ``smooth=False`` when ``losses`` are already smoothed, ``stop_div=False`` to keep the
whole sweep. The picks (``lr`` below is the trimmed LR array, ``L`` the smoothed loss):

* ``valley``: longest strictly decreasing subsequence of ``L`` ending at ``e`` with length
  ``ℓ``; ``start = e - ℓ`` (sic, fastai's off-by-one), ``sections = (e - start) / 3``,
  ``idx = start + int(sections) + int(sections / 2)`` (clamped to ``[0, n-1]``);
  ``lr[idx]``.
* ``steep``: ``lr[argmin_i (L[i+1]-L[i]) / (ln lr[i+1] - ln lr[i])]``.
* ``minimum``: ``lr[argmin L] / 10``.
* ``slide``: with ``g = numpy.gradient(L)`` (unit spacing), walk a pair of indices
  ``(r, r - lr_diff)`` back from the end while ``|g[r] - g[r - lr_diff]| > thresh``; the
  suggestion is ``lr`` at the last left index visited, times ``adjust_value``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from superconverge.bounds.auto import curve_quality
from superconverge.bounds.signal import debiased_ema
from superconverge.bounds.types import Pick, SuggestionError, Sweep
from superconverge.defaults import LOSS_EMA_BETA

__all__ = [
    "fastai_inputs",
    "minimum",
    "minimum_method",
    "slide",
    "slide_method",
    "steep",
    "steep_method",
    "valley",
    "valley_method",
]

logger = logging.getLogger(__name__)

_MIN_KEPT = 5


def fastai_inputs(
    lrs: np.ndarray,
    losses: np.ndarray,
    *,
    smooth: bool = True,
    beta: float = LOSS_EMA_BETA,
    stop_div: bool = True,
    skip_start: int | None = None,
    skip_end: int = 5,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The ``(lrs, losses)`` fastai's suggestion functions receive (see module docstring)."""
    lrs = np.asarray(lrs, dtype=float)
    raw = np.asarray(losses, dtype=float)
    n_all = raw.size
    sm = debiased_ema(raw, beta) if smooth else raw.copy()
    stop = n_all
    if stop_div:
        best = math.inf
        for i, v in enumerate(sm):
            if i > 0 and v > 4.0 * best:  # NaN compares False, as in fastai
                stop = i + 1
                break
            if v < best:
                best = float(v)
    start = n_all // 10 if skip_start is None else int(skip_start)
    end = int(skip_end)
    if start < 0 or end < 0:
        raise SuggestionError("skip_start and skip_end must be >= 0")
    # shrink the trim on short sweeps so that _MIN_KEPT points remain
    while stop - start - end < _MIN_KEPT and (start > 0 or end > 0):
        if end >= start and end > 0:
            end -= 1
        else:
            start -= 1
    lr_t = lrs[start : stop - end]
    l_t = sm[start : stop - end]
    bad = np.flatnonzero(~np.isfinite(l_t))
    if bad.size:
        lr_t, l_t = lr_t[: bad[0]], l_t[: bad[0]]
    if l_t.size < 2:
        raise SuggestionError(
            f"only {l_t.size} usable smoothed loss value(s) remain after fastai's trimming and "
            "cutting at the first non-finite loss; sweep more steps or start at a lower LR."
        )
    info = {
        "skip_start": start,
        "skip_end": end,
        "stop_index": stop,
        "n_used": int(l_t.size),
        "input_lrs": lr_t,
        "input_losses": l_t,
    }
    return lr_t, l_t, info


def valley(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """fastai ``valley`` on already-prepared arrays; returns ``(lr, idx)``.

    ``lds[i] = 1 + max{lds[j] : j < i, L[j] > L[i]}`` (1 if none) is the length of the longest
    strictly decreasing subsequence ending at ``i``; ``e`` is the first index with the largest
    ``lds`` (strictly larger updates only, as fastai's double loop).
    """
    losses = np.asarray(losses, dtype=float)
    n = losses.size
    lds = np.ones(n, dtype=int)
    max_end = 0
    for i in range(1, n):
        higher = losses[:i] > losses[i]
        if higher.any():
            lds[i] = max(1, int(lds[:i][higher].max()) + 1)
        if lds[max_end] < lds[i]:
            max_end = i
    max_start = max_end - int(lds[max_end])
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    idx = min(max(idx, 0), n - 1)
    return float(lrs[idx]), idx


def steep(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """fastai ``steep``: LR at the steepest fall of the loss per unit ``ln(lr)``."""
    lrs = np.asarray(lrs, dtype=float)
    losses = np.asarray(losses, dtype=float)
    grads = (losses[1:] - losses[:-1]) / (np.log(lrs[1:]) - np.log(lrs[:-1]))
    idx = int(np.argmin(grads))
    return float(lrs[idx]), idx


def minimum(lrs: np.ndarray, losses: np.ndarray) -> tuple[float, int]:
    """fastai ``minimum``: a tenth of the LR at the lowest loss; returns ``(lr/10, argmin)``."""
    idx = int(np.argmin(np.asarray(losses, dtype=float)))
    return float(lrs[idx]) / 10.0, idx


def slide(
    lrs: np.ndarray,
    losses: np.ndarray,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> tuple[float, int]:
    """fastai ``slide``: interval slide rule on ``g = numpy.gradient(losses)``.

    ``lr_diff`` is reduced to ``len(losses) - 1`` on sweeps too short for it (fastai raises
    ``IndexError``). Returns ``(suggestion, index of local_min_lr)``.
    """
    losses = np.asarray(losses, dtype=float)
    n = losses.size
    lr_diff = min(int(lr_diff), n - 1)
    g = np.gradient(losses)
    r_idx = -1
    l_idx = r_idx - lr_diff
    local = n + l_idx
    while (l_idx >= -n) and (abs(g[r_idx] - g[l_idx]) > thresh):
        local = n + l_idx
        r_idx -= 1
        l_idx -= 1
    return float(lrs[local]) * adjust_value, local


def _run(name: str, fn: Any, sweep: Sweep, prep: dict[str, Any], **kw: Any) -> Pick:
    lr_t, l_t, info = fastai_inputs(sweep.lrs, sweep.losses, **prep)
    lr, idx = fn(lr_t, l_t, **kw)
    conf = curve_quality(sweep.lrs, sweep.losses)
    what = {
        "valley": "2/3 down the longest valley of the smoothed loss",
        "steep": "steepest fall of the smoothed loss",
        "minimum": "a tenth of the LR at the lowest smoothed loss",
        "slide": "interval slide rule on the smoothed-loss gradient",
    }[name]
    reason = f"fastai {name}: {what} -> {lr:.2g} (confidence reflects the curve, not the method)"
    diag = {
        "log_lr": np.log10(info["input_lrs"]),
        "smoothed": info["input_losses"],
        "pick_index": idx,
        "pick_lr": float(lr_t[idx]),
        "skip_start": info["skip_start"],
        "skip_end": info["skip_end"],
        "stop_index": info["stop_index"],
    }
    return Pick(max_lr=lr, confidence=conf, reason=reason, diagnostics=diag)


def _registry_entry(name: str, pick: Callable[..., Any], doc: str) -> Callable[..., Pick]:
    """A registry entry running fastai heuristic ``pick`` on fastai's preprocessed curve."""

    def method(
        sweep: Sweep,
        *,
        smooth: bool = True,
        beta: float = LOSS_EMA_BETA,
        stop_div: bool = True,
        skip_start: int | None = None,
        skip_end: int = 5,
    ) -> Pick:
        prep = dict(
            smooth=smooth, beta=beta, stop_div=stop_div, skip_start=skip_start, skip_end=skip_end
        )
        return _run(name, pick, sweep, prep)

    method.__name__ = method.__qualname__ = f"{name}_method"
    method.__doc__ = doc
    return method


valley_method = _registry_entry("valley", valley, "Registry entry ``valley`` (fastai's default).")
steep_method = _registry_entry("steep", steep, "Registry entry ``steep``.")
minimum_method = _registry_entry("minimum", minimum, "Registry entry ``minimum``.")


def slide_method(
    sweep: Sweep,
    *,
    smooth: bool = True,
    beta: float = LOSS_EMA_BETA,
    stop_div: bool = True,
    skip_start: int | None = None,
    skip_end: int = 5,
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> Pick:
    """Registry entry ``slide`` (``lr_diff=15, thresh=0.005, adjust_value=1``)."""
    if int(lr_diff) < 1:
        raise SuggestionError(f"lr_diff must be >= 1, got {lr_diff!r}")
    prep = dict(
        smooth=smooth, beta=beta, stop_div=stop_div, skip_start=skip_start, skip_end=skip_end
    )
    return _run(
        "slide", slide, sweep, prep, lr_diff=lr_diff, thresh=thresh, adjust_value=adjust_value
    )
