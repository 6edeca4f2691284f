"""The One Cycle family of schedules as data: phases joined end to end.

Pure NumPy: no Keras import, no plotting, no I/O.

A schedule is a tuple of :class:`Phase` objects laid end to end on the optimizer-step axis.
Phase ``k`` starts where phase ``k-1`` ends, at ``o_k = sum(length_j for j < k)``, and for a
step ``s`` with ``o_k <= s <= o_k + length_k`` its value is::

    t     = (s - o_k) / length_k                       # position inside the phase, in [0, 1]
    τ     = a_k + (b_k - a_k) * t                      # the part [a_k, b_k] of the curve
    value = start_k + (end_k - start_k) * shape(τ)
    shape(τ) = τ                      (linear)
             = (1 - cos(pi * τ)) / 2  (cos)

and, for a phase with ``interpolation="exp"`` (geometric: the range test's sweep),
``value = start_k * (end_k / start_k) ** τ`` (``start_k, end_k > 0``).

``a_k = 0, b_k = 1`` (the whole curve) in every preset; :func:`stretch` splits a phase into two
parts of its curve when it lengthens a schedule from a step inside it.

A step that lies on the border of two phases belongs to the first one (as in PyTorch's
``OneCycleLR``); the phases of every preset meet at equal values, so this only matters for
exact reproduction. Steps before 0 clamp to the first value and steps past the end clamp to the
final value: a schedule never extrapolates (no bump back up, unlike PyTorch issue #91765).

Step contract of :class:`OneCycleSchedule` (the default policy and the PyTorch presets):
optimizer step ``i = 0`` gets the start value and step ``i = T - 1`` the final value, where
``T = total_steps``. The fastai preset reproduces fastai exactly instead, which evaluates its
curve at ``i / T``, so its step ``T - 1`` is one step short of the final value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from superconverge.defaults import DEFAULT_MOMENTA
from superconverge.errors import ArgumentError

Interpolation = Literal["linear", "cos"]
INTERPOLATIONS: tuple[str, ...] = ("linear", "cos")
#: what a single :class:`Phase` accepts: the presets' shapes and the geometric "exp"
PHASE_INTERPOLATIONS: tuple[str, ...] = (*INTERPOLATIONS, "exp")
LrEnd = Literal["annihilate", "zero_tail", "zero_half"]
LR_ENDS: tuple[str, ...] = ("annihilate", "zero_tail", "zero_half")

# fractions are compared with this tolerance, never with ==
FRACTION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Phase:
    """One monotone piece of a schedule: ``start`` to ``end`` over ``length`` optimizer steps.

    ``length`` may be fractional (PyTorch places its peak at ``pct_start * T - 1``) and may be
    zero (an empty phase, skipped).
    """

    start: float
    end: float
    length: float
    interpolation: Interpolation | Literal["exp"] = "linear"
    #: the part ``[curve_from, curve_to]`` of the start → end curve this phase runs through
    curve_from: float = 0.0
    curve_to: float = 1.0

    def __post_init__(self) -> None:
        for name in ("start", "end", "length", "curve_from", "curve_to"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ArgumentError(f"Phase.{name} must be a finite number, got {value!r}.")
        if not 0.0 <= self.curve_from <= self.curve_to <= 1.0:
            raise ArgumentError(
                f"Phase.curve_from/curve_to must satisfy 0 <= from <= to <= 1, got "
                f"{self.curve_from!r}, {self.curve_to!r}.")
        if self.length < 0:
            raise ArgumentError(f"Phase.length must be >= 0 steps, got {self.length}.")
        if self.interpolation not in PHASE_INTERPOLATIONS:
            raise ArgumentError(
                f"Phase.interpolation must be one of {PHASE_INTERPOLATIONS}, got "
                f"{self.interpolation!r}."
            )
        if self.interpolation == "exp" and not (self.start > 0 and self.end > 0):
            raise ArgumentError(
                "An 'exp' (geometric) phase needs start > 0 and end > 0, got "
                f"{self.start!r} and {self.end!r}."
            )

    def at(self, t: Any, xp: Any = np) -> Any:
        """Value at relative positions ``t`` in [0, 1]; ``xp`` is the array namespace."""
        if (self.curve_from, self.curve_to) != (0.0, 1.0):
            t = self.curve_from + (self.curve_to - self.curve_from) * t
        if self.interpolation == "exp":
            return self.start * xp.exp(math.log(self.end / self.start) * t)
        shape = (1.0 - xp.cos(math.pi * t)) / 2.0 if self.interpolation == "cos" else t
        return self.start + (self.end - self.start) * shape

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "length": self.length,
            "interpolation": self.interpolation,
        }
        if (self.curve_from, self.curve_to) != (0.0, 1.0):  # only a stretched schedule's
            config.update(curve_from=self.curve_from, curve_to=self.curve_to)
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Phase:
        return cls(
            start=float(config["start"]),
            end=float(config["end"]),
            length=float(config["length"]),
            interpolation=config.get("interpolation", "linear"),
            curve_from=float(config.get("curve_from", 0.0)),
            curve_to=float(config.get("curve_to", 1.0)),
        )


@dataclass(frozen=True)
class PiecewiseSchedule:
    """Phases joined end to end; ``schedule(step)`` gives the value at optimizer step ``step``.

    Accepts a scalar or an array of steps (evaluated in float64, so step counts in the billions
    are exact to well below a part in 10^6).
    """

    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        phases = tuple(self.phases)
        object.__setattr__(self, "phases", phases)
        if not phases:
            raise ArgumentError("A schedule needs at least one phase.")
        if not all(isinstance(p, Phase) for p in phases):
            raise TypeError("PiecewiseSchedule.phases must be Phase objects.")
        if sum(p.length for p in phases) <= 0:
            raise ArgumentError("A schedule needs a total length of more than 0 steps.")

    @property
    def span(self) -> float:
        """Steps from the first to the last value: the final value is reached at ``span``."""
        return float(sum(p.length for p in self.phases))

    @property
    def final_value(self) -> float:
        """The value at and after ``span``: the end of the last phase that has steps."""
        return next(p.end for p in reversed(self.phases) if p.length > 0)

    @property
    def boundaries(self) -> tuple[float, ...]:
        """Step at which each phase ends."""
        return tuple(float(x) for x in np.cumsum([p.length for p in self.phases]))

    def __call__(self, step: ArrayLike) -> Any:
        steps = np.asarray(step, dtype=np.float64)
        if np.any(np.isnan(steps)):
            raise ArgumentError("Schedule steps must not be NaN.")
        value = self.evaluate(np.clip(steps, 0.0, self.span), np)
        if value.ndim == 0:
            return float(value)
        return value

    def evaluate(self, s: Any, xp: Any) -> Any:
        """The formula of the module docstring on steps ``s`` already clamped to
        ``[0, span]``, in the array namespace ``xp`` (``numpy``, or ``keras.ops`` inside a
        compiled train step): anything with ``clip``, ``cos``, ``exp``, ``where`` and
        ``full_like``."""
        value = xp.full_like(s, self.final_value)
        # Walk backwards so that the first phase containing a step wins at shared borders.
        for phase, end in zip(reversed(self.phases), reversed(self.boundaries)):
            if phase.length == 0:
                continue
            begin = end - phase.length
            t = xp.clip((s - begin) / phase.length, 0.0, 1.0)
            value = xp.where(s <= end, phase.at(t, xp), value)
        # The end of the schedule is the final value, even after a vanishingly short phase;
        # the tolerance absorbs the rounding of summed phase lengths (T-1 may sum to T-1+ulp).
        end_tolerance = 1e-9 * max(1.0, self.span)
        return xp.where(s >= self.span - end_tolerance, self.final_value, value)

    def to_config(self) -> dict[str, Any]:
        return {"phases": [p.to_config() for p in self.phases]}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PiecewiseSchedule:
        return cls(tuple(Phase.from_config(p) for p in config["phases"]))


def join(*phases: Phase) -> PiecewiseSchedule:
    """Lay phases end to end: the one join primitive every preset is built with."""
    return PiecewiseSchedule(tuple(phases))


def _stretch_piecewise(schedule: PiecewiseSchedule, at: float, factor: float
                       ) -> PiecewiseSchedule:
    phases: list[Phase] = []
    begin = 0.0
    for phase in schedule.phases:
        end = begin + phase.length
        if end <= at:
            phases.append(phase)
        elif begin >= at:
            phases.append(replace(phase, length=phase.length * factor))
        else:  # the phase in progress: its first part as it was, the rest of its curve longer
            cut = phase.curve_from + (phase.curve_to - phase.curve_from) * (
                (at - begin) / phase.length)
            phases.append(replace(phase, length=at - begin, curve_to=cut))
            phases.append(replace(phase, length=(end - at) * factor, curve_from=cut))
        begin = end
    return PiecewiseSchedule(tuple(phases))


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{name} must be a positive finite number, got {value!r}.")
    return value


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not (-FRACTION_TOLERANCE <= value <= 1 + FRACTION_TOLERANCE):
        raise ArgumentError(f"{name} must lie in [0, 1], got {value!r}.")
    return min(max(value, 0.0), 1.0)


def _check_interpolation(value: str) -> Interpolation:
    if value not in INTERPOLATIONS:
        raise ArgumentError(f"interpolation must be one of {INTERPOLATIONS}, got {value!r}.")
    return value  # type: ignore[return-value]


def _check_total_steps(total_steps: int, n_phases: int) -> int:
    if isinstance(total_steps, bool) or not float(total_steps).is_integer():
        raise ArgumentError(f"total_steps must be a whole number, got {total_steps!r}.")
    total_steps = int(total_steps)
    if total_steps < n_phases:
        raise ArgumentError(
            f"total_steps={total_steps} is fewer than the {n_phases} phases of this policy: "
            "train for more steps (epochs x steps_per_epoch)."
        )
    return total_steps


def _check_momentum(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ArgumentError(f"{name} must lie in [0, 1), got {value!r}.")
    return value


@dataclass(frozen=True, repr=False)
class OneCycleSchedule:
    """A One Cycle policy as data: the LR and momentum schedules over ``total_steps`` steps.

    Build one with a preset (each a classmethod, all in :data:`PRESETS`):

    * :meth:`smith` — Leslie Smith's policy, the default (see its docstring);
    * :meth:`warmup_decay` (:meth:`warmup_cosine`, :meth:`warmup_linear`) — linear warm-up,
      then cosine or linear decay to zero (the pipeline's ``lr_shape``);
    * :meth:`fastai` — fastai's ``fit_one_cycle``; :meth:`pytorch` — PyTorch's ``OneCycleLR``;
    * :func:`one_cycle_schedule` — any of them by name (what the callback and the CLI use);

    or directly from phases: ``OneCycleSchedule(join(...), total_steps, join(...))``.
    """

    lr_schedule: PiecewiseSchedule
    total_steps: int
    momentum_schedule: PiecewiseSchedule | None = None
    name: str = "custom"

    def __post_init__(self) -> None:
        if not isinstance(self.lr_schedule, PiecewiseSchedule):
            if isinstance(self.lr_schedule, int | float):
                raise TypeError(
                    "OneCycleSchedule(max_lr, total_steps, ...) is now "
                    "OneCycleSchedule.smith(max_lr, total_steps, ...); OneCycleSchedule(...) "
                    "takes the phases (lr_schedule, total_steps, momentum_schedule)."
                )
            object.__setattr__(self, "lr_schedule", PiecewiseSchedule(tuple(self.lr_schedule)))
        momentum = self.momentum_schedule
        if momentum is not None and not isinstance(momentum, PiecewiseSchedule):
            object.__setattr__(self, "momentum_schedule", PiecewiseSchedule(tuple(momentum)))
        total = self.total_steps
        if isinstance(total, bool) or not float(total).is_integer() or int(total) < 1:
            raise ArgumentError(f"total_steps must be a positive integer, got {total!r}.")
        object.__setattr__(self, "total_steps", int(total))

    @classmethod
    def smith(
        cls,
        max_lr: float,
        total_steps: int,
        *,
        min_lr: float | None = None,
        div: float = 10.0,
        peak: float = 0.5,
        annihilation_fraction: float = 0.1,
        annihilation_factor: float = 100.0,
        interpolation: Interpolation = "linear",
        max_momentum: float = DEFAULT_MOMENTA[0],
        min_momentum: float = DEFAULT_MOMENTA[1],
        cycle_momentum: bool = True,
        end: LrEnd = "annihilate",
    ) -> OneCycleSchedule:
        """Leslie Smith's One Cycle policy for the learning rate and the momentum.

        Default (Smith 2017/2018 and the seed), with ``T = total_steps`` optimizer steps and
        ``c = 1 - annihilation_fraction``::

            LR:       min_lr ---> max_lr ---> min_lr ---> min_lr / annihilation_factor
            momentum: max_m  ---> min_m  ---> max_m  ---> max_m (held)
            step:     0      peak·c·(T-1)    c·(T-1)      T-1

        with ``min_lr = max_lr / div`` (``div = 10``), ``peak = 0.5`` of the cycle,
        ``annihilation_fraction = 0.1`` and ``annihilation_factor = 100``, momentum 0.95 →
        0.85 → 0.95. Step 0 gives the start values, step ``T - 1`` the final ones, later steps
        clamp.

        ``end`` chooses how the LR ends (``lr_end`` of the pipeline's config):

        * ``"annihilate"`` (default): as above;
        * ``"zero_tail"``: the last phase goes linearly from ``min_lr`` to 0 instead of to
          ``min_lr / annihilation_factor``;
        * ``"zero_half"``: budgeted training (Li et al. 2020): the LR falls from ``max_lr``
          straight to 0 over the whole second part of the run (``(1 - peak)·(T-1)`` steps, no
          separate annihilation: ``annihilation_fraction`` and ``annihilation_factor`` are
          unused); momentum rises back over the same steps. The last phase has length 0.

        Args:
            max_lr: peak learning rate.
            total_steps: optimizer steps ``T`` the policy spans (at least one per phase).
            min_lr: start and end LR of the cycle; default ``max_lr / div``.
            div: ``max_lr / min_lr`` when ``min_lr`` is not given.
            peak: where the LR peaks, as a fraction of the cycle (before annihilation).
            annihilation_fraction: fraction of the steps spent annihilating after the cycle.
            annihilation_factor: the final LR is ``min_lr / annihilation_factor``.
            interpolation: ``"linear"`` or ``"cos"`` for every phase.
            max_momentum, min_momentum: momentum (or Adam beta_1) bounds; it moves opposite
                to the LR.
            cycle_momentum: ``False`` leaves the optimizer's momentum alone.
            end: ``"annihilate"``, ``"zero_tail"`` or ``"zero_half"`` (see above).
        """
        if end not in LR_ENDS:
            raise ArgumentError(f"end must be one of {LR_ENDS}, got {end!r}.")
        max_lr = _check_positive("max_lr", max_lr)
        div = _check_positive("div", div)
        min_lr = max_lr / div if min_lr is None else _check_positive("min_lr", min_lr)
        if min_lr > max_lr:
            raise ArgumentError(
                f"min_lr ({min_lr:g}) must not exceed max_lr ({max_lr:g}): lower min_lr or "
                "raise max_lr."
            )
        peak = _check_fraction("peak", peak)
        annihilation_fraction = _check_fraction("annihilation_fraction", annihilation_fraction)
        annihilation_factor = _check_positive("annihilation_factor", annihilation_factor)
        interpolation = _check_interpolation(interpolation)
        total_steps = _check_total_steps(total_steps, n_phases=3)

        span = float(total_steps - 1)
        if end == "zero_half":
            up, down, tail = peak * span, (1.0 - peak) * span, 0.0
            lr = join(
                Phase(min_lr, max_lr, up, interpolation),
                Phase(max_lr, 0.0, down, interpolation),
                Phase(0.0, 0.0, tail, interpolation),
            )
        else:
            cycle = (1.0 - annihilation_fraction) * span
            up, down, tail = peak * cycle, (1.0 - peak) * cycle, annihilation_fraction * span
            final = 0.0 if end == "zero_tail" else min_lr / annihilation_factor
            lr = join(
                Phase(min_lr, max_lr, up, interpolation),
                Phase(max_lr, min_lr, down, interpolation),
                Phase(min_lr, final, tail, interpolation),
            )
        momentum = None
        if cycle_momentum:
            hi = _check_momentum("max_momentum", max_momentum)
            lo = _check_momentum("min_momentum", min_momentum)
            if lo > hi:
                raise ArgumentError(f"min_momentum ({lo}) must not exceed max_momentum ({hi}).")
            momentum = join(
                Phase(hi, lo, up, interpolation),
                Phase(lo, hi, down, interpolation),
                Phase(hi, hi, tail, interpolation),
            )
        return cls(lr, total_steps, momentum, "smith")

    @classmethod
    def from_phases(
        cls,
        lr: PiecewiseSchedule | Sequence[Phase],
        momentum: PiecewiseSchedule | Sequence[Phase] | None,
        total_steps: int,
        name: str = "custom",
    ) -> OneCycleSchedule:
        """A policy from phases given as data (the same as calling the class)."""
        return cls(lr, total_steps, momentum, name)  # type: ignore[arg-type]

    @classmethod
    def warmup_decay(
        cls,
        max_lr: float,
        total_steps: int,
        *,
        decay: Interpolation = "cos",
        warmup_fraction: float = 0.1,
        start_lr: float = 0.0,
        final_lr: float = 0.0,
        max_momentum: float = 0.95,
        min_momentum: float = 0.85,
        cycle_momentum: bool = True,
    ) -> OneCycleSchedule:
        """Linear warm-up, then cosine (``decay="cos"``: Keras ``CosineDecay`` with
        ``warmup_target``) or linear (``decay="linear"``: "decay to zero", Li et al. 2020,
        Defazio et al. 2023) decay to ``final_lr``. Named ``warmup_cosine`` / ``warmup_linear``
        (the presets and classmethods of those names).

        With ``w = warmup_fraction · T`` and ``u = (t - w) / (T - w)``::

            lr(t) = start_lr + (max_lr - start_lr) · t / w                      for t <= w
            lr(t) = final_lr + (max_lr - final_lr) · (1 + cos(π u)) / 2  (cos)  for t >  w
            lr(t) = max_lr - (max_lr - final_lr) · u                 (linear)  for t >  w

        Momentum runs ``max_momentum → min_momentum`` over the warm-up (linear) and back to
        ``max_momentum`` with the same decay; equal values (the pipeline's default 0.9, 0.9)
        hold it constant.
        """
        max_lr = _check_positive("max_lr", max_lr)
        decay = _check_interpolation(decay)
        warmup_fraction = _check_fraction("warmup_fraction", warmup_fraction)
        for arg, value in (("start_lr", start_lr), ("final_lr", final_lr)):
            if not (math.isfinite(value) and 0.0 <= value <= max_lr):
                raise ArgumentError(f"{arg} must lie in [0, max_lr], got {value!r}.")
        total_steps = _check_total_steps(total_steps, n_phases=2)
        up, down = warmup_fraction * total_steps, (1.0 - warmup_fraction) * total_steps
        lr = join(Phase(start_lr, max_lr, up, "linear"), Phase(max_lr, final_lr, down, decay))
        momentum = None
        if cycle_momentum:
            hi = _check_momentum("max_momentum", max_momentum)
            lo = _check_momentum("min_momentum", min_momentum)
            momentum = join(Phase(hi, lo, up, "linear"), Phase(lo, hi, down, decay))
        name = "warmup_cosine" if decay == "cos" else "warmup_linear"
        return cls(lr, total_steps, momentum, name)

    #: :meth:`warmup_decay` with cosine decay (the pipeline's default ``lr_shape``)
    warmup_cosine = functools.partialmethod(warmup_decay, decay="cos")
    #: :meth:`warmup_decay` with linear decay to ``final_lr``
    warmup_linear = functools.partialmethod(warmup_decay, decay="linear")

    @classmethod
    def fastai(
        cls,
        max_lr: float,
        total_steps: int,
        *,
        div: float = 25.0,
        div_final: float = 1e5,
        pct_start: float = 0.25,
        moms: tuple[float, float, float] | None = (0.95, 0.85, 0.95),
    ) -> OneCycleSchedule:
        """fastai's ``fit_one_cycle``, reproduced exactly.

        fastai evaluates ``combined_cos(pct_start, max_lr/div, max_lr, max_lr/div_final)`` at
        ``pos = i / T`` for step ``i``: cosine from ``max_lr/div`` up to ``max_lr`` over the
        first ``pct_start`` of training, then cosine down to ``max_lr/div_final``. Momentum
        follows ``moms`` (0.95 → 0.85 → 0.95) with the same cosine shape. Because fastai divides
        by ``T``, the phases here span ``T`` steps: step ``T - 1`` is one step short of the final
        value, exactly as in fastai.
        """
        max_lr = _check_positive("max_lr", max_lr)
        div = _check_positive("div", div)
        div_final = _check_positive("div_final", div_final)
        pct_start = _check_fraction("pct_start", pct_start)
        total_steps = _check_total_steps(total_steps, n_phases=2)
        up, down = pct_start * total_steps, (1.0 - pct_start) * total_steps
        lr = join(
            Phase(max_lr / div, max_lr, up, "cos"),
            Phase(max_lr, max_lr / div_final, down, "cos"),
        )
        momentum = None
        if moms is not None:
            m0, m1, m2 = (_check_momentum("moms", m) for m in moms)
            momentum = join(Phase(m0, m1, up, "cos"), Phase(m1, m2, down, "cos"))
        return cls(lr, total_steps, momentum, "fastai")

    @classmethod
    def pytorch(
        cls,
        max_lr: float,
        total_steps: int,
        *,
        pct_start: float = 0.3,
        anneal_strategy: Interpolation = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        cycle_momentum: bool = True,
    ) -> OneCycleSchedule:
        """PyTorch's ``torch.optim.lr_scheduler.OneCycleLR``, reproduced exactly (within range).

        ``initial_lr = max_lr / div_factor`` and ``min_lr = initial_lr / final_div_factor``.
        Two phases end at steps ``pct_start·T - 1`` and ``T - 1``; with ``three_phase`` they
        end at ``pct_start·T - 1``, ``2·pct_start·T - 2`` and ``T - 1`` (LR back to
        ``initial_lr``, then annihilated to ``min_lr`` while momentum stays at its maximum).
        Unlike PyTorch, steps past ``T - 1`` clamp instead of raising or bouncing back.
        """
        max_lr = _check_positive("max_lr", max_lr)
        div_factor = _check_positive("div_factor", div_factor)
        final_div_factor = _check_positive("final_div_factor", final_div_factor)
        pct_start = _check_fraction("pct_start", pct_start)
        interp = _check_interpolation(anneal_strategy)
        n_phases = 3 if three_phase else 2
        total_steps = _check_total_steps(total_steps, n_phases=n_phases)
        initial_lr = max_lr / div_factor
        min_lr = initial_lr / final_div_factor
        end_1 = pct_start * total_steps - 1
        if three_phase:
            ends = [end_1, 2 * pct_start * total_steps - 2, total_steps - 1]
            lr_points = [initial_lr, max_lr, initial_lr, min_lr]
        else:
            ends = [end_1, total_steps - 1]
            lr_points = [initial_lr, max_lr, min_lr]
        if any(b - a < 0 for a, b in zip([0.0, *ends[:-1]], ends)) or ends[0] <= 0:
            raise ArgumentError(
                f"pct_start={pct_start} leaves a phase with no steps for total_steps="
                f"{total_steps}: choose pct_start in (1/T, 0.5] for three_phase, (1/T, 1) else."
            )
        lengths = np.diff([0.0, *ends])
        lr = join(
            *(Phase(a, b, float(n), interp) for a, b, n in zip(lr_points, lr_points[1:], lengths))
        )
        momentum = None
        if cycle_momentum:
            hi = _check_momentum("max_momentum", max_momentum)
            lo = _check_momentum("base_momentum", base_momentum)
            mom_points = [hi, lo, hi, hi] if three_phase else [hi, lo, hi]
            momentum = join(
                *(
                    Phase(a, b, float(n), interp)
                    for a, b, n in zip(mom_points, mom_points[1:], lengths)
                )
            )
        name = "pytorch_three_phase" if three_phase else "pytorch"
        return cls(lr, total_steps, momentum, name)

    # -- evaluation -----------------------------------------------------------------------
    def lr(self, step: ArrayLike) -> Any:
        """Learning rate at optimizer step(s) ``step`` (0-based; clamps outside [0, T-1])."""
        return self.lr_schedule(step)

    def momentum(self, step: ArrayLike) -> Any:
        """Momentum (or Adam beta_1) at step(s) ``step``; ``None`` if momentum is not cycled."""
        if self.momentum_schedule is None:
            return None
        return self.momentum_schedule(step)

    @property
    def max_lr(self) -> float:
        return max(max(p.start, p.end) for p in self.lr_schedule.phases)

    @property
    def min_lr(self) -> float:
        """The cycle's lower LR: the value the schedule starts from."""
        return self.lr_schedule.phases[0].start

    @property
    def final_lr(self) -> float:
        return self.lr_schedule.final_value

    def summary(self) -> str:
        """A few lines a person reads: the phases with their steps and values."""
        lines = [f"One Cycle policy '{self.name}' over {self.total_steps} optimizer steps"]
        position = 0.0
        for i, phase in enumerate(self.lr_schedule.phases):
            mom = ""
            if self.momentum_schedule is not None:
                m = self.momentum_schedule.phases[i]
                mom = f"   momentum {m.start:.3g} -> {m.end:.3g}"
            part = ("" if (phase.curve_from, phase.curve_to) == (0.0, 1.0)
                    else f", {phase.curve_from:.2f}-{phase.curve_to:.2f} of its curve")
            lines.append(
                f"  phase {i + 1}: steps {position:9.1f} -> {position + phase.length:9.1f}  "
                f"LR {phase.start:.4g} -> {phase.end:.4g} ({phase.interpolation}{part}){mom}"
            )
            position += phase.length
        return "\n".join(lines)

    # -- config ---------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "total_steps": self.total_steps,
            "lr": self.lr_schedule.to_config(),
            "momentum": None
            if self.momentum_schedule is None
            else self.momentum_schedule.to_config(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OneCycleSchedule:
        momentum = config.get("momentum")
        return cls(
            PiecewiseSchedule.from_config(config["lr"]),
            int(config["total_steps"]),
            None if momentum is None else PiecewiseSchedule.from_config(momentum),
            str(config.get("name", "custom")),
        )

    def __repr__(self) -> str:
        return (
            f"OneCycleSchedule(name={self.name!r}, total_steps={self.total_steps}, "
            f"max_lr={self.max_lr:g}, min_lr={self.min_lr:g}, final_lr={self.final_lr:g}, "
            f"momentum={'cycled' if self.momentum_schedule is not None else 'not cycled'})"
        )


#: The One Cycle presets by name: the one list the callback, the ``schedule`` command and the
#: CLI's choices read.
PRESETS: Mapping[str, Callable[..., OneCycleSchedule]] = MappingProxyType({
    "smith": OneCycleSchedule.smith,
    "warmup_cosine": OneCycleSchedule.warmup_cosine,
    "warmup_linear": OneCycleSchedule.warmup_linear,
    "fastai": OneCycleSchedule.fastai,
    "pytorch": OneCycleSchedule.pytorch,
    "pytorch_three_phase": functools.partial(OneCycleSchedule.pytorch, three_phase=True),
})
PresetName = Literal[
    "smith", "warmup_cosine", "warmup_linear", "fastai", "pytorch", "pytorch_three_phase"
]
#: LR shapes of the pipeline's one-cycle run (``lr_shape`` of its config)
LR_SHAPES: tuple[str, ...] = ("smith", "warmup_cosine", "warmup_linear")


def stretch(schedule: OneCycleSchedule, at_step: int, total_steps: int) -> OneCycleSchedule:
    """The same policy, its part after ``at_step`` laid over ``total_steps`` instead.

    With ``T = schedule.total_steps``, ``s₀ = at_step`` and ``k = (T' − s₀) / (T − s₀)``::

        stretched(s) = schedule(s)                      for s <= s₀
        stretched(s) = schedule(s₀ + (s − s₀) / k)      for s >  s₀

    for the LR and the momentum alike: the steps already taken keep their values, and the
    rest of the cycle (its peak, if still ahead, and its decay) runs at the same shape over more
    (``k > 1``) or fewer (``k < 1``) steps, with no jump at ``s₀``. A budgeted run uses it when
    the machine turns out faster or slower than measured before training (``BudgetGuard``).

    Raises:
        ArgumentError: ``at_step`` outside ``[0, T)`` or ``total_steps <= at_step``.
    """
    total = schedule.total_steps
    if isinstance(at_step, bool) or not 0 <= int(at_step) < total:
        raise ArgumentError(f"at_step must lie in [0, {total}), got {at_step!r}.")
    if isinstance(total_steps, bool) or int(total_steps) <= int(at_step):
        raise ArgumentError(f"total_steps must exceed at_step ({at_step}), got "
                            f"{total_steps!r}.")
    at, new_total = int(at_step), int(total_steps)
    if new_total == total:
        return schedule
    factor = (new_total - at) / (total - at)
    momentum = schedule.momentum_schedule
    return OneCycleSchedule(
        _stretch_piecewise(schedule.lr_schedule, at, factor),
        new_total,
        None if momentum is None else _stretch_piecewise(momentum, at, factor),
        schedule.name,
    )


def one_cycle_schedule(
    preset: str,
    max_lr: float,
    total_steps: int,
    *,
    cycle_momentum: bool = True,
    **kwargs: Any,
) -> OneCycleSchedule:
    """The preset ``preset`` (a key of :data:`PRESETS`) for ``max_lr`` over ``total_steps``.

    ``cycle_momentum=False`` leaves the momentum alone whatever the preset calls it (fastai's
    ``moms=None``); ``kwargs`` are the preset's own arguments, checked by name.
    """
    factory = _preset(preset)
    check_preset_arguments(preset, kwargs)
    if preset == "fastai":
        if not cycle_momentum:
            kwargs["moms"] = None
    else:
        kwargs["cycle_momentum"] = cycle_momentum
    return factory(max_lr, total_steps, **kwargs)


def check_preset_arguments(preset: str, kwargs: Mapping[str, Any]) -> None:
    """Raise :class:`ArgumentError` naming any of ``kwargs`` the preset does not take."""
    import inspect

    factory = _preset(preset)
    target = factory.func if isinstance(factory, functools.partial) else factory
    accepted = set(inspect.signature(target).parameters) - {"max_lr", "total_steps", "cls"}
    # set through cycle_momentum or by the preset itself
    accepted -= {"cycle_momentum", "moms", "three_phase", "decay"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ArgumentError(
            f"the {preset!r} One Cycle preset takes no {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(sorted(accepted))}."
        )


def _preset(preset: str) -> Callable[..., OneCycleSchedule]:
    if preset not in PRESETS:
        raise ArgumentError(f"unknown One Cycle preset {preset!r}: use one of "
                            f"{', '.join(PRESETS)}.")
    return PRESETS[preset]
