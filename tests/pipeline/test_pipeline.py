"""The pipeline end to end on small synthetic data: run directory, resume after SIGKILL, configs.

These run on one backend (the one scripts/test.sh selects for them); the callbacks and the
range test they use are tested on all three under tests/keras.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from superconverge.cli import main
from superconverge.pipeline import ConfigError, Pipeline, RunConfig, RunDirectoryError

SMALL = [
    "--dataset", "synthetic", "--model", "simple_cnn", "--train-subset", "448",
    "--batch-size", "32", "--seed", "3", "--quiet",
]


def _cli(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "superconverge", *args], capture_output=True, text=True,
        env=env, timeout=600, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _applied(run_dir: Path) -> list[tuple[float, float, float]]:
    with (run_dir / "one_cycle_applied.csv").open() as handle:
        return [(float(r["step"]), float(r["learning_rate"]), float(r["momentum"]))
                for r in csv.DictReader(handle)]


def test_full_run_writes_every_artifact(tmp_path):
    out = tmp_path / "run"
    result = _cli("run", *SMALL, "--epochs", "2", "--baseline-epochs", "2", "--range-steps", "30",
                  "--out", str(out), "--json")
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["report"] == str(out / "report.html")
    for name in ("config.json", "environment.json", "data.json", "range_test.json",
                 "range_test.png", "bounds.json", "one_cycle_history.csv",
                 "baseline_history.csv", "one_cycle_applied.csv", "metrics.json", "report.html",
                 "models/one_cycle.keras", "models/baseline.keras"):
        assert (out / name).exists(), name
    bounds = json.loads((out / "bounds.json").read_text())
    assert 0 < bounds["min_lr"] < bounds["max_lr"] and bounds["reason"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["comparison"]["epoch_ratio"] == 1.0
    assert metrics["one_cycle"]["test_accuracy"] > 0.5  # 4 well-separated classes
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Summary" in page
    # the LR applied is the policy's, one row per optimizer step
    applied = _applied(out)
    assert [s for s, _, _ in applied] == list(map(float, range(2 * 448 // 32)))
    assert max(lr for _, lr, _ in applied) <= bounds["max_lr"] * (1 + 1e-9)
    # resuming a finished run changes nothing
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = _cli("resume", str(out))
    assert "already finished" in again.stdout
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_baseline_only_stages_train_and_test_the_baseline_alone(tmp_path):
    """prepare → baseline → evaluate: no range test, no bounds, no one-cycle model; evaluate
    tests the one model trained (benchmarks/budget_curves.py's baseline arm)."""
    out = tmp_path / "base"
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=64, batch_size=32,
                       baseline_epochs=1, out=str(out))
    summary = Pipeline(config, quiet=True).run(["prepare", "baseline", "evaluate"])
    assert summary.stages_run == ["prepare", "baseline", "evaluate"]
    assert set(summary.metrics) == {"baseline"}
    assert summary.metrics["baseline"]["epochs"] == 1
    assert 0.0 <= summary.metrics["baseline"]["test_accuracy"] <= 1.0
    assert not (out / "range_test.json").exists() and not (out / "bounds.json").exists()
    assert not (out / "models" / "one_cycle.keras").exists()
    # nothing trained: evaluate says so instead of failing on a missing model file
    with pytest.raises(RunDirectoryError, match="no trained model"):
        Pipeline(config.replace(out=str(tmp_path / "none")), quiet=True).run(
            ["prepare", "evaluate"])


def test_kill_during_training_then_resume_replays_the_exact_schedule(tmp_path):
    args = [*SMALL, "--epochs", "3", "--no-baseline", "--max-lr", "0.2"]
    straight = tmp_path / "straight"
    _cli("train", *args, "--out", str(straight))

    killed = tmp_path / "killed"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "superconverge", "train", *args, "--out", str(killed)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    state = killed / "checkpoints" / "one_cycle" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed"
    first_epoch = json.loads(state.read_text())["history"][0]["wall_time"]
    time.sleep(min(first_epoch / 2, 5.0))  # well inside epoch 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = json.loads(state.read_text())
    assert saved["epoch"] in (1, 2) and not (killed / "report.html").exists()

    _cli("resume", str(killed), "--quiet")
    assert _applied(killed) == _applied(straight)
    with (killed / "one_cycle_history.csv").open() as handle:
        assert [float(r["epoch"]) for r in csv.DictReader(handle)] == [1.0, 2.0, 3.0]
    assert list((killed / "checkpoints" / "one_cycle").glob(".tmp-*")) == []


def test_resume_with_a_different_config_is_refused(tmp_path):
    out = tmp_path / "run"
    _cli("lr-find", *SMALL, "--range-steps", "20", "--out", str(out))
    result = _cli("resume", str(out), "--epochs", "7", check=False)
    assert result.returncode == 2
    assert "different configuration" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(RunDirectoryError, match="different configuration"):
        Pipeline(RunConfig(dataset="synthetic", out=str(out), epochs=9)).run(["prepare"])


def test_lr_find_prints_bounds_and_writes_plot(tmp_path):
    out = tmp_path / "find"
    result = _cli("lr-find", *SMALL, "--range-steps", "40", "--out", str(out))
    assert "LR bounds: max" in result.stdout
    assert (out / "range_test.png").exists() and not (out / "one_cycle_history.csv").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["run", "--model", "resnet1000"], "unknown model 'resnet1000'"),
        (["run", "--epochs", "0"], "epochs must be a whole number >= 1"),
        (["run", "--max-lr", "-0.1"], "max_lr must be a positive number"),
        (["run", "--batch-size", "0"], "batch_size must be"),
        (["run", "--range-steps", "3"], "range_steps must be"),
        (["resume", "/nonexistent/run"], "not a run directory"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(argv, message, capsys, tmp_path):
    assert main([*argv, *([] if argv[0] == "resume" else ["--out", str(tmp_path / "x")])]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_config_files(tmp_path, capsys):
    good = tmp_path / "run.toml"
    good.write_text('dataset = "synthetic"\nepochs = 3\nbatch-size = 64\n')
    config = RunConfig.from_file(good, epochs=5)
    assert (config.dataset, config.epochs, config.batch_size) == ("synthetic", 5, 64)

    broken = tmp_path / "broken.toml"
    broken.write_text("dataset = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.from_file(broken)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epochz = 3\n")
    with pytest.raises(ConfigError, match=r"unknown configuration key.*epochz"):
        RunConfig.from_file(unknown)
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.from_file(tmp_path / "missing.toml")
    wrong_type = tmp_path / "wrong.toml"
    wrong_type.write_text('epochs = "four"\n')
    assert main(["run", "--config", str(wrong_type), "--out", str(tmp_path / "y")]) == 2
    assert "epochs must be a whole number" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="range_end_lr"):
        RunConfig(range_start_lr=1.0, range_end_lr=0.5)


def test_fused_bn_trains_fused_and_writes_plain_keras_files(tmp_path):
    import keras

    from superconverge.models.fused_bn import FusedBatchNormalization
    from superconverge.pipeline.training import train_resumable

    out = tmp_path / "fused"
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160, batch_size=32,
                       epochs=1, max_lr=0.1, baseline_epochs=0, out=str(out))
    assert config.fused_bn  # the default
    pipeline = Pipeline(config, quiet=True)
    pipeline.run(["prepare", "range_test", "bounds", "one_cycle"])
    saved = keras.saving.load_model(out / "models" / "one_cycle.keras")
    bn_types = {type(layer) for layer in saved.layers
                if isinstance(layer, keras.layers.BatchNormalization)}
    assert bn_types == {keras.layers.BatchNormalization}

    seen: set[type] = set()

    class _BnTypes(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.update(type(layer) for layer in self.model.layers
                        if isinstance(layer, keras.layers.BatchNormalization))

    def build():
        model = pipeline.new_model(bn_momentum=0.9, weight_decay=0.0)
        return pipeline.compile(model, keras.optimizers.SGD(0.05, momentum=0.9))

    fused = (FusedBatchNormalization if keras.backend.backend() == "torch"
             else keras.layers.BatchNormalization)
    for epochs in (1, 2):  # the second call resumes from the first one's checkpoint file
        seen.clear()
        batches = pipeline._train_batches()
        train_resumable("probe", tmp_path / "probe", build, epochs=epochs,
                        train_data=batches, validation_data=None, callbacks=[_BnTypes()],
                        on_resume=batches.set_epoch, fuse_bn=True)
        assert seen == {fused}
    checkpoint = next((tmp_path / "probe" / "checkpoints" / "probe").glob("epoch-*.keras"))
    assert {type(layer) for layer in keras.saving.load_model(checkpoint).layers
            if isinstance(layer, keras.layers.BatchNormalization)} == {
        keras.layers.BatchNormalization}


def test_an_unset_batch_size_is_chosen_from_the_run_length_for_every_stage(tmp_path):
    """batch_size None: the range test, the one-cycle schedule and the report all use the
    batch the rule chose (160 examples × 1 epoch: 3 steps at 64 → 16, 10 steps)."""
    out = tmp_path / "auto"
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160, epochs=1,
                       baseline_epochs=0, range_steps=10, out=str(out))
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds", "one_cycle", "report"])
    assert json.loads((out / "range_test.json").read_text())["batch_size"] == 16
    bounds = json.loads((out / "bounds.json").read_text())
    assert bounds["batch_size"] == 16 and bounds["planned_steps"] == 10
    assert "instead of 64" in bounds["batch_size_reason"]
    schedule = json.loads((out / "one_cycle_schedule.json").read_text())
    assert sum(p["length"] for p in schedule["lr"]["phases"]) == pytest.approx(10)
    assert len(_applied(out)) == 10
    assert "Batch size: batch 16 instead of 64" in (out / "report.html").read_text()


def _run_with_rescored_trials(tmp_path, monkeypatch, name, accuracies_of):
    """A pipeline run (lr_trial_fraction 0.25, 20 planned steps) whose max-LR trials run for
    real and then get the accuracies ``accuracies_of(result)``; returns lr_trials.json,
    bounds.json, the range test's own pick and the run directory."""
    import dataclasses

    from superconverge.finder import RangeTestResult
    from superconverge.finder import trials as trials_module

    real = trials_module.lr_trials

    def rescored(*args, **kwargs):
        result = real(*args, **kwargs)
        return dataclasses.replace(result, trials=tuple(
            dataclasses.replace(t, val_accuracy=a)
            for t, a in zip(result.trials, accuracies_of(result))))

    monkeypatch.setattr(trials_module, "lr_trials", rescored)
    out = tmp_path / name
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160, epochs=2,
                       batch_size=16, baseline_epochs=0, range_steps=12,
                       lr_trial_fraction=0.25, seed=5, out=str(out))
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds", "one_cycle", "report"])
    trials = json.loads((out / "lr_trials.json").read_text())
    bounds = json.loads((out / "bounds.json").read_text())
    pick = RangeTestResult.load(out / "range_test.json").suggest(
        method="auto", total_steps=bounds["planned_steps"]).max_lr
    return trials, bounds, pick, out


def test_lr_trials_choose_the_max_lr_the_one_cycle_run_trains_at(tmp_path, monkeypatch):
    """lr_trial_fraction 0.25: three trials of a quarter of the planned steps at the range
    test's pick x 10^(-1/3, 0, 1/3); bounds.json takes the refined winner, which the
    one-cycle schedule then peaks at; the report shows the trials. (The trials run for real;
    their accuracies are then set so that the pick wins and its lower neighbour beats its
    upper one: the refined winner lies below the pick, within a sixth of a decade, with no
    confirmation, as no move went up.)"""
    import math

    from superconverge.defaults import LR_TRIAL_OFFSETS

    trials, bounds, pick, out = _run_with_rescored_trials(
        tmp_path, monkeypatch, "trials", lambda result: (0.6, 0.7, 0.5))
    planned = bounds["planned_steps"]
    assert trials["steps"] == round(0.25 * planned) and planned == 20
    assert bounds["range_test_max_lr"] == pytest.approx(pick)
    assert [t["max_lr"] for t in trials["trials"]] == pytest.approx(
        [pick * 10 ** o for o in LR_TRIAL_OFFSETS])
    assert trials["winner_max_lr"] == pytest.approx(pick)
    assert -1 / 6 - 1e-9 <= math.log10(bounds["max_lr"] / pick) < 0
    assert trials["confirmation"] is None
    assert bounds["max_lr"] == pytest.approx(trials["best_max_lr"]) == trials["chosen_max_lr"]
    assert bounds["min_lr"] == pytest.approx(bounds["max_lr"] / RunConfig().min_lr_ratio)
    assert bounds["chosen_by"] == "lr_trials"
    peak = max(lr for _, lr, _ in _applied(out))
    assert peak == pytest.approx(bounds["max_lr"], rel=1e-3)
    assert "Max LR chosen by trial runs" in (out / "report.html").read_text()
    for bad, match in [({"lr_trial_fraction": 1.5}, "lr_trial_fraction must lie in"),
                       ({"lr_trial_fraction": 0.2, "max_lr": 0.1}, "drop one of them")]:
        with pytest.raises(ConfigError, match=match):
            RunConfig(**bad)


def test_trials_that_stay_at_chance_keep_the_range_test_pick(tmp_path, monkeypatch, caplog):
    """Trials whose best accuracy stays near chance cannot rank the candidates: the pipeline
    keeps the range test's pick, says so in bounds.json, lr_trials.json, the log and the
    report. (The trials run for real; their accuracies are then set to chance, 1/4 here.)"""
    import logging

    with caplog.at_level(logging.WARNING, logger="superconverge"):
        trials, bounds, pick, out = _run_with_rescored_trials(
            tmp_path, monkeypatch, "chance", lambda result: [0.25] * len(result.trials))
    assert trials["learned"] is False and trials["chance_accuracy"] == pytest.approx(0.25)
    assert bounds["max_lr"] == pytest.approx(pick) == bounds["range_test_max_lr"]
    assert bounds["chosen_by"] == "range_test" and "near chance" in bounds["reason"]
    assert max(lr for _, lr, _ in _applied(out)) == pytest.approx(pick, rel=1e-3)
    assert "near chance accuracy" in caplog.text
    assert "range test's pick trains" in (out / "report.html").read_text()


@pytest.mark.parametrize("confirmed", [True, False])
def test_a_winner_above_the_pick_is_confirmed_by_longer_trials(tmp_path, monkeypatch, caplog,
                                                               confirmed):
    """When the top candidate wins, the pick and the winner run again for twice the steps;
    the winner trains only if it wins there too, else the range test's pick, with the reason
    in bounds.json, lr_trials.json, the log and the report. (The trials run for real; their
    accuracies are then set: the top candidate wins the first round, and the second round
    goes to the winner or to the pick.)"""
    import logging

    rounds = []

    def accuracies_of(result):
        rounds.append((len(result.trials), result.steps))
        return ((0.5, 0.6, 0.7) if len(result.trials) == 3
                else (0.6, 0.7) if confirmed else (0.7, 0.6))

    with caplog.at_level(logging.INFO, logger="superconverge"):
        trials, bounds, pick, out = _run_with_rescored_trials(
            tmp_path, monkeypatch, "confirm", accuracies_of)
    top = pick * 10 ** (1 / 3)
    assert rounds == [(3, 5), (2, 10)]  # a quarter, then half of the 20 planned steps
    assert trials["winner_max_lr"] == pytest.approx(top)
    confirmation = trials["confirmation"]
    assert confirmation["steps"] == 10 and confirmation["held"] is confirmed
    assert [t["max_lr"] for t in confirmation["trials"]] == pytest.approx([pick, top])
    expected = top if confirmed else pick
    assert bounds["max_lr"] == pytest.approx(expected) == trials["chosen_max_lr"]
    assert bounds["chosen_by"] == ("lr_trials" if confirmed else "range_test")
    assert max(lr for _, lr, _ in _applied(out)) == pytest.approx(expected, rel=1e-3)
    report = (out / "report.html").read_text()
    if confirmed:
        assert "confirmed by runs of 10 steps" in bounds["reason"]
        assert "its move up confirmed by runs of 10 steps" in report
    else:
        assert "did not confirm it" in bounds["reason"]
        assert "runs of 10 steps did not confirm it" in report
        assert "did not confirm it" in caplog.text


def test_a_budget_reserves_the_trials_and_a_confirmation(tmp_path, monkeypatch):
    """With lr_trial_fraction f the budget planner prices each planned step at
    1 + (3 trials + 2 confirmation runs x LR_TRIAL_CONFIRM_FACTOR) x f of a one-cycle step:
    the worst case, so a budgeted run whose winner needs confirming still ends on time."""
    import types

    import superconverge.budget
    from superconverge.defaults import LR_TRIAL_CONFIRM_FACTOR, LR_TRIAL_OFFSETS

    seen = {}

    def fake_plan(budget, **kwargs):
        seen.update(kwargs)
        return types.SimpleNamespace(to_dict=lambda: {"total_steps": 10}, summary=lambda: "")

    monkeypatch.setattr(superconverge.budget, "plan_epochs", fake_plan)
    costs = {"step_seconds": 0.5, "epoch_overhead_seconds": 1.0, "final_seconds": 2.0}
    monkeypatch.setattr(Pipeline, "measure_one_cycle_costs", lambda self: costs)
    for fraction in (0.0, 0.125):
        config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160,
                           batch_size=16, baseline_epochs=0, budget_seconds=60.0,
                           lr_trial_fraction=fraction, out=str(tmp_path / f"b{fraction}"))
        pipeline = Pipeline(config, quiet=True)
        pipeline.run(["prepare"])
        pipeline.plan_budget()
        share = (len(LR_TRIAL_OFFSETS) + 2 * LR_TRIAL_CONFIRM_FACTOR) * fraction
        assert seen["step_seconds"] == pytest.approx(0.5 * (1.0 + share))
    assert share == pytest.approx(7 / 8)


def test_adam_reads_the_bounds_at_the_loss_minimum(tmp_path):
    """optimizer adam with suggest_method auto: the bounds are fastai's `minimum` on the same
    curve (auto's margin below divergence is an SGD measurement), and the reason says so."""
    from superconverge.finder import RangeTestResult

    out = tmp_path / "adam"
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160, epochs=1,
                       batch_size=16, baseline_epochs=0, range_steps=20, optimizer="adam",
                       seed=5, out=str(out))
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds"])
    bounds = json.loads((out / "bounds.json").read_text())
    curve = RangeTestResult.load(out / "range_test.json")
    assert curve.metadata["optimizer"] == "Adam"
    assert bounds["method"] == "minimum"
    assert bounds["max_lr"] == pytest.approx(curve.suggest(
        method="minimum", total_steps=bounds["planned_steps"]).max_lr)
    assert bounds["reason"].startswith("optimizer adam: read with 'minimum'")


def test_repeated_range_tests_are_averaged_and_resume_sweep_by_sweep(tmp_path, monkeypatch):
    """range_repeats 3: three sweeps from three initialisations, each saved as it ends; the
    curve the bounds are read from is their per-step mean; bounds.json and the report give
    each sweep's own pick. A run stopped during sweep 2 runs only sweeps 2 and 3 again."""
    import numpy as np

    from superconverge.defaults import RANGE_REPEAT_SEED_STRIDE
    from superconverge.finder import RangeTestResult

    out = tmp_path / "repeats"
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=160, epochs=1,
                       batch_size=16, baseline_epochs=0, range_steps=12, range_repeats=3,
                       seed=5, out=str(out))
    seeds: list[int] = []
    original = Pipeline._range_test_sweep

    def sweep(self, seed):
        seeds.append(seed)
        if len(seeds) == 2:
            raise KeyboardInterrupt
        return original(self, seed)

    monkeypatch.setattr(Pipeline, "_range_test_sweep", sweep)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(config, quiet=True).run(["prepare", "range_test"])
    assert (out / "range_test_sweeps" / "sweep-0.json").exists()
    assert not (out / "range_test.json").exists()
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds", "report"])
    stride = RANGE_REPEAT_SEED_STRIDE
    assert seeds == [5, 5 + stride, 5 + stride, 5 + 2 * stride]  # sweep 0 was not run again

    sweeps = [RangeTestResult.load(out / "range_test_sweeps" / f"sweep-{i}.json")
              for i in range(3)]
    average = RangeTestResult.load(out / "range_test.json")
    steps = min(len(s) for s in sweeps)
    np.testing.assert_allclose(average.losses, np.mean([s.losses[:steps] for s in sweeps], 0))
    assert not np.allclose(sweeps[0].losses[:steps], sweeps[1].losses[:steps])  # own init
    assert average.metadata["sweep_seeds"] == [5, 5 + stride, 5 + 2 * stride]
    bounds = json.loads((out / "bounds.json").read_text())
    assert bounds["range_repeats"] == 3 and len(bounds["sweep_max_lrs"]) == 3
    assert bounds["max_lr"] == pytest.approx(average.suggest(method="auto").max_lr)
    assert "Read off the average of 3 range tests" in (out / "report.html").read_text()
    with pytest.raises(ConfigError, match="range_repeats must be a whole number >= 1"):
        RunConfig(range_repeats=0)
