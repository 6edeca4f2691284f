"""The one-cycle batch chosen from the run's length (superconverge.batch_rule)."""

from __future__ import annotations

import math

import pytest

from superconverge.batch_rule import BatchRuleError, choose_batch_size
from superconverge.pipeline import Pipeline, RunConfig


def _closed_form(n: int, epochs: int, largest: int, smallest: int, steps: int) -> int:
    """The largest largest/2^k >= smallest with epochs*ceil(n/b) >= steps, else smallest."""
    candidates = [largest >> k for k in range(largest.bit_length())
                  if largest >> k >= smallest]
    fitting = [b for b in candidates if epochs * math.ceil(n / b) >= steps]
    return max(fitting) if fitting else min(candidates)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 12_000, 16_000, 54_000])
@pytest.mark.parametrize("epochs", [1, 2, 4, 5, 20])
def test_choice_matches_the_closed_form(n, epochs):
    choice = choose_batch_size(n, epochs, largest=64, smallest=16, min_cycle_steps=1000)
    assert choice.batch_size == _closed_form(n, epochs, 64, 16, 1000)
    assert choice.cycle_steps == epochs * math.ceil(n / choice.batch_size)


def test_the_measured_cases():
    # Fashion-MNIST: 54,000 images keep 64 at 2 and 4 epochs; resnet20's 12,000 at 4 and 5
    # epochs (752 / 940 steps at 64) go to 32
    assert choose_batch_size(54_000, 4).batch_size == 64
    assert choose_batch_size(54_000, 2).batch_size == 64
    small = choose_batch_size(12_000, 4)
    assert (small.batch_size, small.cycle_steps) == (32, 1500)
    assert "752 steps at 64" in small.reason
    assert choose_batch_size(12_000, 5).batch_size == 32


def test_exactly_the_minimum_keeps_the_batch():
    assert choose_batch_size(64_000, 1, min_cycle_steps=1000).batch_size == 64
    assert choose_batch_size(63_937, 1, min_cycle_steps=1000).batch_size == 64
    assert choose_batch_size(63_936, 1, min_cycle_steps=1000).batch_size == 32


def test_tiny_data_stops_at_the_smallest_batch_and_says_so():
    choice = choose_batch_size(100, 1)
    assert choice.batch_size == 16 and "smallest batch allowed" in choice.reason


@pytest.mark.parametrize("kwargs, message", [
    ({"train_examples": 0, "epochs": 4}, "train_examples"),
    ({"train_examples": 100, "epochs": 2.5}, "epochs"),
    ({"train_examples": 100, "epochs": True}, "epochs"),
    ({"train_examples": 100, "epochs": 4, "smallest": 128}, "larger than the largest"),
])
def test_impossible_arguments(kwargs, message):
    with pytest.raises(BatchRuleError, match=message):
        choose_batch_size(**kwargs)


def _pipeline(tmp_path, **changes) -> Pipeline:
    config = RunConfig(dataset="synthetic", train_subset=200, epochs=4, out=str(tmp_path / "r"))
    return Pipeline(config.replace(**changes), quiet=True)


def test_the_pipeline_resolves_an_unset_batch_from_the_run_length(tmp_path):
    pipeline = _pipeline(tmp_path)
    assert pipeline.config.batch_size is None
    n = len(pipeline.data.train)
    assert pipeline.batch_size == choose_batch_size(n, 4).batch_size == 16
    assert pipeline.steps_per_epoch() == math.ceil(n / 16)
    given = _pipeline(tmp_path, batch_size=48)
    assert given.batch_size == 48 and "set in the configuration" in given.batch_choice().reason
    budget = _pipeline(tmp_path, budget_seconds=60.0)
    assert budget.batch_size == 64 and "time budget" in budget.batch_choice().reason
