"""benchmarks/lr_spread_averaged.py: averaging sweeps, the splits of the seeds, and a run on
synthetic curves whose noise cancels in pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import benchmark_module

from superconverge.finder import RangeTestResult
from superconverge.finder.sweep import smooth_losses, sweep_lrs


@pytest.fixture(scope="module")
def averaged():
    yield from benchmark_module("lr_spread_averaged")


def _curve(noise: np.ndarray, steps: int = 120, diverge_at: float = 1.0) -> RangeTestResult:
    """A loss that falls, bottoms out and blows up at ``diverge_at``, plus ``noise``."""
    lrs = sweep_lrs(1e-4, 10.0, steps)
    x = np.log10(lrs)
    losses = 2.0 - 1.5 / (1 + np.exp(-3 * (x + 2.5))) + np.exp(4 * (x - math.log10(diverge_at)))
    losses = losses + noise[:steps]
    return RangeTestResult(lrs=lrs.tolist(), losses=losses.tolist(),
                           smoothed_losses=smooth_losses(losses, 0.9).tolist(),
                           stop_reason="completed", stop_step=None, mode="exp", start_lr=1e-4,
                           end_lr=10.0, num_steps=steps, smooth=0.9, diverge=4.0,
                           batch_size=32, backend="torch")


def test_average_of_opposite_noise_is_the_clean_curve():
    noise = np.random.default_rng(0).normal(0.0, 0.3, 120)
    clean, up, down = _curve(np.zeros(120)), _curve(noise), _curve(-noise)
    mean = RangeTestResult.average([up, down])
    np.testing.assert_allclose(mean.losses, clean.losses, atol=1e-12)
    np.testing.assert_allclose(mean.smoothed_losses, clean.smoothed_losses, atol=1e-12)
    # a shorter sweep cuts the average to the steps every sweep reached
    short = _curve(noise, steps=120)
    short = RangeTestResult(**{**short.__dict__, "lrs": short.lrs[:80],
                               "losses": short.losses[:80],
                               "smoothed_losses": short.smoothed_losses[:80]})
    assert len(RangeTestResult.average([up, short])) == 80
    other_grid = RangeTestResult(**{**clean.__dict__, "lrs": (np.asarray(clean.lrs) * 2).tolist()})
    with pytest.raises(ValueError, match="LR grid"):  # RangeTestError is a ValueError
        RangeTestResult.average([clean, other_grid])


def test_partitions_are_every_split_into_disjoint_groups(averaged):
    splits = list(averaged.partitions(list(range(8)), 2))
    assert len(splits) == 105  # 7 · 5 · 3
    assert len(list(averaged.partitions(list(range(8)), 4))) == 35  # C(7, 3)
    for split in splits:
        assert sorted(i for group in split for i in group) == list(range(8))
    assert len({tuple(sorted(s)) for s in splits}) == 105


def test_pairs_whose_noise_cancels_pick_alike(averaged):
    # seeds 2k and 2k+1 carry opposite noise: every pair of that kind averages to the clean
    # curve: both such pairs pick what the clean curve picks
    rng = np.random.default_rng(1)
    noises = [rng.normal(0.0, 0.4, 120) for _ in range(2)]
    results = [_curve(sign * noises[k]) for k in range(2) for sign in (1, -1)]
    out = averaged.spread_of_groups(results, 2)
    clean_pick = averaged.auto_pick(_curve(np.zeros(120)))
    assert out["picks_averaged"]["0+1"] == pytest.approx(10 ** clean_pick)
    assert out["picks_averaged"]["2+3"] == pytest.approx(10 ** clean_pick)
    assert out["splits"] == 3 and out["groups_per_split"] == 2


def test_regret_of_averaging_scores_each_curve_on_the_repetitions_own_grid(averaged):
    # accuracy peaks at lr 0.1 on the trained grid; two seeds whose noises cancel: their
    # average is the clean curve, whatever each one alone picks
    noise = np.random.default_rng(2).normal(0.0, 0.4, 120)
    grid = np.log10([0.01, 0.03, 0.1, 0.3, 1.0])

    def rep(seed, curve):
        return {"task": "toy", "epochs": 2, "seed": seed, "result": curve, "log_lr": grid,
                "acc": [0.80, 0.85, 0.90, 0.86, 0.70], "best_grid_acc": 0.90}

    reps = [rep(0, _curve(noise)), rep(1, _curve(-noise))]
    out = averaged.regret_of_averaging(reps)

    def regret_at(lr):
        return 100 * (0.90 - float(np.interp(math.log10(lr), grid, reps[0]["acc"])))

    clean = regret_at(_curve(np.zeros(120)).suggest(method="auto").max_lr)
    for row, r in zip(out["rows"], reps, strict=True):
        assert row["single"] == pytest.approx(regret_at(r["result"].suggest(method="auto").max_lr))
        assert row["pair"] == pytest.approx(clean) and row["all"] == pytest.approx(clean)
    assert out["pooled"]["all"]["n"] == 2 and set(out["by_budget"]) == {"2"}
