r"""Smith (2015, "Cyclical Learning Rates for Training Neural Networks", §3.3) accuracy method.

Smith runs the range test while evaluating *validation accuracy* and reads off two LRs:
"when the accuracy starts to increase" (→ ``min_lr``, his ``base_lr``) and "when the accuracy
slows, becomes ragged, or starts to fall" (→ ``max_lr``). Made measurable on the accuracy
``a`` smoothed in sample space (running median of 3, then Savitzky–Golay of degree 2 over
``w = odd(max(5, m/8))`` samples):

.. math::
    a_{low} = \min_{i \le i_{peak}} s_i,\quad \text{rise} = s_{peak} - a_{low},\\
    \text{min\_lr} = \text{first LR with } s \ge a_{low} + \rho_0\,\text{rise}\ (\rho_0=0.1),\\
    \text{max\_lr} = \text{first LR with } s \ge a_{low} + \rho_1\,\text{rise}\ (\rho_1=0.9),

i.e. ``max_lr`` is where the rise has flattened to within 10 % of the peak: the point where
the accuracy "slows" (on a curve that peaks and falls it is just before the peak, on a ragged
plateau it is where the plateau starts). Confidence: ``sqrt(q_rise) * q_fall * sqrt(q_n)`` with
``q_rise = clip((z-5)/15)``, ``z = rise / σ_s``; ``q_fall = 1`` if the accuracy falls by at least
``3σ_s`` after the peak (the top was seen), else 0.6; ``q_n = clip(m/20)``.
"""

from __future__ import annotations

import math

import numpy as np

from superconverge.bounds import signal as sig
from superconverge.bounds.types import Pick, SuggestionError, Sweep

__all__ = ["MIN_ACCURACY_POINTS", "accuracy_method"]

MIN_ACCURACY_POINTS = 5


def _clip01(v: float) -> float:
    return float(min(max(v, 0.0), 1.0)) if math.isfinite(v) else 0.0


def accuracy_method(
    sweep: Sweep, *, rise_start: float = 0.1, rise_end: float = 0.9, window: int | None = None
) -> Pick:
    """Registry entry ``accuracy``; needs ``accuracies`` (and ``accuracy_lrs`` when the
    accuracy was measured at other LRs than the loss). Defines ``min_lr`` itself."""
    if sweep.accuracies is None:
        raise SuggestionError(
            "method 'accuracy' needs the validation accuracy of the range test: pass "
            "accuracies=... (and accuracy_lrs=... if measured at other LRs than the loss)"
        )
    if not (0.0 <= rise_start < rise_end <= 1.0):
        raise SuggestionError(
            f"need 0 <= rise_start < rise_end <= 1, got {rise_start!r}, {rise_end!r}"
        )
    acc_lrs = sweep.accuracy_lrs if sweep.accuracy_lrs is not None else sweep.lrs
    acc = np.asarray(sweep.accuracies, dtype=float)
    ok = np.isfinite(acc)
    m = int(ok.sum())
    if m < MIN_ACCURACY_POINTS:
        raise SuggestionError(
            f"only {m} finite accuracy values; at least {MIN_ACCURACY_POINTS} are needed: "
            "evaluate the validation accuracy more often during the sweep."
        )
    x = np.log10(acc_lrs[ok])
    a = acc[ok]
    w = window if window is not None else sig.odd(max(5, m / 8), 5, max(5, m // 2))
    w = sig.odd(w, 3, m)
    s = sig.smooth(sig.despike(a, 3), w, 2) if w >= 5 else sig.despike(a, 3)
    sigma_s = sig.robust_noise_std(a) * (sig.savgol_noise_gain(w, 2) if w >= 5 else 1.0)

    i_peak = int(np.argmax(s))
    i_low = int(np.argmin(s[: i_peak + 1]))
    rise = float(s[i_peak] - s[i_low])
    z = rise / sigma_s if sigma_s > 0 else (math.inf if rise > 0 else 0.0)
    fall = float(s[i_peak] - np.min(s[i_peak:]))
    flat = bool(z < 5.0 or rise <= 0)

    if flat:
        x_max = float(x[i_peak])
        x_min = None
        reason = (
            f"accuracy: no clear rise (by {rise:.3g}, {z:.1f}x its noise); widen the LR range "
            "or evaluate on more validation data; max LR is a placeholder at the best accuracy"
        )
    else:
        x_min = sig.crossing(x, s, float(s[i_low]) + rise_start * rise, i_low, i_peak)
        x_max = sig.crossing(x, s, float(s[i_low]) + rise_end * rise, i_low, i_peak)
        x_min = float(x[i_low]) if x_min is None else x_min
        x_max = float(x[i_peak]) if x_max is None else x_max
        reason = (
            f"accuracy starts rising at {10**x_min:.2g} and is within "
            f"{100 * (1 - rise_end):g}% of its peak ({s[i_peak]:.3g} at {10 ** x[i_peak]:.2g}) "
            f"from {10**x_max:.2g}"
            + ("" if fall >= 3 * sigma_s else "; it never falls afterwards (extend the sweep)")
        )
    q_rise = _clip01((z - 5.0) / 15.0)
    q_fall = 1.0 if fall >= 3 * sigma_s and not flat else 0.6
    q_n = _clip01(m / 20.0)
    conf = math.sqrt(q_rise) * q_fall * math.sqrt(q_n)
    if flat:
        conf = min(conf, 0.2)
    max_lr = float(10.0**x_max)
    min_lr = None if x_min is None or x_min >= x_max else float(10.0**x_min)
    diag = {
        "accuracy_log_lr": x,
        "accuracy": a,
        "accuracy_smoothed": s,
        "accuracy_derivative": sig.log_derivative(s, x),
        "peak_accuracy": float(s[i_peak]),
        "peak_accuracy_lr": float(10 ** x[i_peak]),
        "rise_start_lr": None if x_min is None else float(10**x_min),
        "rise_end_lr": max_lr,
        "snr": float(z),
        "flat": flat,
    }
    return Pick(max_lr=max_lr, min_lr=min_lr, confidence=conf, reason=reason, diagnostics=diag)
