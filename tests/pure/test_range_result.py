"""Pure parts of the LR range test: the sweep, the smoothing, RangeTestResult I/O and plot."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from superconverge.finder.errors import RangeTestError
from superconverge.finder.result import RangeTestResult
from superconverge.finder.sweep import LossEMA, smooth_losses, sweep_lrs, sweep_schedule


def test_exp_sweep_closed_form():
    lrs = sweep_lrs(1e-7, 10.0, 100, "exp")
    i = np.arange(100)
    np.testing.assert_allclose(lrs, 1e-7 * (10.0 / 1e-7) ** (i / 99), rtol=1e-12)
    assert lrs[0] == 1e-7 and lrs[-1] == 10.0
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)  # geometric


@pytest.mark.parametrize("mode", ["exp", "linear"])
def test_sweep_schedule_is_the_sweep_and_holds_the_end(mode):
    # what the compiled step evaluates from the step counter must be what is recorded
    schedule = sweep_schedule(1e-5, 10.0, 423, mode)
    np.testing.assert_allclose(schedule(np.arange(423)), sweep_lrs(1e-5, 10.0, 423, mode),
                               rtol=1e-12)
    assert schedule(422) == 10.0 and schedule(500) == 10.0 and schedule(-3) == 1e-5
    with pytest.raises(RangeTestError, match="num_steps >= 2"):
        sweep_schedule(1e-5, 10.0, 1, mode)


def test_linear_sweep_and_single_step():
    np.testing.assert_allclose(sweep_lrs(0.1, 1.0, 10, "linear"), np.linspace(0.1, 1.0, 10))
    np.testing.assert_array_equal(sweep_lrs(0.1, 1.0, 1), [0.1])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 1.0, 10, "exp"), "start_lr must be > 0"),
        ((1.0, 1.0, 10, "exp"), "larger than start_lr"),
        ((1e-3, 1.0, 10, "cos"), "Unknown mode"),
        ((1e-3, math.inf, 10, "exp"), "finite"),
        ((1e-3, 1.0, 0, "exp"), "num_steps"),
    ],
)
def test_sweep_bad_args(args, match):
    with pytest.raises(RangeTestError, match=match):
        sweep_lrs(*args)


def test_smoothing_matches_hand_computation():
    losses = [3.0, 1.0, 2.0]
    b = 0.9
    avg, expected = 0.0, []
    for i, v in enumerate(losses):
        avg = b * avg + (1 - b) * v
        expected.append(avg / (1 - b ** (i + 1)))
    np.testing.assert_allclose(smooth_losses(losses, b), expected, rtol=1e-15)
    assert smooth_losses(losses, b)[0] == 3.0  # bias correction: first value is the loss
    np.testing.assert_array_equal(smooth_losses(losses, 0.0), losses)
    ema = LossEMA(b)
    np.testing.assert_array_equal([ema.update(v) for v in losses], smooth_losses(losses, b))
    with pytest.raises(RangeTestError, match="smooth"):
        smooth_losses(losses, 1.0)


@settings(max_examples=50, deadline=None)
@given(
    c=st.floats(1e-3, 1e3),
    n=st.integers(1, 300),
    beta=st.floats(0.0, 0.999),
)
def test_smoothing_constant_is_constant(c, n, beta):
    np.testing.assert_allclose(smooth_losses([c] * n, beta), c, rtol=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1e3), min_size=1, max_size=200), st.floats(0.0, 0.99))
def test_smoothing_stays_within_the_range_of_the_losses(losses, beta):
    sm = smooth_losses(losses, beta)
    assert np.all(sm >= min(losses) - 1e-9 * (1 + max(losses)))
    assert np.all(sm <= max(losses) + 1e-9 * (1 + max(losses)))


def _result(**kw):
    lrs = sweep_lrs(1e-5, 1.0, 30)
    t = np.log10(lrs)
    losses = 2.0 - np.clip(t + 4, 0, None) ** 1.5 * 0.3 + np.where(t > -0.5, 50 * (t + 0.5), 0)
    losses[-1] = np.inf
    base = dict(lrs=lrs, losses=losses, smoothed_losses=smooth_losses(losses, 0.9),
                stop_reason="non_finite", stop_step=29, start_lr=1e-5, end_lr=1.0,
                num_steps=30, smooth=0.9, val_steps=[9, 19],
                val_losses=[1.5, math.nan], val_accuracies=[0.4, 0.5])
    base.update(kw)
    return RangeTestResult(**base)


def test_json_is_strict_and_round_trips(tmp_path):
    r = _result()
    path = r.save(tmp_path / "r.json")
    text = path.read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    back = RangeTestResult.load(path)
    np.testing.assert_array_equal(back.lrs, r.lrs)
    np.testing.assert_array_equal(back.losses, r.losses)  # inf survives
    np.testing.assert_array_equal(back.smoothed_losses, r.smoothed_losses)
    np.testing.assert_array_equal(back.val_losses, r.val_losses)  # NaN survives
    np.testing.assert_array_equal(back.val_steps, [9, 19])
    assert back.stop_reason == "non_finite" and back.stop_step == 29
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "other"}))
    with pytest.raises(RangeTestError, match="Not a range-test result"):
        RangeTestResult.load(p)


def test_length_checks():
    with pytest.raises(RangeTestError, match="same length"):
        RangeTestResult(lrs=[1, 2], losses=[1], smoothed_losses=[1])
    with pytest.raises(RangeTestError, match="val_losses"):
        RangeTestResult(lrs=[1], losses=[1], smoothed_losses=[1], val_steps=[0],
                        val_losses=[1, 2])


def test_reading_helpers():
    r = _result()
    assert len(r) == 30
    assert r.lr_at_min_loss == pytest.approx(r.lrs[np.nanargmin(r.smoothed_losses)])
    np.testing.assert_array_equal(r.val_lrs, r.lrs[[9, 19]])
    assert "non_finite at step 29" in r.summary()


def test_plot_without_pyplot_state(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class S:
        min_lr, max_lr = 1e-3, 1e-2

    n_figs = len(plt.get_fignums())
    ax = _result().plot(path=tmp_path / "p.png", suggestion=S())
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert ax.get_xscale() == "log"
    assert len(plt.get_fignums()) == n_figs
    labels = ax.get_legend_handles_labels()[1]
    assert any("max_lr" in s for s in labels) and any("min_lr" in s for s in labels)
    fig, ax2 = plt.subplots()
    assert _result(mode="linear").plot(ax=ax2, suggestion=False) is ax2
    assert ax2.get_xscale() == "linear"
    plt.close(fig)


def test_plot_shows_what_auto_read(tmp_path):
    """With an ``auto`` suggestion the plot also has the curve the landmarks were read from
    (not the lagging EMA) and the divergence LR; with none, neither."""
    r = _result()
    s = r.suggest(method="auto")
    ax = r.plot(suggestion=s)
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    sg = lines["auto's smoothing (Savitzky–Golay)"]
    np.testing.assert_allclose(sg.get_xdata(), s.diagnostics["lrs"])
    np.testing.assert_allclose(sg.get_ydata(), s.diagnostics["smoothed"])
    div = next(v for k, v in lines.items() if k.startswith("diverges at"))
    assert div.get_xdata()[0] == pytest.approx(s.diagnostics["divergence_lr"])
    plain = {ln.get_label() for ln in r.plot(suggestion=False).get_lines()}
    assert not any("auto" in k or "diverges" in k for k in plain)


def test_plot_marks_a_transient_spike():
    """A spike that recovers gets its own dotted line next to the divergence line (the curve
    of ``test_suggest_auto``'s transient-spike test: a bump at 10^-1.5 that comes back down,
    the blow-up near 10^-0.4)."""
    x = np.linspace(-6.0, 1.0, 200)
    y = (0.4 + 1.9 / (1 + np.exp((x + 3.0) / 0.175))
         + np.where(x > -0.5, np.expm1(6.0 * np.clip(x + 0.5, 0, None)), 0.0)
         + 0.15 * np.clip(x + 2.0, 0.0, None) + 2.5 * np.exp(-0.5 * ((x + 1.5) / 0.1) ** 2))
    lrs = 10.0**x
    r = _result(lrs=lrs, losses=y, smoothed_losses=smooth_losses(y, 0.9), stop_reason="completed",
                stop_step=199, start_lr=1e-6, end_lr=10.0, num_steps=200, val_steps=None,
                val_losses=None, val_accuracies=None)
    s = r.suggest(method="auto")
    assert -1.9 < math.log10(s.diagnostics["spike_lr"]) < -1.5
    lines = {ln.get_label(): ln for ln in r.plot(suggestion=s).get_lines()}
    spike = next(v for k, v in lines.items() if k.startswith("spike at"))
    assert spike.get_xdata()[0] == pytest.approx(s.diagnostics["spike_lr"])
    assert any(k.startswith("diverges at") for k in lines)
    plain = _result()
    assert not any(ln.get_label().startswith("spike at")
                   for ln in plain.plot(suggestion=plain.suggest()).get_lines())


def test_result_module_imports_without_keras():
    code = ("import sys, superconverge.finder as f; f.RangeTestResult; f.sweep_lrs; "
            "assert 'keras' not in sys.modules, 'keras imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_average_of_sweeps_closed_form_and_errors():
    lrs = sweep_lrs(1e-4, 1.0, 30)
    a = RangeTestResult(lrs=lrs, losses=np.linspace(2.0, 1.0, 30), smoothed_losses=np.zeros(30))
    b = RangeTestResult(lrs=lrs[:25], losses=np.r_[np.linspace(1.0, 2.0, 24), np.nan],
                        smoothed_losses=np.zeros(25), stop_reason="non_finite", stop_step=24)
    mean = RangeTestResult.average([a, b])
    # the steps both reached; the loss is the mean, re-smoothed; b's NaN ends the average
    assert len(mean) == 25 and mean.stop_reason == "non_finite" and mean.stop_step == 24
    np.testing.assert_allclose(mean.losses[:24], (a.losses[:24] + b.losses[:24]) / 2)
    assert np.isnan(mean.losses[24])
    np.testing.assert_allclose(mean.smoothed_losses[:24], smooth_losses(mean.losses[:24]))
    assert mean.metadata["sweeps"] == [{"steps": 30, "stop_reason": "completed"},
                                       {"steps": 25, "stop_reason": "non_finite"}]
    same = RangeTestResult.average([a])
    np.testing.assert_array_equal(same.losses, a.losses)
    with pytest.raises(RangeTestError, match="LR grid"):
        RangeTestResult.average([a, RangeTestResult(lrs=lrs * 2, losses=a.losses,
                                                    smoothed_losses=a.losses)])
    with pytest.raises(RangeTestError, match="at least one"):
        RangeTestResult.average([])
