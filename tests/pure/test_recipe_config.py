"""The recipe levers of RunConfig (issue 13): defaults, TOML keys, CLI flags, bad values."""

from __future__ import annotations

import math

import pytest

from superconverge.commands.pipeline import config_from_args
from superconverge.pipeline.config import ConfigError, RunConfig


def test_defaults_are_the_measured_recipe():
    # recipe_ablation.md: the combination that won on validation; the baseline keeps its own
    config = RunConfig()
    assert (config.lr_end, config.optimizer, config.nesterov, config.momentum,
            config.batch_size, config.weight_decay, config.label_smoothing,
            config.ema_momentum, config.precise_bn, config.train_flip, config.tta_flip) == (
        "annihilate", "sgd", None, (0.9, 0.9), None, 1e-4, 0.1, None, True, False, False)
    assert (config.baseline_batch_size, config.baseline_weight_decay) == (128, 5e-4)
    assert (config.lr_shape, config.warmup_fraction) == ("warmup_cosine", 0.1)


def test_an_older_run_directory_keeps_its_baseline_and_recipe():
    old = {"dataset": "synthetic", "batch_size": 96, "weight_decay": 1e-3}
    config = RunConfig.from_saved(old)
    assert (config.baseline_batch_size, config.baseline_weight_decay) == (96, 1e-3)
    assert (config.ema_momentum, config.precise_bn, config.label_smoothing) == (None, False, 0)
    assert (config.lr_shape, config.fused_bn) == ("smith", False)


def test_toml_keys(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'lr-shape = "smith"\nlr-end = "zero_half"\nmomentum = [0.9, 0.9]\n'
        'label_smoothing = 0.1\nema_momentum = 0.995\nprecise-bn = true\ntrain_flip = true\n'
        'tta_flip = true\n'
        'optimizer = "adamw"\nadamw_weight_decay = 0.02\n')
    assert RunConfig.from_dict({"nesterov": True}).nesterov is True
    config = RunConfig.from_file(path)
    assert (config.lr_end, config.momentum, config.label_smoothing, config.ema_momentum,
            config.precise_bn, config.train_flip, config.tta_flip, config.optimizer,
            config.adamw_weight_decay) == (
        "zero_half", (0.9, 0.9), 0.1, 0.995, True, True, True, "adamw", 0.02)


def test_cli_flags():
    import argparse

    from superconverge.commands import pipeline as commands

    parser = argparse.ArgumentParser()
    commands.add_config_options(parser)
    args = parser.parse_args([
        "--lr-shape", "smith", "--lr-end", "zero_tail", "--nesterov", "--label-smoothing", "0.2",
        "--ema-momentum", "0.99", "--precise-bn", "--train-flip", "--tta-flip", "--out", "x"])
    config = config_from_args(args)
    assert (config.lr_end, config.nesterov, config.label_smoothing, config.ema_momentum,
            config.precise_bn, config.train_flip, config.tta_flip) == (
        "zero_tail", True, 0.2, 0.99, True, True, True)
    assert config_from_args(parser.parse_args(["--optimizer", "adam"])).optimizer == "adam"
    assert config_from_args(parser.parse_args(["--lr-shape", "smith"])).lr_shape == "smith"
    linear = config_from_args(parser.parse_args(["--lr-shape", "warmup_linear",
                                                 "--warmup-fraction", "0.25"]))
    assert (linear.lr_shape, linear.warmup_fraction) == ("warmup_linear", 0.25)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"lr_end": "cosine"}, "lr_end"),
        ({"lr_end": 3}, "lr_end"),
        ({"lr_shape": "cosine"}, "lr_shape"),
        ({"lr_shape": None}, "lr_shape"),
        ({"lr_shape": "warmup_cosine", "lr_end": "zero_tail"}, "lr_end"),
        ({"lr_shape": "warmup_linear", "lr_end": "zero_half"}, "lr_end"),
        ({"warmup_fraction": 0.0}, "warmup_fraction"),
        ({"warmup_fraction": 1.0}, "warmup_fraction"),
        ({"warmup_fraction": math.nan}, "warmup_fraction"),
        ({"warmup_fraction": "0.1"}, "warmup_fraction"),
        ({"lr_shape": "smith", "warmup_fraction": 0.2}, "warmup_fraction"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"nesterov": 1}, "nesterov"),
        ({"nesterov": "true"}, "nesterov"),
        ({"nesterov": True, "optimizer": "adam"}, "nesterov"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"label_smoothing": math.nan}, "label_smoothing"),
        ({"label_smoothing": "0.1"}, "label_smoothing"),
        ({"ema_momentum": 1.0}, "ema_momentum"),
        ({"ema_momentum": 0.0}, "ema_momentum"),
        ({"ema_momentum": math.inf}, "ema_momentum"),
        ({"ema_momentum": True}, "ema_momentum"),
        ({"precise_bn": "yes"}, "precise_bn"),
        ({"train_flip": 0}, "train_flip"),
        ({"train_shift": -1}, "train_shift"),
        ({"train_shift": 1.5}, "train_shift"),
        ({"train_shift": True}, "train_shift"),
        ({"tta_flip": None}, "tta_flip"),
        ({"adamw_weight_decay": -1.0}, "adamw_weight_decay"),
        ({"adamw_weight_decay": math.nan}, "adamw_weight_decay"),
        ({"weight_decay": math.nan}, "weight_decay"),
        ({"momentum": (0.9, math.nan)}, "momentum"),
        ({"momentum": (0.9, "a")}, "momentum"),
        ({"augment": "no"}, "augment"),
    ],
)
def test_a_bad_value_gets_a_one_line_error_naming_its_key(changes, key):
    with pytest.raises(ConfigError) as error:
        RunConfig(**changes)
    message = str(error.value)
    assert message.startswith(key) and "\n" not in message


def test_momentum_must_be_a_list_in_a_file():
    with pytest.raises(ConfigError, match=r"^momentum"):
        RunConfig.from_dict({"momentum": 0.9})


def test_a_run_directory_from_before_a_key_existed_keeps_what_it_ran_with():
    # config.json of a run made before `nesterov` existed: it ran plain SGD momentum
    old = {"dataset": "synthetic", "momentum": [0.95, 0.85], "epochs": 3}
    assert RunConfig.from_saved(old).nesterov is False
    assert RunConfig.from_saved({**old, "nesterov": None}).nesterov is None
    assert RunConfig.from_saved(old).epochs == 3
