"""Smith's search for weight decay and batch-norm momentum, as pure logic (no Keras, no Optuna).

The procedure (L. N. Smith, "A disciplined approach to neural network hyper-parameters:
Part 1", 2018, section 4.4; Smith & Topin 2017 for the BN momentum):

1. **Weight-decay grid.** Weight decay ``λ`` is held constant during training. Without a prior,
   try ``1e-3, 1e-4, 1e-5, 0`` (:data:`WEIGHT_DECAY_GRIDS` also has ``"deep"`` —
   ``1e-4 … 1e-6`` for deeper nets or harder data — and ``"shallow"`` — ``1e-2 … 1e-4``), each in
   a short one-cycle run at the same max LR, judged on validation loss, at the principled
   batch-norm momentum :func:`default_bn_momentum`.
2. **Bisect the exponent.** Take the best value and the better of its two neighbours on the
   exponent axis and try the midpoint ``10^((e_best + e_neighbour) / 2)`` (``1e-3`` and ``1e-4``
   give ``10^-3.5 ≈ 3.16e-4``). ``0`` sits one decade below the smallest non-zero candidate on
   that axis (:func:`zero_exponent`). Repeating this with every value tried so far narrows the
   interval by half each time; it stops when the midpoint was already tried. The prior (the
   configured default) is in the grid and is kept unless the best value lowers the validation
   loss by more than ``wd_tolerance`` (relative, :data:`WD_TOLERANCE`): on values whose final
   runs end level, short runs differ by noise. The loss is the one on the validation *data*;
   Keras's ``val_loss`` also holds the L2 term, which grows with ``λ`` itself.
3. **Batch-norm momentum.** At the chosen weight decay, check candidates between ``0.9`` and
   ``0.999`` (Keras convention: ``moving = m·moving + (1 - m)·batch``, time constant
   ``τ = 1/(1 - m)`` steps) with the same short runs. The principled default keeps the
   momentum unless another candidate lowers the validation loss by more than
   ``bn_tolerance`` (relative): short runs are noisy and the default has a reason.

Everything here is a function of the evaluations finished so far, so a killed search resumes by
recomputing the plan from what is stored, and several workers compute the same plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from superconverge.errors import ArgumentError
from superconverge.regularization import recommended_bn_momentum

__all__ = [
    "BN_MOMENTUM_CANDIDATES",
    "PHASES",
    "WD_TOLERANCE",
    "WEIGHT_DECAY_GRIDS",
    "Candidate",
    "Decision",
    "Evaluation",
    "SearchSpec",
    "bisect_weight_decay",
    "bn_momentum_candidates",
    "decide",
    "default_bn_momentum",
    "exponent",
    "plan_next",
    "rescale_bn_momentum",
    "weight_decay_candidates",
    "zero_exponent",
]

#: Smith's weight-decay grids (Caffe ``λ``; see ``docs/tuning.md`` for Keras' decoupled kind).
WEIGHT_DECAY_GRIDS: dict[str, tuple[float, ...]] = {
    "default": (1e-3, 1e-4, 1e-5, 0.0),
    "deep": (1e-4, 1e-5, 1e-6, 0.0),
    "shallow": (1e-2, 1e-3, 1e-4, 0.0),
}
#: Batch-norm momenta checked besides the principled default (time constants 10 … 1000 steps).
BN_MOMENTUM_CANDIDATES: tuple[float, ...] = (0.9, 0.95, 0.99, 0.999)
#: Search phases in order.
PHASES: tuple[str, ...] = ("weight_decay", "bisection", "bn_momentum")
#: Relative validation-data-loss improvement another weight decay needs to replace the prior
#: (the configured default, always in the grid). On the recipe's short runs
#: (``benchmarks/results/tuning_signal.md``: simple_cnn, 10k Fashion-MNIST, 4-epoch final runs)
#: the values whose final runs ended level with the default (1e-5 … 1e-3, within 0.5 % data
#: loss and 0.3 points of accuracy) differed from it by up to 1.9 % on the short runs: noise,
#: which a margin of 3 % keeps from overturning the default.
WD_TOLERANCE: float = 0.03

_SIGNIFICANT = 4  # digits kept in bisected values: 10^-3.5 -> 3.162e-4


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-15)


def _round_sig(value: float, digits: int = _SIGNIFICANT) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def weight_decay_candidates(grid: str | Sequence[float] | None = None) -> tuple[float, ...]:
    """The weight-decay grid: a preset name (``"default"``, ``"deep"``, ``"shallow"``), your own
    values, or ``None`` for ``"default"`` (``1e-3, 1e-4, 1e-5, 0``). Sorted, largest first,
    duplicates removed.

    Raises:
        ValueError: an unknown preset, a negative or non-finite value.
    """
    if grid is None:
        grid = "default"
    if isinstance(grid, str):
        if grid not in WEIGHT_DECAY_GRIDS:
            raise ArgumentError(
                f"unknown weight-decay grid {grid!r}; use one of {sorted(WEIGHT_DECAY_GRIDS)} "
                "or a list of values"
            )
        values: Iterable[float] = WEIGHT_DECAY_GRIDS[grid]
    else:
        values = grid
    out: list[float] = []
    for value in values:
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ArgumentError(f"weight decays must be finite and >= 0, got {value}")
        if not any(_same(value, v) for v in out):
            out.append(value)
    return tuple(sorted(out, reverse=True))


def default_bn_momentum(total_steps: int, **kwargs: Any) -> float:
    """The principled batch-norm momentum for a run of ``total_steps`` optimizer steps.

    ``m = 1 - fit / (annihilation_fraction · total_steps)`` clipped to ``[0.9, 0.999]``
    (:func:`superconverge.regularization.recommended_bn_momentum`): ``fit = 4`` time constants
    ``τ = 1/(1 - m)`` fit into the last 10% of the cycle, so ``e^-4 ≈ 2%`` of the statistics
    from before the annihilation remain at the end. 158 steps → 0.9, 1,688 → 0.976.
    """
    return recommended_bn_momentum(int(total_steps), **kwargs)


def bn_momentum_candidates(
    default: float,
    candidates: Sequence[float] | None = None,
    *,
    lower: float = 0.9,
    upper: float = 0.999,
) -> tuple[float, ...]:
    """``candidates`` (default :data:`BN_MOMENTUM_CANDIDATES`) kept within ``[lower, upper]``,
    plus ``default``; sorted ascending (fast averages first), duplicates removed.

    Raises:
        ValueError: a value outside ``(0, 1)``.
    """
    values = list(BN_MOMENTUM_CANDIDATES if candidates is None else candidates)
    out: list[float] = []
    for value in [*values, default]:
        value = float(value)
        if not 0.0 < value < 1.0:
            raise ArgumentError(f"batch-norm momenta must lie in (0, 1) (Keras convention), got "
                             f"{value}")
        if value != default and not lower - 1e-12 <= value <= upper + 1e-12:
            continue
        if not any(_same(value, v) for v in out):
            out.append(value)
    return tuple(sorted(out))


def rescale_bn_momentum(momentum: float, from_steps: int, to_steps: int) -> float:
    """The momentum whose time constant is the same *fraction of the run* on ``to_steps``.

    ``τ = 1/(1 - m)``; ``τ' = τ · to_steps / from_steps``, i.e.
    ``1 - m' = (1 - m) · from_steps / to_steps``. Used when the tuning runs are shorter than
    the training they tune for. The result is rounded to 4 decimals and kept below 1.
    """
    if from_steps < 1 or to_steps < 1:
        raise ArgumentError(f"step counts must be >= 1, got {from_steps} and {to_steps}")
    if not 0.0 < momentum < 1.0:
        raise ArgumentError(f"momentum must lie in (0, 1), got {momentum}")
    if from_steps == to_steps:
        return momentum
    one_minus = (1.0 - momentum) * from_steps / to_steps
    return round(min(max(1.0 - one_minus, 0.0), 0.9999), 4)


def zero_exponent(weight_decays: Iterable[float]) -> float:
    """Where ``λ = 0`` sits on the exponent axis: one decade below the smallest non-zero ``λ``
    (``-6`` for the default grid), or ``-6`` when there is none."""
    nonzero = [math.log10(v) for v in weight_decays if v > 0]
    return math.floor(min(nonzero)) - 1.0 if nonzero else -6.0


def exponent(weight_decay: float, zero_at: float) -> float:
    """``log10(λ)``, or ``zero_at`` for ``λ = 0``."""
    return math.log10(weight_decay) if weight_decay > 0 else zero_at


def bisect_weight_decay(
    results: Mapping[float, float], *, zero_at: float | None = None
) -> float | None:
    """The next weight decay to try: the midpoint exponent between the best ``λ`` and the
    better of its neighbours, ``10^((e_best + e_neighbour) / 2)`` (4 significant digits).

    Args:
        results: ``λ -> validation loss`` of the runs so far (``inf`` for pruned or diverged).
        zero_at: exponent used for ``λ = 0`` (default :func:`zero_exponent` of ``results``).

    Returns:
        The new ``λ``, or ``None`` when fewer than two finite results exist or the midpoint was
        tried already (the search has converged at this resolution).
    """
    finite = {wd: loss for wd, loss in results.items() if math.isfinite(loss)}
    if len(results) < 2 or not finite:
        return None
    zero_at = zero_exponent(results) if zero_at is None else zero_at
    ordered = sorted(results, key=lambda wd: exponent(wd, zero_at))
    best = min(finite, key=lambda wd: (finite[wd], -wd))
    i = ordered.index(best)
    neighbours = [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
    neighbour = min(neighbours, key=lambda wd: results[wd])
    mid_exp = (exponent(best, zero_at) + exponent(neighbour, zero_at)) / 2.0
    candidate = _round_sig(10.0**mid_exp)
    if any(_same(candidate, wd) for wd in results):
        return None
    return candidate


@dataclass(frozen=True)
class Candidate:
    """One short run to make: its phase and the two values."""

    phase: str
    weight_decay: float
    bn_momentum: float

    def matches(self, weight_decay: float, bn_momentum: float) -> bool:
        return _same(self.weight_decay, weight_decay) and _same(self.bn_momentum, bn_momentum)


@dataclass(frozen=True)
class Evaluation:
    """A finished short run. ``val_loss`` is ``inf`` when it was pruned or diverged."""

    weight_decay: float
    bn_momentum: float
    val_loss: float
    phase: str = ""
    state: str = "complete"
    val_accuracy: float | None = None
    epochs_run: float = 0.0
    number: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "weight_decay": self.weight_decay,
            "bn_momentum": self.bn_momentum,
            "val_loss": self.val_loss if math.isfinite(self.val_loss) else None,
            "val_accuracy": self.val_accuracy,
            "state": self.state,
            "epochs_run": self.epochs_run,
            "trial": self.number,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        loss = data.get("val_loss")
        return cls(
            weight_decay=float(data["weight_decay"]),
            bn_momentum=float(data["bn_momentum"]),
            val_loss=math.inf if loss is None else float(loss),
            phase=str(data.get("phase", "")),
            state=str(data.get("state", "complete")),
            val_accuracy=data.get("val_accuracy"),
            epochs_run=float(data.get("epochs_run", 0.0)),
            number=data.get("trial"),
            history=dict(data.get("history") or {}),
        )


@dataclass(frozen=True)
class SearchSpec:
    """What to search.

    Attributes:
        weight_decays: the grid (empty: keep ``prior_weight_decay``, no search).
        bn_momenta: momenta checked at the chosen weight decay (empty: keep ``default_bn``).
        default_bn: the principled momentum for the *tuning* run length; the weight-decay
            runs use it.
        prior_weight_decay: used when ``weight_decays`` is empty.
        bisections: bisection steps after the grid (each one more run; fewer when converged).
        bn_tolerance: relative validation-loss improvement another momentum needs to replace
            ``default_bn``.
        wd_tolerance: relative validation-loss improvement another weight decay needs to
            replace ``prior_weight_decay`` when the prior is in the grid.
    """

    weight_decays: tuple[float, ...]
    bn_momenta: tuple[float, ...]
    default_bn: float
    prior_weight_decay: float = 5e-4
    bisections: int = 1
    bn_tolerance: float = 0.01
    wd_tolerance: float = WD_TOLERANCE

    def __post_init__(self) -> None:
        if self.bisections < 0:
            raise ArgumentError(f"bisections must be >= 0, got {self.bisections}")
        if not 0.0 < self.default_bn < 1.0:
            raise ArgumentError(f"default_bn must lie in (0, 1), got {self.default_bn}")
        for name in ("bn_tolerance", "wd_tolerance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value < 1):
                raise ArgumentError(f"{name} must lie in [0, 1), got {value}")

    @property
    def max_runs(self) -> int:
        """Runs the search makes at most (fewer when the bisection converges early)."""
        extra_bn = sum(1 for m in self.bn_momenta if not _same(m, self.default_bn))
        grid = len(self.weight_decays)
        bisections = self.bisections if grid >= 2 else 0
        if not grid and self.bn_momenta:
            extra_bn += 1  # the default momentum is not run by a weight-decay phase
        return grid + bisections + extra_bn

    def to_dict(self) -> dict[str, Any]:
        return {
            "weight_decays": list(self.weight_decays),
            "bn_momenta": list(self.bn_momenta),
            "default_bn": self.default_bn,
            "prior_weight_decay": self.prior_weight_decay,
            "bisections": self.bisections,
            "bn_tolerance": self.bn_tolerance,
            "wd_tolerance": self.wd_tolerance,
        }

    @classmethod
    def from_budget(
        cls,
        weight_decays: tuple[float, ...],
        bn_momenta: tuple[float, ...],
        default_bn: float,
        budget: int | None,
        **kwargs: Any,
    ) -> SearchSpec:
        """A spec whose bisection steps fill ``budget`` runs (``None``: one bisection step).

        Raises:
            ValueError: ``budget`` is smaller than the grid plus the momentum candidates; the
                message says the minimum and how to shrink the lists.
        """
        spec = cls(weight_decays, bn_momenta, default_bn, bisections=0, **kwargs)
        minimum = spec.max_runs
        if budget is None:
            bisections = 1 if len(weight_decays) >= 2 else 0
        else:
            if budget < minimum:
                raise ArgumentError(
                    f"budget {budget} is smaller than the {minimum} runs the candidates need "
                    f"({len(weight_decays)} weight decays, {minimum - len(weight_decays)} "
                    "further batch-norm momenta); raise the budget or pass fewer candidates"
                )
            bisections = budget - minimum if len(weight_decays) >= 2 else 0
        return cls(weight_decays, bn_momenta, default_bn, bisections=bisections, **kwargs)


def _lookup(evaluations: Sequence[Evaluation], weight_decay: float,
            bn_momentum: float) -> Evaluation | None:
    for evaluation in evaluations:
        if _same(evaluation.weight_decay, weight_decay) and _same(
            evaluation.bn_momentum, bn_momentum
        ):
            return evaluation
    return None


def _weight_decay_results(spec: SearchSpec, evaluations: Sequence[Evaluation]
                          ) -> dict[float, float]:
    """``λ -> val loss`` of the runs at the default momentum (grid and bisection)."""
    results: dict[float, float] = {}
    for evaluation in evaluations:
        if _same(evaluation.bn_momentum, spec.default_bn) and evaluation.phase in (
            "weight_decay", "bisection"
        ):
            results.setdefault(evaluation.weight_decay, evaluation.val_loss)
    return results


def _best_weight_decay(results: Mapping[float, float]) -> float | None:
    finite = {wd: loss for wd, loss in results.items() if math.isfinite(loss)}
    return min(finite, key=lambda wd: (finite[wd], -wd)) if finite else None


def _prior_loss(spec: SearchSpec, results: Mapping[float, float]) -> float:
    for wd, loss in results.items():
        if _same(wd, spec.prior_weight_decay):
            return loss
    return math.inf


def _chosen_weight_decay(spec: SearchSpec, evaluations: Sequence[Evaluation]) -> float:
    """The best ``λ`` by validation loss, unless the prior's loss is within ``wd_tolerance``
    of it: ``L_best < (1 − wd_tolerance) · L_prior`` is needed to replace the prior."""
    results = _weight_decay_results(spec, evaluations)
    best = _best_weight_decay(results)
    if best is None:
        return spec.prior_weight_decay
    prior_loss = _prior_loss(spec, results)
    if math.isfinite(prior_loss) and results[best] >= prior_loss * (1.0 - spec.wd_tolerance):
        return spec.prior_weight_decay
    return best


def plan_next(spec: SearchSpec, evaluations: Sequence[Evaluation]) -> list[Candidate] | None:
    """The candidates of the first unfinished phase (some may be finished already), or
    ``None`` when the search is complete.

    Phases: the weight-decay grid at ``default_bn``; ``bisections`` single midpoints (each
    computed from all weight-decay results so far); the momenta at the chosen weight decay.
    """
    grid = [Candidate("weight_decay", wd, spec.default_bn) for wd in spec.weight_decays]
    if any(_lookup(evaluations, c.weight_decay, c.bn_momentum) is None for c in grid):
        return grid
    if len(spec.weight_decays) >= 2:
        done = sum(
            1 for e in evaluations
            if e.phase == "bisection" and _same(e.bn_momentum, spec.default_bn)
        )
        if done < spec.bisections:
            results = _weight_decay_results(spec, evaluations)
            midpoint = bisect_weight_decay(results, zero_at=zero_exponent(spec.weight_decays))
            if midpoint is not None:
                return [Candidate("bisection", midpoint, spec.default_bn)]
    if spec.bn_momenta:
        chosen = _chosen_weight_decay(spec, evaluations)
        wanted = [Candidate("bn_momentum", chosen, m) for m in spec.bn_momenta]
        if any(_lookup(evaluations, c.weight_decay, c.bn_momentum) is None for c in wanted):
            return wanted
    return None


@dataclass(frozen=True)
class Decision:
    """The chosen values and why."""

    weight_decay: float
    bn_momentum: float
    reason: str
    weight_decay_losses: dict[float, float]
    bn_momentum_losses: dict[float, float]


def _fmt(value: float) -> str:
    return "0" if value == 0 else f"{value:.3g}"


def _fmt_loss(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "pruned"


def decide(spec: SearchSpec, evaluations: Sequence[Evaluation]) -> Decision:
    """The weight decay with the lowest validation loss at the default momentum (the prior
    unless another is better by more than ``wd_tolerance``), then the momentum with the lowest
    loss at that weight decay (the default unless another is better by more than
    ``bn_tolerance``), with a one-paragraph reason."""
    wd_losses = _weight_decay_results(spec, evaluations)
    parts: list[str] = []
    if spec.weight_decays:
        chosen_wd = _chosen_weight_decay(spec, evaluations)
        if math.isfinite(wd_losses.get(chosen_wd, math.inf)):
            tried = ", ".join(
                f"{_fmt(wd)}: {_fmt_loss(loss)}"
                for wd, loss in sorted(wd_losses.items(), key=lambda kv: -kv[0])
            )
            bisected = [e.weight_decay for e in evaluations if e.phase == "bisection"]
            best_wd = _best_weight_decay(wd_losses)
            if best_wd is not None and not _same(best_wd, chosen_wd):
                verdict = (
                    f"weight decay {_fmt(chosen_wd)} (the default) kept: the lowest validation "
                    f"loss of {len(wd_losses)} short runs, at {_fmt(best_wd)}, is not "
                    f"{100 * spec.wd_tolerance:g}% below the default's, a difference short runs "
                    "show by noise"
                )
            else:
                verdict = (f"weight decay {_fmt(chosen_wd)} had the lowest validation loss of "
                           f"{len(wd_losses)} short runs")
            parts.append(
                f"{verdict} at batch-norm momentum {spec.default_bn:g} "
                f"(val loss on the data, without the L2 term, by weight decay: {tried}"
                + (f"; exponent bisected to {', '.join(_fmt(b) for b in bisected)}"
                   if bisected else "")
                + ")"
            )
            nonzero = [wd for wd in spec.weight_decays if wd > 0]
            if nonzero and chosen_wd >= max(nonzero):
                parts[-1] += (" — the largest value tried: a grid with larger values "
                              "(e.g. 'shallow') may find a better one")
            elif chosen_wd == 0:
                parts[-1] += " — weight decay did not help in runs this short"
        else:
            parts.append(
                f"every weight-decay run was pruned or diverged: kept the prior "
                f"{_fmt(chosen_wd)} (lower the max LR and tune again)"
            )
    else:
        chosen_wd = spec.prior_weight_decay
        parts.append(f"weight decay {_fmt(chosen_wd)} kept as given (not tuned)")

    bn_losses: dict[float, float] = {}
    for evaluation in evaluations:
        if _same(evaluation.weight_decay, chosen_wd):
            bn_losses.setdefault(evaluation.bn_momentum, evaluation.val_loss)
    chosen_bn = spec.default_bn
    if spec.bn_momenta and bn_losses:
        default_loss = bn_losses.get(spec.default_bn, math.inf)
        finite = {m: loss for m, loss in bn_losses.items() if math.isfinite(loss)}
        if finite:
            best = min(finite, key=lambda m: (finite[m], abs(m - spec.default_bn)))
            if not math.isfinite(default_loss) or finite[best] < default_loss * (
                1.0 - spec.bn_tolerance
            ):
                chosen_bn = best
        tried = ", ".join(f"{m:g}: {_fmt_loss(loss)}" for m, loss in sorted(bn_losses.items()))
        why = (
            "the principled default kept: no other momentum lowered the validation loss by "
            f"more than {100 * spec.bn_tolerance:g}%"
            if chosen_bn == spec.default_bn
            else f"lowest validation loss (the principled default was {spec.default_bn:g})"
        )
        parts.append(
            f"batch-norm momentum {chosen_bn:g}: {why} (val loss by momentum at weight decay "
            f"{_fmt(chosen_wd)}: {tried})"
        )
    else:
        parts.append(
            f"batch-norm momentum {chosen_bn:g}: the principled default for the run length "
            "(not searched)"
        )
    reason = "; ".join(parts) + "."
    return Decision(chosen_wd, chosen_bn, reason[0].upper() + reason[1:], wd_losses, bn_losses)
