"""benchmarks/lr_confidence.py: the candidate warnings' closed forms and a warning that does
(and one that does not) rank the regret."""

from __future__ import annotations

import math

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def conf():
    yield from benchmark_module("lr_confidence")


def test_quantities_closed_form(conf):
    q = conf.quantities(pick_log_lr=-1.0, confidence=0.8, top=-0.5, ref=0.3, x_min=-1.4)
    assert q == pytest.approx({"confidence": 0.8, "top_minus_pick": 0.5, "pick_to_min": 0.4,
                               "div_minus_top": 0.8})


def test_a_warning_that_tracks_the_regret_gets_rho_one_and_splits_it(conf):
    rows = [{"epochs": 2 if i % 2 else 4, "regret_pp": float(i), "confidence": 1.0 - i / 10,
             "top_minus_pick": float(i), "pick_to_min": 0.3, "div_minus_top": float(-i)}
            for i in range(8)]
    a = conf.analyse(rows)
    assert a["confidence"]["rho"] == pytest.approx(-1.0)
    assert a["top_minus_pick"]["rho"] == pytest.approx(1.0)
    assert a["div_minus_top"]["rho"] == pytest.approx(-1.0)
    assert a["pick_to_min"]["rho"] == 0.0  # constant: ranks nothing
    assert a["top_minus_pick"]["rho_by_budget"] == {"2": pytest.approx(1.0),
                                                    "4": pytest.approx(1.0)}
    split = a["top_minus_pick"]
    assert split["median"] == pytest.approx(3.5)
    assert split["regret_low"] == pytest.approx(1.5) and split["regret_high"] == pytest.approx(5.5)
    assert math.isnan(a["pick_to_min"]["regret_high"])  # nothing above a constant's median
