"""Signal-processing helpers for range-test curves (built on :mod:`scipy.signal`).

All curves are sampled at increasing learning rates; ``x = log10(lr)`` is the abscissa used
for derivatives. Smoothing works in *sample index* space, where range-test noise is roughly
i.i.d. per batch, so that a window of ``w`` samples always averages ``w`` batches, whatever
the LR spacing (exponential or linear sweep).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import signal

from superconverge.defaults import LOSS_EMA_BETA
from superconverge.errors import ArgumentError

__all__ = [
    "crossing",
    "debiased_ema",
    "despike",
    "log_derivative",
    "odd",
    "refine_log_peak",
    "robust_noise_std",
    "savgol_noise_gain",
    "smooth",
]


def odd(k: float, lo: int = 1, hi: int | None = None) -> int:
    """Round ``k`` to an odd integer and clip it to ``[lo, hi]`` (odd bounds are respected).

    ``hi`` is rounded *down* to an odd number first, ``lo`` *up*; ``hi`` wins if they cross.
    """
    n = int(np.rint(k))
    if n % 2 == 0:
        n += 1
    lo_odd = lo if lo % 2 == 1 else lo + 1
    n = max(n, lo_odd)
    if hi is not None:
        hi_odd = hi if hi % 2 == 1 else hi - 1
        n = min(n, max(hi_odd, 1))
    return n


def robust_noise_std(y: np.ndarray) -> float:
    r"""Per-sample noise standard deviation from first differences, robust to spikes and trend.

    .. math:: \hat\sigma = \frac{1.4826\,\operatorname{MAD}(\Delta y)}{\sqrt 2}

    For i.i.d. noise ``Var(Δy) = 2σ²``; a smooth trend contributes little to ``Δy`` and the
    median absolute deviation ignores spikes and the explosive tail.
    """
    y = np.asarray(y, dtype=float)
    if y.size < 3:
        return 0.0
    d = np.diff(y)
    mad = float(np.median(np.abs(d - np.median(d))))
    return 1.4826 * mad / math.sqrt(2.0)


def despike(y: np.ndarray, kernel: int) -> np.ndarray:
    """Running median of odd length ``kernel`` with edge-value padding.

    Removes isolated spikes up to ``(kernel - 1) // 2`` samples long while keeping steps and
    the level at the ends (``scipy.signal.medfilt`` zero-pads, so the edges are padded with
    the end values first).
    """
    y = np.asarray(y, dtype=float)
    if kernel <= 1 or y.size < 3:
        return y.copy()
    kernel = odd(kernel, 3, y.size if y.size % 2 == 1 else y.size - 1)
    h = kernel // 2
    padded = np.pad(y, h, mode="edge")
    return signal.medfilt(padded, kernel)[h:-h]


def smooth(y: np.ndarray, window: int, polyorder: int = 2) -> np.ndarray:
    r"""Savitzky–Golay smoothing (local least-squares polynomial of degree ``polyorder`` over
    ``window`` samples); the ends use a polynomial fit to the end window (``mode="interp"``).
    """
    y = np.asarray(y, dtype=float)
    window = odd(window, polyorder + 2, y.size)
    if window <= polyorder:
        return y.copy()
    return signal.savgol_filter(y, window, polyorder, mode="interp")


def savgol_noise_gain(window: int, polyorder: int = 2) -> float:
    r"""Noise gain :math:`g=\sqrt{\sum_k c_k^2}` of the centre Savitzky–Golay coefficients:
    white noise of std ``σ`` leaves ``g σ`` in the smoothed curve (e.g. ``g ≈ 0.42`` for
    ``window=13, polyorder=2``).
    """
    if window <= polyorder:
        return 1.0
    c = signal.savgol_coeffs(window, polyorder)
    return float(np.sqrt(np.sum(c**2)))


def log_derivative(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    r"""Derivative :math:`\mathrm{d}s/\mathrm{d}\log_{10}(\mathrm{lr})` by second-order finite
    differences on the (possibly non-uniform) grid ``x`` (``numpy.gradient``)."""
    s = np.asarray(s, dtype=float)
    if s.size < 2:
        return np.zeros_like(s)
    return np.gradient(s, np.asarray(x, dtype=float))


def debiased_ema(y: np.ndarray, beta: float = LOSS_EMA_BETA) -> np.ndarray:
    r"""fastai's ``AvgSmoothLoss`` (also Lightning's range-test loss): a debiased exponential
    moving average

    .. math:: v_i = \beta v_{i-1} + (1-\beta) y_i,\quad v_{-1}=0,\qquad
              \tilde y_i = \frac{v_i}{1-\beta^{i+1}}.

    NaN or inf in ``y`` propagate to every later value, as in the originals.
    """
    y = np.asarray(y, dtype=float)
    if not 0.0 <= beta < 1.0:
        raise ArgumentError(f"beta must be in [0, 1), got {beta}")
    if y.size == 0:
        return y.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        v = signal.lfilter([1.0 - beta], [1.0, -beta], y)
        return v / (1.0 - beta ** np.arange(1, y.size + 1))


def crossing(x: np.ndarray, s: np.ndarray, level: float, i_from: int, i_to: int) -> float | None:
    """Position in ``x`` where ``s`` first crosses ``level`` walking from index ``i_from``
    towards ``i_to`` (either direction), linearly interpolated between the two samples that
    bracket the crossing.

    ``s[i_from]`` is on one side of ``level``; the crossing is the first sample on the other
    side. Returns ``None`` if ``s`` never crosses.
    """
    step = 1 if i_to >= i_from else -1
    below = s[i_from] <= level
    prev = i_from
    for i in range(i_from + step, i_to + step, step):
        if (s[i] <= level) != below:
            s0, s1 = s[prev], s[i]
            t = 0.5 if s1 == s0 else float((level - s0) / (s1 - s0))
            t = min(max(t, 0.0), 1.0)
            return float(x[prev] + t * (x[i] - x[prev]))
        prev = i
    return None


def final_rise(x: np.ndarray, s: np.ndarray, level: float, i_from: int) -> float | None:
    """Position in ``x`` where ``s`` rises above ``level`` for the last time after index
    ``i_from`` (``s[i_from] <= level``) and stays above it to the end, interpolated like
    :func:`crossing`; ``None`` when ``s`` ends at or below ``level``. An excursion above
    ``level`` that comes back below it before the end is skipped: only the final one counts.
    """
    if s[-1] <= level:
        return None
    below = np.flatnonzero(s[i_from:] <= level)
    last_below = i_from + int(below[-1])
    return crossing(x, s, level, last_below, s.size - 1)


def refine_log_peak(x: Sequence[float], scores: Sequence[float], *,
                    start: float | None = None) -> float:
    """Parabolic peak interpolation: ``x`` of the best score on an evenly spaced, ascending
    grid ``x``, moved to the vertex of the parabola through it and its two neighbours,

        x* = x_i + h · (s_{i-1} − s_{i+1}) / (2 (s_{i-1} − 2 s_i + s_{i+1})),  |x* − x_i| ≤ h/2

    (``h`` the grid step); the best point itself at an end of the grid, when a neighbour's
    score is not finite, or when the three points are not concave. ``start``: the best
    point's ``x`` when ties were broken elsewhere."""
    xs, s = np.asarray(x, dtype=float), np.asarray(scores, dtype=float)
    i = int(np.argmin(np.abs(xs - start))) if start is not None else int(np.argmax(s))
    if i == 0 or i == xs.size - 1 or not np.isfinite(s[i - 1:i + 2]).all():
        return float(xs[i])
    h = float(xs[i + 1] - xs[i])
    den = s[i - 1] - 2 * s[i] + s[i + 1]
    offset = 0.0 if den >= 0 else 0.5 * (s[i - 1] - s[i + 1]) / den
    return float(xs[i] + h * min(max(offset, -0.5), 0.5))
