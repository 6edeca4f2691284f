r"""The default ``auto`` method: LR bounds by signal processing in log-LR.

Pipeline (``x = log10(lr)``, ``y`` the per-batch loss, ``σ`` its noise std):

1. **Non-finite values.** The loss *diverged* at the first non-finite value from which on at
   least half of the remaining values are non-finite; everything from there is dropped and
   that LR is a divergence point. Isolated NaN/inf earlier are dropped as glitches.
2. **Robust smoothing** in sample-index space: a running median of ``k = odd(2w/3) ≥ 5``
   removes spikes (a running median leaves monotone stretches and steps unchanged), values
   above ``cap = y_start + max(depth₀, 10σ)`` are clipped (so a 1e30 explosion cannot leak
   through the filter into the minimum), then a Savitzky–Golay filter (degree 2) of ``w``
   samples, ``w ≈ window_decades × points per decade`` (``5 ≤ w ≤ m/3``). ``s`` is the smoothed
   curve, ``s' = ds/dx`` its log-LR derivative. The smoothed noise is ``σ_s = g(w) σ`` with the
   Savitzky–Golay noise gain ``g`` (an over-estimate: the median filter removes some too).
3. **Landmarks.** ``i_min = argmin s``; the descent ``depth = max(s[:i_min]) - s_min`` and its
   significance ``z = depth / σ_s``; the steepest point ``argmin s'`` before the minimum;
   the *basin*: the band ``s ≤ s_min + tol`` with ``tol = max(band_frac·depth, 3σ_s)``, its
   left edge ``x_L`` (where the descent is essentially complete) and right edge ``x_R``
   (where the loss starts rising); *divergence* ``x_div``: the LR past the minimum from which
   on ``s > s_min + max(div_frac·depth, 6σ_s)`` to the end of the sweep, or the first
   non-finite loss. An excursion above that level which comes back below it before the end (a
   *transient spike*, ``x_spike``: deeper networks with batch norm often jump to a worse
   region of the loss surface for a few steps and recover) is not divergence: ``resnet20`` on
   Fashion-MNIST trains as well or better at max LR 0.1 and 0.25 than at the 0.024–0.038 that
   backing off from its spike gave (``benchmarks/results/recipe_ablation_resnet20.md``).
4. **Pick.**

   .. math:: x_{max} = \min\bigl(x_R,\; x_{div} - \gamma\bigr)

   with ``γ = guard_decades`` (:data:`DEFAULT_GUARD_DECADES` = 0.8 decade). Without
   divergence ``x_div`` is replaced by the end of the sweep (divergence may lie just beyond
   it), without a rise ``x_R`` by the end of the sweep. So the max LR is the highest LR at
   which the loss is still within ``tol`` of its minimum (low and stable), but at least ``γ``
   below where the loss blew up. The guard is the back-off: the range test holds each LR for
   one step and its loss lags, while a One Cycle schedule spends a good part of the cycle near
   its peak, and overshooting costs far more than undershooting (past the cliff a run does not
   train at all). The pick therefore does not depend on where inside a flat bottom the (noisy)
   minimum happens to fall. When ``x_div - γ < x_L`` (the curve barely falls before blowing
   up), the pick lies before the basin and the reason says so.

   ``γ`` was chosen by leave-one-task-out validation on the curves and grid runs of
   ``benchmarks/lr_selection.py`` (4 tasks × 3 seeds; for each held-out task, the ``γ`` of
   0.2…1.0 with the lowest regret on the other three tasks; 0.8 won in all four folds;
   ``benchmarks/results/lr_selection_guard.md``). The earlier 1 decade landed 0.3–0.4 decade
   below the best grid LR on most curves.

   **The training budget does not change the pick.** ``suggest(..., total_steps=T)`` records
   ``T`` (``diagnostics["total_steps"]``; ``budget_aware`` is ``False``), but ``γ`` stays 0.8
   whatever ``T``. Measured (issue 19; ``benchmarks/results/lr_selection.md`` and
   ``lr_budget_rule.md``): 4 tasks × 3 seeds × budgets of 2, 4 and 8 epochs (100–800
   steps, constant Nesterov 0.9, paired grids). The best grid max LR moves *up* with the
   budget on the batch-norm CNNs (+0.10 ± 0.13 and +0.23 ± 0.08 decade per doubling of the
   steps, per-seed slopes) and slightly *down* on the MLPs (−0.03 ± 0.05, −0.03 ± 0.01), while
   the accuracy plateau widens, so the regret of the fixed guard falls with the budget
   (pooled 1.95 → 1.27 → 0.93 pp; 2.29 → 1.37 → 1.00 before transient spikes were told from
   divergence). A budget-dependent guard
   ``γ(T) = γ₀ + β log2(T / 100)``, ``β`` in −0.3…0.3, fitted on the stored runs, lowered the
   held-out regret against a budget-free ``γ₀`` only when a task was held out (estimated
   regret, 1.78 vs 2.91 pp; leave one seed out 2.69 vs 2.66, leave one budget out 1.50 vs
   1.39; the fitted ``β`` changes sign between folds), and the current 0.8 did better than
   either refit when a task or a seed was held out (1.72 pp).
5. **Confidence** (all factors in ``[0, 1]``):

   .. math:: c = \sqrt{q_{depth}}\; q_{div}\; \sqrt{q_{support}}\; q_{flags},\quad
             q_{depth} = \mathrm{clip}\Bigl(\tfrac{z-5}{15}\Bigr)\,
                         \mathrm{clip}\Bigl(\tfrac{\text{depth}/|y|}{0.1}\Bigr)

   ``q_div`` = 1 if divergence was seen, 0.6 if the loss rose but not enough to call it
   divergence, 0.5 if it was flat or still falling at the end; ``q_support = clip(n/20)``
   with ``n`` samples in the descent; ``q_flags`` lowers it when the pick lies before the
   basin (0.85), when the loss already falls at the first LR (0.8), when the basin reaches
   the start of the sweep (0.5) or when the pick is clamped to it (0.5).
   A *flat* curve (``z < 5`` or a relative depth under 2 %) gets ``c ≤ 0.2`` and a reason
   asking to widen the range.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from superconverge.bounds import signal as sig
from superconverge.bounds.types import Pick, SuggestionError, Sweep

__all__ = [
    "DEFAULT_GUARD_DECADES",
    "MIN_FINITE_POINTS",
    "CurveAnalysis",
    "analyse_curve",
    "auto_method",
    "curve_quality",
]

logger = logging.getLogger(__name__)

#: fewest finite loss values (before divergence) any loss-based method accepts
MIN_FINITE_POINTS = 8

#: ``γ``: how far (decades of LR) ``max_lr`` stays below divergence (module docstring, step 4)
DEFAULT_GUARD_DECADES = 0.8

_Z_FLAT = 5.0
_REL_FLAT = 0.02


@dataclass
class CurveAnalysis:
    """Everything the ``auto`` method measured on a curve (all positions in ``log10(lr)``)."""

    x: np.ndarray
    raw: np.ndarray
    smoothed: np.ndarray
    derivative: np.ndarray
    window: int
    median_kernel: int
    noise: float
    smoothed_noise: float
    i_min: int
    i_top: int
    depth: float
    snr: float
    rel_depth: float
    flat: bool
    x_steep: float
    x_descent_start: float
    x_basin: float
    x_rise: float | None
    x_div: float | None
    x_spike: float | None
    divergence_kind: str | None
    x_nonfinite: float | None
    n_dropped: int
    tol: float

    @property
    def diverged(self) -> bool:
        return self.x_div is not None

    def quality(self) -> tuple[float, float, float]:
        """``(q_depth, q_div, q_support)`` as defined in the module docstring."""
        q_depth = _clip01((self.snr - _Z_FLAT) / 15.0) * _clip01(self.rel_depth / 0.1)
        if self.diverged:
            q_div = 1.0
        elif self.x_rise is not None:
            q_div = 0.6
        else:
            q_div = 0.5
        n_desc = self.i_min - self.i_top
        q_support = _clip01(n_desc / 20.0)
        return q_depth, q_div, q_support


def _clip01(v: float) -> float:
    return float(min(max(v, 0.0), 1.0)) if math.isfinite(v) else 0.0


def _usable_prefix(y: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Mask of finite samples before divergence, and the index where the loss diverged to
    non-finite (the first non-finite value from which ≥ 50 % of the rest is non-finite)."""
    bad = ~np.isfinite(y)
    n = y.size
    suffix_bad = np.cumsum(bad[::-1])[::-1]
    frac = suffix_bad / (n - np.arange(n))
    cand = np.flatnonzero(bad & (frac >= 0.5))
    i_nf = int(cand[0]) if cand.size else None
    keep = ~bad
    if i_nf is not None:
        keep[i_nf:] = False
    return keep, i_nf


def analyse_curve(
    lrs: np.ndarray,
    losses: np.ndarray,
    *,
    window: int | None = None,
    window_decades: float = 0.3,
    band_frac: float = 0.1,
    div_frac: float = 0.5,
) -> CurveAnalysis:
    """Smooth a range-test curve and locate its landmarks (steps 1–3 of the module docstring).

    Raises:
        SuggestionError: fewer than :data:`MIN_FINITE_POINTS` finite losses before divergence.
    """
    lrs = np.asarray(lrs, dtype=float)
    # magnitudes beyond 1e100 are a blow-up anyway; clipping keeps all arithmetic finite
    y_all = np.asarray(losses, dtype=float)
    y_all = np.where(np.isfinite(y_all), np.clip(y_all, -1e100, 1e100), y_all)
    x_all = np.log10(lrs)
    keep, i_nf = _usable_prefix(y_all)
    m = int(keep.sum())
    if m < MIN_FINITE_POINTS:
        where = (
            f"before the loss became non-finite at lr={lrs[i_nf]:.3g}"
            if i_nf is not None
            else "in the sweep"
        )
        raise SuggestionError(
            f"only {m} finite loss values {where}; at least {MIN_FINITE_POINTS} are needed. "
            "Sweep more steps, or start the sweep at a lower learning rate."
        )
    n_dropped = int(np.count_nonzero(~np.isfinite(y_all[: i_nf if i_nf is not None else None])))
    x = x_all[keep]
    y = y_all[keep]
    x_nf = float(x_all[i_nf]) if i_nf is not None else None

    # --- smoothing -----------------------------------------------------------------------
    span = float(x[-1] - x[0])
    density = (m - 1) / span if span > 0 else float(m)
    w_hi = max(5, m // 3)
    w = sig.odd(window if window is not None else window_decades * density, 5, w_hi)
    w = min(w, sig.odd(m, 1, m))
    km = sig.odd(max(5, 2 * w // 3), 5, w)
    sigma = sig.robust_noise_std(y)
    med = sig.despike(y, km)
    head = max(3, w // 2)
    y_start = float(np.median(med[:head]))
    depth0 = max(y_start - float(np.min(med)), 0.0)
    scale = max(abs(y_start), abs(float(np.min(med))), 1e-300)
    cap = y_start + max(depth0, 10.0 * sigma, 1e-9 * scale)
    capped = np.minimum(med, cap)
    s = sig.smooth(capped, w, 2)
    d = sig.log_derivative(s, x)
    sigma_s = sigma * sig.savgol_noise_gain(w, 2)

    # --- landmarks -----------------------------------------------------------------------
    i_min = int(np.argmin(s))
    s_min = float(s[i_min])
    i_top = int(np.argmax(s[: i_min + 1]))
    depth = float(s[i_top] - s_min)
    snr = depth / sigma_s if sigma_s > 0 else (math.inf if depth > 0 else 0.0)
    level_scale = max(abs(float(s[i_top])), abs(s_min), 1e-300)
    rel_depth = depth / level_scale
    flat = bool(snr < _Z_FLAT or rel_depth < _REL_FLAT)

    if i_min > i_top:
        # the derivative at the very first samples comes from the end-window polynomial and is
        # noisy; skip half a window there when the descent is long enough
        j0 = i_top + w // 2 if (i_top < w // 2 and i_min - i_top > w) else i_top
        i_steep = j0 + int(np.argmin(d[j0 : i_min + 1]))
    else:
        i_steep = i_min
    x_steep = float(x[i_steep])
    x_ds = sig.crossing(x, s, float(s[i_top]) - 0.1 * depth, i_top, i_steep)
    x_descent_start = float(x[i_top]) if x_ds is None else x_ds

    tol = max(band_frac * depth, 3.0 * sigma_s)
    level = s_min + tol
    x_l = sig.crossing(x, s, level, i_min, 0)
    x_basin = float(x[0]) if x_l is None else x_l
    x_rise = sig.crossing(x, s, level, i_min, m - 1)

    div_level = s_min + max(div_frac * depth, 6.0 * sigma_s)
    x_first = sig.crossing(x, s, div_level, i_min, m - 1)
    x_div_s = sig.final_rise(x, s, div_level, i_min)
    kind: str | None = None
    x_div: float | None = None
    if x_div_s is not None:
        x_div, kind = x_div_s, "smoothed loss rose above its minimum"
    if x_nf is not None and (x_div is None or x_nf < x_div):
        x_div, kind = x_nf, "loss became non-finite"
    # an excursion above the level before the one that lasts (or before a NaN) came back down
    x_spike = (x_first if x_first is not None and x_first != x_div_s
               and (x_div is None or x_first < x_div) else None)

    return CurveAnalysis(
        x=x,
        raw=y,
        smoothed=s,
        derivative=d,
        window=w,
        median_kernel=km,
        noise=sigma,
        smoothed_noise=sigma_s,
        i_min=i_min,
        i_top=i_top,
        depth=depth,
        snr=float(snr),
        rel_depth=float(rel_depth),
        flat=flat,
        x_steep=x_steep,
        x_descent_start=x_descent_start,
        x_basin=x_basin,
        x_rise=x_rise,
        x_div=x_div,
        x_spike=x_spike,
        divergence_kind=kind,
        x_nonfinite=x_nf,
        n_dropped=n_dropped,
        tol=float(tol),
    )


def curve_quality(lrs: np.ndarray, losses: np.ndarray) -> float:
    r"""How well a curve supports *any* LR pick, :math:`\sqrt{q_{depth}}\,q_{div}\,
    \sqrt{q_{support}}` in ``[0, 1]`` (``≤ 0.2`` for flat curves, 0 when unusable).

    Used as the confidence of the comparison methods, which have none of their own.
    """
    try:
        a = analyse_curve(lrs, losses)
    except SuggestionError:
        return 0.0
    q_depth, q_div, q_support = a.quality()
    c = math.sqrt(q_depth) * q_div * math.sqrt(q_support)
    return min(c, 0.2) if a.flat else c


def _lr(x: float | None) -> str:
    return "n/a" if x is None else f"{10.0**x:.2g}"


def auto_method(
    sweep: Sweep,
    *,
    window: int | None = None,
    window_decades: float = 0.3,
    band_frac: float = 0.1,
    div_frac: float = 0.5,
    guard_decades: float = DEFAULT_GUARD_DECADES,
) -> Pick:
    """The default method (see the module docstring for the algorithm and formulas).

    Args:
        window: Savitzky–Golay window in samples (odd); default from ``window_decades``.
        window_decades: smoothing window as a width in decades of LR.
        band_frac: basin tolerance as a fraction of the descent depth.
        div_frac: rise above the minimum, as a fraction of the depth, that counts as divergence.
        guard_decades: ``max_lr`` stays this many decades below the divergence LR (or below the
            end of the sweep when the loss never diverged).
    """
    for name, val, lo_ok in (
        ("window_decades", window_decades, 0.0),
        ("band_frac", band_frac, 0.0),
        ("div_frac", div_frac, 0.0),
    ):
        if not (math.isfinite(val) and val > lo_ok):
            raise SuggestionError(f"{name} must be a positive number, got {val!r}")
    if not (math.isfinite(guard_decades) and guard_decades >= 0):
        raise SuggestionError(f"guard_decades must be >= 0, got {guard_decades!r}")
    if window is not None and int(window) < 3:
        raise SuggestionError(f"window must be an odd number of samples >= 3, got {window!r}")

    a = analyse_curve(
        sweep.lrs,
        sweep.losses,
        window=window,
        window_decades=window_decades,
        band_frac=band_frac,
        div_frac=div_frac,
    )
    x0, x_end = float(np.log10(sweep.lrs[0])), float(np.log10(sweep.lrs[-1]))
    q_depth, q_div, q_support = a.quality()
    q_flags = 1.0
    notes: list[str] = []

    x_ref = a.x_div if a.diverged else x_end
    x_guard = x_ref - guard_decades
    if a.flat:
        x_pick = x_guard
        verdict = (
            f"no clear descent: the smoothed loss falls by only {a.depth:.3g} "
            f"({a.snr:.1f}x its noise, {100 * a.rel_depth:.1f}% of its level) over "
            f"{_lr(x0)}..{_lr(x_end)}; widen the LR range (start lower and end higher) or sweep "
            "more steps. max LR is a placeholder "
            + (
                f"{guard_decades:g} decade(s) below where the loss blew up ({_lr(a.x_div)})"
                if a.diverged
                else f"{guard_decades:g} decade(s) below the largest LR swept"
            )
        )
    else:
        x_top = a.x_rise if a.x_rise is not None else x_end
        x_pick = min(x_top, x_guard)
        parts = [
            f"loss falls fastest at {_lr(a.x_steep)}",
            f"is within {100 * band_frac:g}% of its minimum from {_lr(a.x_basin)} "
            f"(minimum at {_lr(float(a.x[a.i_min]))})",
        ]
        if a.x_spike is not None:
            parts.append(f"spikes at {_lr(a.x_spike)} and recovers (not divergence)")
        if a.diverged:
            parts.append(f"blows up at {_lr(a.x_div)}")
        elif a.x_rise is not None:
            parts.append(f"rises gently after {_lr(a.x_rise)} but never diverges")
            notes.append("extend the sweep to higher LRs to see divergence")
        else:
            end_state = "still falling" if a.i_min >= a.x.size - 2 else "flat"
            parts.append(f"is {end_state} at the end of the sweep ({_lr(x_end)})")
            notes.append("extend the sweep to higher LRs to see divergence")
        if a.x_basin <= x0 + 1e-12:
            q_flags *= 0.5
            notes.append("the loss is near its minimum from the first LR: start the sweep lower")
        elif a.i_top == 0 and a.x_descent_start - x0 < 0.1:
            q_flags *= 0.8
            notes.append("the loss is already falling at the first LR: start the sweep lower")
        what = "divergence" if a.diverged else "the end of the sweep"
        if x_guard < a.x_basin:
            q_flags *= 0.85
            why = (
                "the curve barely falls before blowing up"
                if a.diverged
                else "the low basin is too close to the end of the sweep"
            )
            choice = (
                f"max LR set {guard_decades:g} decade(s) below {what}, before the loss is "
                f"near its minimum ({why})"
            )
        elif x_guard < x_top:
            choice = f"max LR in the low basin, {guard_decades:g} decade(s) below {what}"
        else:
            choice = "max LR at the top of the low basin, where the loss starts rising"
        verdict = "; ".join([", ".join(parts), choice])

    if x_pick < x0:
        x_pick = x0
        q_flags *= 0.5
        notes.append("clamped to the lowest swept LR: start the sweep lower")
    x_pick = min(x_pick, x_end)

    confidence = math.sqrt(q_depth) * q_div * math.sqrt(q_support) * q_flags
    if a.flat:
        confidence = min(confidence, 0.2)
    if a.n_dropped:
        notes.append(f"{a.n_dropped} isolated non-finite loss value(s) ignored")
    reason = verdict + ("" if not notes else " (" + "; ".join(notes) + ")")
    max_lr = float(np.clip(10.0**x_pick, sweep.lrs[0], sweep.lrs[-1]))
    logger.debug("auto: %s -> max_lr=%.4g confidence=%.3f", reason, max_lr, confidence)

    diagnostics: dict[str, Any] = {
        "log_lr": a.x,
        "lrs": 10.0**a.x,
        "losses": a.raw,
        "smoothed": a.smoothed,
        "derivative": a.derivative,
        "window": a.window,
        "median_kernel": a.median_kernel,
        "noise_std": a.noise,
        "smoothed_noise_std": a.smoothed_noise,
        "depth": a.depth,
        "snr": a.snr,
        "relative_depth": a.rel_depth,
        "flat": a.flat,
        "basin_tolerance": a.tol,
        "min_loss": float(a.smoothed[a.i_min]),
        "min_loss_lr": float(10.0 ** a.x[a.i_min]),
        "steepest_lr": float(10.0**a.x_steep),
        "descent_start_lr": float(10.0**a.x_descent_start),
        "basin_start_lr": float(10.0**a.x_basin),
        "rise_lr": None if a.x_rise is None else float(10.0**a.x_rise),
        "divergence_lr": None if a.x_div is None else float(10.0**a.x_div),
        "divergence_kind": a.divergence_kind,
        "spike_lr": None if a.x_spike is None else float(10.0**a.x_spike),
        "nonfinite_lr": None if a.x_nonfinite is None else float(10.0**a.x_nonfinite),
        "diverged": a.diverged,
        "n_dropped_nonfinite": a.n_dropped,
        "guard_decades": guard_decades,
        "quality": {"depth": q_depth, "divergence": q_div, "support": q_support, "flags": q_flags},
    }
    return Pick(max_lr=max_lr, confidence=confidence, reason=reason, diagnostics=diagnostics)
