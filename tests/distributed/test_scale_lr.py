"""The documented LR scaling rule (``superconverge.distributed.scale_lr``): closed forms, bad
arguments. No Keras model is built here."""

from __future__ import annotations

import math

import pytest

from superconverge.distributed import scale_lr


def test_linear_rule_multiplies_by_the_batch_ratio():
    assert scale_lr(0.1, 256, 1024, "linear") == pytest.approx(0.4)
    assert scale_lr(0.1, 256, 1024) == pytest.approx(0.4)  # linear is the default
    assert scale_lr(0.4, 1024, 256, "linear") == pytest.approx(0.1)  # and back


def test_sqrt_rule_multiplies_by_the_root_of_the_ratio():
    assert scale_lr(0.1, 256, 1024, "sqrt") == pytest.approx(0.2)
    assert scale_lr(0.03, 32, 96, "sqrt") == pytest.approx(0.03 * math.sqrt(3))


def test_same_batch_is_identity():
    for rule in ("linear", "sqrt"):
        assert scale_lr(0.0123, 128, 128, rule) == 0.0123


@pytest.mark.parametrize(
    "args",
    [
        (0.0, 32, 64),
        (-0.1, 32, 64),
        (math.inf, 32, 64),
        (math.nan, 32, 64),
        (0.1, 0, 64),
        (0.1, 32, -1),
        (0.1, 32.0, 64),
        (0.1, True, 64),
    ],
)
def test_bad_arguments_raise(args):
    with pytest.raises(ValueError):
        scale_lr(*args)


def test_unknown_rule_raises_with_the_choices():
    with pytest.raises(ValueError, match=r"linear.*sqrt"):
        scale_lr(0.1, 32, 64, "cubic")  # type: ignore[arg-type]
