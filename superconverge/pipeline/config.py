"""One configuration model for every subcommand, validated before anything starts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib

from superconverge.defaults import (
    BASELINE_BATCH_SIZE,
    BASELINE_WEIGHT_DECAY,
    DIVERGENCE_FACTOR,
    MIN_LR_RATIO,
    PIPELINE_EMA_MOMENTUM,
    PIPELINE_FUSED_BN,
    PIPELINE_LABEL_SMOOTHING,
    PIPELINE_LR_SHAPE,
    PIPELINE_LR_TRIAL_FRACTION,
    PIPELINE_MOMENTA,
    PIPELINE_NESTEROV,
    PIPELINE_PRECISE_BN,
    PIPELINE_RANGE_REPEATS,
    PIPELINE_RANGE_START_LR,
    PIPELINE_WARMUP_FRACTION,
    PIPELINE_WEIGHT_DECAY,
    RANGE_END_LR,
)
from superconverge.errors import SuperconvergeError

#: what a key meant in run directories written before the key existed (their config.json
#: lacks it); any other missing key had the default it has today
VALUES_BEFORE_THE_KEY_EXISTED: dict[str, Any] = {
    "nesterov": False, "label_smoothing": 0.0, "ema_momentum": None, "precise_bn": False,
    "fused_bn": False, "lr_shape": "smith", "lr_trial_fraction": 0.0,
}
#: keys whose value, in a config.json from before they existed, was another key's
SAME_AS_BEFORE_THE_KEY_EXISTED: dict[str, str] = {
    "baseline_batch_size": "batch_size", "baseline_weight_decay": "weight_decay",
}


class ConfigError(SuperconvergeError, ValueError):
    """A configuration value or file is unusable; the message says what to change."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs. Defaults reproduce the README's main job on Fashion-MNIST.

    Training budgets are in epochs of the (possibly subset) training split. ``max_lr`` skips
    the range test's choice when set; ``baseline_epochs = 0`` disables the baseline.

    Recipe levers of the one-cycle run (issue 13; the defaults, in ``superconverge.defaults``,
    are what the recipe ablation chose on validation; the step-decay baseline never uses them
    and has its own ``baseline_batch_size`` and ``baseline_weight_decay``):

    * ``batch_size``: ``None`` (default) = the largest of 64, 32, 16 whose one-cycle run has
      at least 1,000 optimizer steps (:mod:`superconverge.batch_rule`; 64 for a time budget);
      a number fixes it.
    * ``lr_end``: how the LR ends: ``"annihilate"`` (``min_lr → min_lr/100`` over the last
      10%), ``"zero_tail"`` (``min_lr → 0`` over the last 10%) or ``"zero_half"`` (``max_lr →
      0`` linearly over the whole second half, Li et al. 2020).
    * ``lr_shape``: ``"warmup_cosine"`` (default: 0 → max linearly over the first
      ``warmup_fraction`` of the steps (default 10%), then
      cosine to 0: :meth:`~superconverge.schedules.OneCycleSchedule.warmup_cosine`; it has no
      end phase of its own, so ``lr_end`` must stay ``"annihilate"``), ``"warmup_linear"``
      (the same warm-up, then linear decay to 0) or ``"smith"`` (min →
      max → min linearly over 45% + 45% of the steps, then ``lr_end``).
    * ``optimizer``: ``"sgd"``, ``"adam"`` or ``"adamw"``, for the range test and one-cycle
      alike (``momentum`` cycles Adam's ``beta_1``). ``adam`` keeps the model's L2
      ``weight_decay``; ``adamw`` replaces it by the optimizer's decoupled decay
      ``adamw_weight_decay`` (the model gets no L2; AdamW subtracts
      ``lr · adamw_weight_decay · w`` per step).
    * ``nesterov``: Nesterov momentum (SGD only); ``None`` (default) = on for SGD, which the
      recipe ablation measured best, together with the constant ``momentum = (0.9, 0.9)``.
      Smith's cycled momentum: ``momentum = (0.95, 0.85)``, ``nesterov = false``.
    * ``label_smoothing``: in [0, 1), applied to the training loss (range test and one-cycle).
    * ``ema_momentum``: keep an exponential moving average of the weights during one-cycle
      (Keras ``use_ema``) and evaluate the averaged weights; ``None`` = off.
    * ``precise_bn``: after one-cycle training (and the EMA swap), recompute the BN statistics
      on training batches for the final weights (``tuning.precise_bn``).
    * ``train_flip``: random horizontal flips of the one-cycle training batches (only for data
      that is flip-invariant: never on by default).
    * ``train_shift``: random translations of the one-cycle training batches by up to
      ``±train_shift`` pixels (zero padding, then a random crop back to the input size); 0 (the
      default) = none. Applies to one-cycle only, like ``train_flip``.
    * ``tta_flip``: test-time augmentation for the one-cycle model: predictions averaged over
      each image and its mirror image, for the final validation and the test accuracy.
    """

    # data and model
    dataset: str = "fashion_mnist"
    data_path: str | None = None
    download: bool = False
    model: str = "simple_cnn"
    train_subset: int | None = None
    validation_split: float = 0.1
    augment: bool = False
    # image_folder only: resize every image to image_size × image_size (default: the first
    # image's size) and read it as "rgb", "grayscale" or "rgba"
    image_size: int | None = None
    color_mode: str = "rgb"
    seed: int = 0
    # one-cycle (and range-test) batch; None = chosen from the run's length (batch_rule)
    batch_size: int | None = None
    # one-cycle training; with budget_seconds, the epochs that fit it replace `epochs`
    epochs: int = 4
    budget_seconds: float | None = None
    max_lr: float | None = None
    min_lr_ratio: float = MIN_LR_RATIO
    suggest_method: str = "auto"
    momentum: tuple[float, float] = PIPELINE_MOMENTA
    weight_decay: float = PIPELINE_WEIGHT_DECAY
    bn_momentum: float | None = None
    tune: bool = False
    # recipe levers (see the class docstring)
    lr_end: str = "annihilate"
    lr_shape: str = PIPELINE_LR_SHAPE
    warmup_fraction: float = PIPELINE_WARMUP_FRACTION
    optimizer: str = "sgd"
    adamw_weight_decay: float = 0.05
    nesterov: bool | None = PIPELINE_NESTEROV
    label_smoothing: float = PIPELINE_LABEL_SMOOTHING
    ema_momentum: float | None = PIPELINE_EMA_MOMENTUM
    precise_bn: bool = PIPELINE_PRECISE_BN
    train_flip: bool = False
    train_shift: int = 0
    tta_flip: bool = False
    # "float32", or "mixed_bfloat16" (bfloat16 compute, float32 variables)
    precision: str = "float32"
    # torch backend: batch norm by PyTorch's fused kernel (same formula; every model trained)
    fused_bn: bool = PIPELINE_FUSED_BN
    # range test
    range_start_lr: float = PIPELINE_RANGE_START_LR
    range_end_lr: float = RANGE_END_LR
    range_steps: int | None = None
    range_diverge: float = DIVERGENCE_FACTOR
    # range tests averaged per step, each from its own initialisation and shuffle
    range_repeats: int = PIPELINE_RANGE_REPEATS
    # max-LR trials: a short one-cycle run of this fraction of the planned steps at each of
    # the range test's pick x 10^(-1/3, 0, +1/3); the best on validation trains (0: none)
    lr_trial_fraction: float = PIPELINE_LR_TRIAL_FRACTION
    # baseline: SGD momentum 0.9, LR divided by 10 at 50% and 75% of its epochs, the usual
    # batch and weight decay (its own keys: the one-cycle recipe's never weaken it)
    baseline_epochs: int = 20
    baseline_lr: float = 0.1
    baseline_momentum: float = 0.9
    baseline_batch_size: int = BASELINE_BATCH_SIZE
    baseline_weight_decay: float = BASELINE_WEIGHT_DECAY
    # output
    out: str = "runs/default"

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["momentum"] = list(self.momentum)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown configuration key(s) {', '.join(unknown)}; valid keys: "
                f"{', '.join(sorted(known))}"
            )
        values = dict(data)
        if "momentum" in values:
            momentum = values["momentum"]
            if not isinstance(momentum, list | tuple):
                raise ConfigError(
                    f"momentum must be two numbers [max, min], e.g. [0.95, 0.85], got "
                    f"{momentum!r}"
                )
            values["momentum"] = tuple(momentum)
        return cls(**values)

    @classmethod
    def from_saved(cls, data: Mapping[str, Any]) -> RunConfig:
        """A run directory's ``config.json``: keys it lacks get the value they had then."""
        return cls.from_dict({**saved_defaults(data), **data})

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RunConfig:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as error:
            raise ConfigError(f"config file {path} does not exist") from error
        except IsADirectoryError as error:
            raise ConfigError(f"config file {path} is a folder, not a TOML file") from error
        except OSError as error:
            raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
        data = {k.replace("-", "_"): v for k, v in data.items()}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def saved_defaults(saved: Mapping[str, Any]) -> dict[str, Any]:
    """For the keys ``saved`` (an older config.json) lacks: the values they stood for."""
    out = {}
    for field in dataclasses.fields(RunConfig):
        if field.name in saved:
            continue
        if field.name in SAME_AS_BEFORE_THE_KEY_EXISTED and (
            SAME_AS_BEFORE_THE_KEY_EXISTED[field.name] in saved
        ):
            out[field.name] = saved[SAME_AS_BEFORE_THE_KEY_EXISTED[field.name]]
            continue
        value = VALUES_BEFORE_THE_KEY_EXISTED.get(field.name, field.default)
        out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


def _positive_int(config: RunConfig, name: str, allow_none: bool = False, minimum: int = 1):
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _positive_float(config: RunConfig, name: str, allow_none: bool = False) -> None:
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


_SIMPLE_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (int, float)}
COLOR_MODES = ("rgb", "grayscale", "rgba")
PRECISIONS = ("float32", "mixed_bfloat16")
#: numpy's seed range (keras.utils.set_random_seed needs it)
MAX_SEED = 2**32 - 1


def _describe(kind: str) -> str:
    return {"str": "a string", "bool": "true or false", "int": "a whole number",
            "float": "a number"}[kind]


def check_types(config: RunConfig) -> None:
    """Each field has its annotated type: a real bool (not "false" or 1), a whole number
    (not 2.5 or true), a finite number (not NaN, inf, or "5e-4"), a string."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        annotation = str(field.type).replace(" ", "")
        optional = annotation.endswith("|None")
        kind = annotation.removesuffix("|None")
        if value is None:
            if optional:
                continue
            raise ConfigError(f"{field.name} must be set, got None")
        if kind == "tuple[float,float]":
            if not isinstance(value, tuple) or len(value) != 2:
                raise ConfigError(f"{field.name} must be two numbers [max, min], got {value!r}")
            items = value
            kind = "float"
        else:
            items = (value,)
        allowed = _SIMPLE_TYPES[kind]
        for item in items:
            if not isinstance(item, allowed) or (kind != "bool" and isinstance(item, bool)):
                raise ConfigError(f"{field.name} must be {_describe(kind)}, got {value!r}")
            if kind == "float" and not math.isfinite(item):
                raise ConfigError(f"{field.name} must be a finite number, got {value!r}")


OPTIMIZERS = ("sgd", "adam", "adamw")


def _one_of(config: RunConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def validate(config: RunConfig) -> None:
    """Check types and ranges; dataset and model names are checked against the registries."""
    from superconverge.schedules import LR_ENDS, LR_SHAPES

    check_types(config)
    for name, choices in (("lr_end", LR_ENDS), ("lr_shape", LR_SHAPES),
                          ("optimizer", OPTIMIZERS), ("precision", PRECISIONS),
                          ("color_mode", COLOR_MODES)):
        _one_of(config, name, choices)
    if config.lr_shape != "smith" and config.lr_end != "annihilate":
        raise ConfigError(f"lr_end applies to lr_shape 'smith' only; lr_shape "
                          f"{config.lr_shape!r} ends at 0 by itself: drop lr_end = "
                          f"{config.lr_end!r}, or set lr_shape = 'smith' (--lr-shape smith)")
    if not 0.0 < config.warmup_fraction < 1.0:
        raise ConfigError(f"warmup_fraction must lie in (0, 1), got {config.warmup_fraction}")
    if config.lr_shape == "smith" and config.warmup_fraction != PIPELINE_WARMUP_FRACTION:
        raise ConfigError(f"warmup_fraction applies to lr_shape 'warmup_cosine' and "
                          f"'warmup_linear' only (smith peaks at 45% of its steps): drop "
                          f"warmup_fraction = {config.warmup_fraction}, or choose one of those "
                          "shapes (--lr-shape)")
    if config.nesterov and config.optimizer != "sgd":
        raise ConfigError(f"nesterov applies to optimizer 'sgd' only, not {config.optimizer!r}")
    if not 0.0 <= config.lr_trial_fraction <= 1.0:
        raise ConfigError(f"lr_trial_fraction must lie in [0, 1] (each trial's share of the "
                          f"planned one-cycle steps; 0 = no trials), got "
                          f"{config.lr_trial_fraction}")
    if config.lr_trial_fraction > 0 and config.max_lr is not None:
        raise ConfigError("lr_trial_fraction chooses the max LR by trial runs, max_lr sets it: "
                          "drop one of them")
    if config.adamw_weight_decay < 0:
        raise ConfigError(f"adamw_weight_decay must be >= 0, got {config.adamw_weight_decay}")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must lie in [0, 1), got {config.label_smoothing}")
    if config.ema_momentum is not None and not 0.0 < config.ema_momentum < 1.0:
        raise ConfigError(f"ema_momentum must lie in (0, 1), got {config.ema_momentum}")
    for name in ("dataset", "model", "out", "suggest_method"):
        if not isinstance(getattr(config, name), str) or not getattr(config, name):
            raise ConfigError(f"{name} must be a non-empty string, got {getattr(config, name)!r}")
    _positive_int(config, "epochs")
    _positive_int(config, "batch_size", allow_none=True)
    _positive_int(config, "baseline_batch_size")
    if config.baseline_weight_decay < 0:
        raise ConfigError(f"baseline_weight_decay must be >= 0, got {config.baseline_weight_decay}")
    _positive_int(config, "baseline_epochs", minimum=0)
    _positive_int(config, "train_subset", allow_none=True)
    _positive_int(config, "range_steps", allow_none=True, minimum=10)
    _positive_int(config, "range_repeats")
    _positive_int(config, "train_shift", minimum=0)
    _positive_int(config, "seed", minimum=0)
    _positive_int(config, "image_size", allow_none=True)
    if config.dataset != "image_folder" and (config.image_size is not None
                                             or config.color_mode != "rgb"):
        raise ConfigError("image_size and color_mode apply to dataset = \"image_folder\" only")
    if config.seed > MAX_SEED:
        raise ConfigError(f"seed must be at most {MAX_SEED}, got {config.seed}")
    for name in ("range_start_lr", "range_end_lr", "baseline_lr", "min_lr_ratio"):
        _positive_float(config, name)
    _positive_float(config, "max_lr", allow_none=True)
    _positive_float(config, "budget_seconds", allow_none=True)
    if config.range_end_lr <= config.range_start_lr:
        raise ConfigError(
            f"range_end_lr ({config.range_end_lr}) must be larger than range_start_lr "
            f"({config.range_start_lr})"
        )
    if config.min_lr_ratio < 1:
        raise ConfigError(
            f"min_lr_ratio must be >= 1 (min LR = max LR / min_lr_ratio), got "
            f"{config.min_lr_ratio}"
        )
    if config.range_diverge <= 1:
        raise ConfigError(f"range_diverge must be > 1, got {config.range_diverge}")
    if not 0.0 < config.validation_split < 0.5:
        raise ConfigError(f"validation_split must lie in (0, 0.5), got {config.validation_split}")
    if config.weight_decay < 0:
        raise ConfigError(f"weight_decay must be >= 0, got {config.weight_decay}")
    if config.bn_momentum is not None and not 0.0 < config.bn_momentum < 1.0:
        raise ConfigError(f"bn_momentum must lie in (0, 1), got {config.bn_momentum}")
    if len(config.momentum) != 2 or not all(0.0 <= m < 1.0 for m in config.momentum):
        raise ConfigError(f"momentum must be two values in [0, 1), got {config.momentum!r}")
    if not 0.0 <= config.baseline_momentum < 1.0:
        raise ConfigError(f"baseline_momentum must lie in [0, 1), got {config.baseline_momentum}")

    # backend-free on purpose: importing Keras here would fix the backend before the CLI
    # (or the user) chooses it
    from superconverge import data
    from superconverge.bounds import available_methods
    from superconverge.names import known_models

    if config.suggest_method not in available_methods():
        raise ConfigError(
            f"unknown suggest_method {config.suggest_method!r}; available: "
            f"{', '.join(available_methods())}"
        )

    if config.dataset not in data.available():
        raise ConfigError(
            f"unknown dataset {config.dataset!r}; available: {', '.join(data.available())}"
        )
    if config.model not in known_models():
        raise ConfigError(
            f"unknown model {config.model!r}; available: {', '.join(known_models())}"
        )
