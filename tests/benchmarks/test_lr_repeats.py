"""benchmarks/lr_repeats.py: the summary pairs each repetition's two regrets, and the spread is
over the seeds of a task."""

from __future__ import annotations

import argparse
import math

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def repeats():
    yield from benchmark_module("lr_repeats")


def test_summary_pairs_by_repetition_and_spreads_over_seeds(repeats):
    rows = [{"task": "t", "seed": s, "epochs": e, "max_lr_single": lr1, "max_lr_averaged": 0.1,
             "regret_single": r1, "regret_averaged": r2}
            for s, lr1 in ((0, 0.01), (1, 1.0))
            for e, r1, r2 in ((2, 3.0, 1.0), (4, 2.0, 2.5))]
    out = repeats.summarize(rows, argparse.Namespace(repeats=3), ["--tasks", "t"], [0.0] * 3)
    pooled = out["by_budget"]["pooled"]
    assert pooled["single"]["mean"] == pytest.approx(2.5)
    assert pooled["averaged"]["mean"] == pytest.approx(1.75)
    assert pooled["paired_difference"]["mean"] == pytest.approx(-0.75)
    assert out["by_budget"]["2"]["paired_difference"]["mean"] == pytest.approx(-2.0)
    # picks 0.01 and 1.0: two decades apart, std sqrt(2); averaged picks equal: 0
    assert out["spread_decades"]["t"]["single"] == pytest.approx(math.sqrt(2))
    assert out["spread_decades"]["t"]["averaged"] == pytest.approx(0.0)
    text = "\n".join(repeats.markdown(out))
    assert "| pooled | 4 | 2.50 ± 0.58 | 1.75 ± 0.87 | -0.75 ± 1.44 |" in text
