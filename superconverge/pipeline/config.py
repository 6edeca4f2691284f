"""One configuration model for every subcommand, validated before anything starts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomllib


class ConfigError(ValueError):
    """A configuration value or file is unusable; the message says what to change."""


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs. Defaults reproduce the README's main job on Fashion-MNIST.

    Training budgets are in epochs of the (possibly subset) training split. ``max_lr`` skips
    the range test's choice when set; ``baseline_epochs = 0`` disables the baseline.

    Recipe levers of the one-cycle run (issue 13; the defaults keep the original recipe, the
    step-decay baseline never uses them):

    * ``lr_end``: how the LR ends: ``"annihilate"`` (``min_lr → min_lr/100`` over the last
      10%), ``"zero_tail"`` (``min_lr → 0`` over the last 10%) or ``"zero_half"`` (``max_lr →
      0`` linearly over the whole second half, Li et al. 2020).
    * ``optimizer``: ``"sgd"``, ``"adam"`` or ``"adamw"``, for the range test and one-cycle
      alike (``momentum`` cycles Adam's ``beta_1``). ``adam`` keeps the model's L2
      ``weight_decay``; ``adamw`` replaces it by the optimizer's decoupled decay
      ``adamw_weight_decay`` (the model gets no L2; AdamW subtracts
      ``lr · adamw_weight_decay · w`` per step). The baseline always uses ``weight_decay``.
    * ``nesterov``: Nesterov momentum (SGD only). Constant momentum: ``momentum = (m, m)``.
    * ``label_smoothing``: in [0, 1), applied to the training loss (range test and one-cycle).
    * ``ema_momentum``: keep an exponential moving average of the weights during one-cycle
      (Keras ``use_ema``) and evaluate the averaged weights; ``None`` = off.
    * ``precise_bn``: after one-cycle training (and the EMA swap), recompute the BN statistics
      on training batches for the final weights (``tuning.precise_bn``).
    * ``train_flip``: random horizontal flips of the one-cycle training batches (only for data
      that is flip-invariant: never on by default).
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
    seed: int = 0
    batch_size: int = 128
    # one-cycle training
    epochs: int = 4
    max_lr: float | None = None
    min_lr_ratio: float = 10.0
    suggest_method: str = "auto"
    momentum: tuple[float, float] = (0.95, 0.85)
    weight_decay: float = 5e-4
    bn_momentum: float | None = None
    tune: bool = False
    # recipe levers (see the class docstring)
    lr_end: str = "annihilate"
    optimizer: str = "sgd"
    adamw_weight_decay: float = 0.05
    nesterov: bool = False
    label_smoothing: float = 0.0
    ema_momentum: float | None = None
    precise_bn: bool = False
    train_flip: bool = False
    tta_flip: bool = False
    # range test
    range_start_lr: float = 1e-5
    range_end_lr: float = 10.0
    range_steps: int | None = None
    range_diverge: float = 4.0
    # baseline: SGD momentum 0.9, LR divided by 10 at 50% and 75% of its epochs
    baseline_epochs: int = 20
    baseline_lr: float = 0.1
    baseline_momentum: float = 0.9
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
            if not isinstance(values["momentum"], (list, tuple)):
                raise ConfigError(
                    f"momentum must be two values [max, min], got {values['momentum']!r}")
            values["momentum"] = tuple(values["momentum"])
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RunConfig:
        path = Path(path)
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError as error:
            raise ConfigError(f"config file {path} does not exist") from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
        data = {k.replace("-", "_"): v for k, v in data.items()}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


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


def _bool(config: RunConfig, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def _number(config: RunConfig, name: str) -> float | None:
    value = getattr(config, name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


OPTIMIZERS = ("sgd", "adam", "adamw")


def validate(config: RunConfig) -> None:
    """Check types and ranges; dataset and model names are checked against the registries."""
    from superconverge.schedules import LR_ENDS

    for name in ("augment", "download", "tune", "nesterov", "precise_bn", "train_flip",
                 "tta_flip"):
        _bool(config, name)
    for name in ("weight_decay", "validation_split", "range_diverge", "baseline_momentum",
                 "label_smoothing", "ema_momentum", "bn_momentum", "adamw_weight_decay"):
        _number(config, name)
    if not isinstance(config.momentum, tuple) or not all(
        not isinstance(m, bool) and isinstance(m, (int, float)) and math.isfinite(m)
        for m in config.momentum
    ):
        raise ConfigError(f"momentum must be two numbers [max, min], got {config.momentum!r}")
    if config.lr_end not in LR_ENDS:
        raise ConfigError(f"lr_end must be one of {', '.join(LR_ENDS)}, got {config.lr_end!r}")
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    if config.nesterov and config.optimizer != "sgd":
        raise ConfigError(f"nesterov applies to optimizer 'sgd' only, not {config.optimizer!r}")
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
    _positive_int(config, "batch_size")
    _positive_int(config, "baseline_epochs", minimum=0)
    _positive_int(config, "train_subset", allow_none=True)
    _positive_int(config, "range_steps", allow_none=True, minimum=10)
    _positive_int(config, "seed", minimum=0)
    for name in ("range_start_lr", "range_end_lr", "baseline_lr", "min_lr_ratio"):
        _positive_float(config, name)
    _positive_float(config, "max_lr", allow_none=True)
    if config.range_end_lr <= config.range_start_lr:
        raise ConfigError(
            f"range_end_lr ({config.range_end_lr}) must be larger than range_start_lr "
            f"({config.range_start_lr})"
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

    from superconverge import data, models

    if config.dataset not in data.available():
        raise ConfigError(
            f"unknown dataset {config.dataset!r}; available: {', '.join(data.available())}"
        )
    if config.model not in models.available():
        raise ConfigError(
            f"unknown model {config.model!r}; available: {', '.join(models.available())}"
        )
