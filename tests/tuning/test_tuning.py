"""Weight-decay / BN-momentum tuning on Optuna, on one backend (run with KERAS_BACKEND=torch).

A tiny search on synthetic data end to end (range test, short runs, pruning, plots, resume of a
finished study), precise BN against NumPy, and a tuning subprocess killed with SIGKILL in the
middle of a short run, then resumed: finished trials are not redone (counted in the storage).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from superconverge import data, models
from superconverge.commands import tune
from superconverge.errors import ArgumentError
from superconverge.tuning import TuningResult, precise_bn, tune_regularization
from superconverge.tuning.study import default_storage, redact

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", n_train=160, n_test=32, image_size=8, validation_split=0.2,
                     seed=0)


def _build(splits):
    return functools.partial(models.build, "simple_cnn", splits.input_shape, splits.num_classes,
                             seed=0, width=4)


def _trials(storage: str, name: str = "tuning") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def test_tiny_search_writes_the_evidence_and_resumes_without_rerunning(tiny, tmp_path):
    # the prior (the default to beat) is one of the grid's values, so the grid stays 2 runs
    kwargs = dict(weight_decays=[1e-3, 0.0], bn_momenta=[0.9, 0.99], epochs=1, batch_size=32,
                  out_dir=tmp_path, seed=0, range_test={"steps": 10}, prior_weight_decay=1e-3)
    result = tune_regularization(_build(tiny), tiny, **kwargs)

    # 2 grid runs + 1 bisection at the default momentum (0.9 for 4 steps), then 0.99
    assert result.default_bn_momentum == 0.9
    phases = [e.phase for e in result.evaluations]
    assert phases == ["weight_decay", "weight_decay", "bisection", "bn_momentum"]
    assert result.evaluations[2].weight_decay == pytest.approx(10**-3.5, rel=1e-3)  # 0 ~ 1e-4
    assert result.weight_decay in {e.weight_decay for e in result.evaluations}
    assert result.bn_momentum in (0.9, 0.99)
    assert result.max_lr > 0 and "range test" in result.max_lr_source
    assert result.reason and "weight decay" in result.reason
    runs_epochs = sum(e.epochs_run for e in result.evaluations)
    assert runs_epochs <= 4 and result.cost_epochs > runs_epochs  # + the range test

    saved = json.loads((tmp_path / "tuning.json").read_text())
    for key in ("weight_decay", "bn_momentum", "reason", "evaluations", "max_lr", "cost_epochs"):
        assert key in saved
    assert TuningResult.load(tmp_path / "tuning.json").weight_decay == result.weight_decay
    for png in ("weight_decay.png", "bn_momentum.png", "range_test_for_tuning.png"):
        assert (tmp_path / "tuning" / png).stat().st_size > 1000

    # running it again finds everything in the storage: no new trial, same answer
    storage = default_storage(tmp_path)
    before = len(_trials(storage))
    again = tune_regularization(_build(tiny), tiny, **kwargs)
    assert len(_trials(storage)) == before == 4
    assert (again.weight_decay, again.bn_momentum) == (result.weight_decay, result.bn_momentum)
    assert again.max_lr == result.max_lr

    # other settings on the same study are refused with a clear message
    with pytest.raises(ValueError, match="other settings"):
        tune_regularization(_build(tiny), tiny, **{**kwargs, "weight_decays": [1e-4, 0.0]})


def test_short_run_stops_when_the_pruner_says_so(tiny):
    from superconverge.tuning.trial import short_run

    seen = []
    run = short_run(_build(tiny), tiny, weight_decay=0.0, bn_momentum=0.9, max_lr=0.5, epochs=3,
                    batch_size=32, report=lambda epoch, loss: seen.append((epoch, loss)) or True)
    assert run.stopped and run.epochs_run == 1 and len(seen) == 1
    assert seen[0][1] == pytest.approx(run.val_loss)


def test_precise_bn_matches_numpy():
    import keras

    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 5)).astype("float32")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.99)(inputs))
    assert precise_bn(model, x, batch_size=64, num_batches=3) == 1
    bn = model.layers[-1]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance), x.var(0),
                               rtol=1e-4)


def test_redact_hides_passwords():
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


_CHILD = r"""
import argparse, os, sys, time
from superconverge import models
build, calls = models.build, []
def slow_build(*args, **kwargs):
    calls.append(1)
    if len(calls) > 2:  # from the third short run on: a wide window to kill it in
        time.sleep(60)
    return build(*args, **kwargs)
models.build = slow_build
from superconverge.commands import tune
from superconverge.errors import ArgumentError
parser = argparse.ArgumentParser()
tune.add_parser(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.run(args))
"""


def _tune_args(out: Path) -> list[str]:
    return ["tune", "--dataset", "synthetic", "--model", "simple_cnn", "--train-subset", "128",
            "--batch-size", "32", "--epochs", "1", "--max-lr", "0.5", "--weight-decays",
            "1e-3,0", "--bn-momentum", "0.9", "--out", str(out), "--quiet"]


def _peek_states(db: Path) -> list[tuple[int, str]]:
    """Trial numbers and states, read-only (Optuna would create tables while the child does).

    A running trial counts only once its params are stored: they are set after the worker's
    pid, which is what lets the resumed search fail it at once (without, it waits for the
    heartbeat to go stale).
    """
    if not db.exists():
        return []
    query = (
        "SELECT number, CASE WHEN state = 'RUNNING' AND NOT EXISTS (SELECT 1 FROM trial_params "
        "p WHERE p.trial_id = t.trial_id) THEN 'STARTING' ELSE state END FROM trials t"
    )
    connection = None
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        return list(connection.execute(query))
    except sqlite3.Error:  # not created yet, or locked
        return []
    finally:
        if connection is not None:
            connection.close()


def test_killed_tuning_resumes_without_redoing_finished_trials(tmp_path, capsys):
    out = tmp_path / "tune"
    storage = default_storage(out)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", _CHILD, *_tune_args(out)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    killed_number = None
    try:
        while time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
            states = _peek_states(out / "tuning.db")
            running = [n for n, state in states if state == "RUNNING"]
            if sum(state == "COMPLETE" for _, state in states) >= 2 and running:
                os.kill(child.pid, signal.SIGKILL)
                killed_number = running[0]
                break
    finally:
        if child.poll() is None and killed_number is None:
            child.kill()
        _, stderr = child.communicate(timeout=60)
    assert killed_number is not None, f"never saw a running trial to kill:\n{stderr[-3000:]}"
    assert child.returncode == -signal.SIGKILL

    before = {t.number: (t.state, t.value, t.params) for t in _trials(storage)}
    finished_before = {n for n, (state, _, _) in before.items()
                       if state in (TrialState.COMPLETE, TrialState.PRUNED)}
    assert before[killed_number][0] == TrialState.RUNNING
    assert not (out / "tuning.json").exists()

    # resume here (the CLI command, in this process): the killed worker's pid is gone
    parser = argparse.ArgumentParser()
    tune.add_parser(parser.add_subparsers())
    args = parser.parse_args(_tune_args(out))
    assert args.run(args) == 0
    stdout = capsys.readouterr().out
    assert "weight decay" in stdout and "batch-norm momentum" in stdout

    after = {t.number: (t.state, t.value, t.params) for t in _trials(storage)}
    # finished trials untouched, none redone; the killed one failed and its candidate redone
    for number in finished_before:
        assert after[number] == before[number]
    assert after[killed_number][0] == TrialState.FAIL
    finished = [(p["weight_decay"], p["bn_momentum"]) for s, _, p in after.values()
                if s in (TrialState.COMPLETE, TrialState.PRUNED)]
    # 3 grid (1e-3, 0 and the configured default 1e-4, the value to beat) + 1 bisection
    assert len(finished) == len(set(finished)) == 4
    assert any(wd == pytest.approx(1e-4) for wd, _ in finished)
    assert before[killed_number][2] in [
        p for n, (s, _, p) in after.items() if n > killed_number and s != TrialState.FAIL
    ] or not before[killed_number][2]
    result = json.loads((out / "tuning.json").read_text())
    assert len(result["evaluations"]) == 4 and result["bn_momentum"] == 0.9
    assert (out / "report.html").exists()


def test_pipeline_tune_stage_feeds_the_bounds(tmp_path, monkeypatch):
    from superconverge.pipeline import Pipeline, RunConfig
    from superconverge.tuning import procedure

    # keep it short; 1e-4 is the configured default (the prior, added to any grid)
    monkeypatch.setitem(procedure.WEIGHT_DECAY_GRIDS, "default", (1e-3, 1e-4))

    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=128, batch_size=32,
                       epochs=1, max_lr=0.5, bn_momentum=0.95, tune=True, baseline_epochs=0,
                       out=str(tmp_path / "run"))
    pipeline = Pipeline(config, quiet=True)
    pipeline.run(["prepare", "tune", "bounds"])
    tuning = json.loads((tmp_path / "run" / "tuning.json").read_text())
    bounds = json.loads((tmp_path / "run" / "bounds.json").read_text())
    # a configured momentum is kept (only weight decay searched: 2 grid runs + 1 bisection)
    assert tuning["bn_momentum"] == bounds["bn_momentum"] == 0.95
    assert tuning["spec"]["bn_momenta"] == [] and len(tuning["evaluations"]) == 3
    assert bounds["weight_decay"] == tuning["weight_decay"]
    assert tuning["max_lr"] == 0.5 and tuning["max_lr_source"] == "given"
    assert (tmp_path / "run" / "tuning" / "weight_decay.png").exists()
    assert not (tmp_path / "run" / "tuning" / "bn_momentum.png").exists()


def test_pipeline_tune_stage_skips_the_bn_momentum_under_precise_bn(tmp_path, monkeypatch):
    """With precise BN (the default) the BN momentum cannot reach the final model, so the tune
    stage searches weight decay only and keeps the principled momentum."""
    from superconverge.pipeline import Pipeline, RunConfig
    from superconverge.tuning import procedure

    monkeypatch.setitem(procedure.WEIGHT_DECAY_GRIDS, "default", (1e-3, 1e-4))

    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=128, batch_size=32,
                       epochs=1, max_lr=0.5, tune=True, baseline_epochs=0,
                       out=str(tmp_path / "run"))
    assert config.precise_bn and config.bn_momentum is None
    Pipeline(config, quiet=True).run(["prepare", "tune"])
    tuning = json.loads((tmp_path / "run" / "tuning.json").read_text())
    assert tuning["spec"]["bn_momenta"] == [] and len(tuning["evaluations"]) == 3
    assert tuning["bn_momentum"] == pytest.approx(tuning["default_bn_momentum"], abs=0.02)
    # the short runs are judged with precise BN, as the final run is
    assert tuning["precise_bn"] is True


def test_the_range_test_keeps_a_compiled_models_own_loss(tiny, tmp_path):
    """A builder that returns a compiled model keeps its loss in the tuning range test too,
    as in the short runs (it used to be replaced by the default cross-entropy)."""
    import keras

    from superconverge.tuning.api import _max_lr_from_range_test

    calls = {"n": 0}

    class CountingLoss(keras.losses.SparseCategoricalCrossentropy):
        def call(self, y_true, y_pred):
            calls["n"] += 1
            return super().call(y_true, y_pred)

    def build(*, bn_momentum, weight_decay):
        model = models.build("simple_cnn", tiny.input_shape, tiny.num_classes,
                             bn_momentum=bn_momentum, weight_decay=weight_decay, seed=0)
        model.compile(keras.optimizers.SGD(0.1), CountingLoss())
        return model

    _max_lr_from_range_test(build, tiny, weight_decay=1e-4, bn_momentum=0.9, batch_size=32,
                            seed=0, momentum=0.95, compile_model=None,
                            range_test={"steps": 12}, out_dir=None)
    assert calls["n"] >= 10  # the sweep steps (at least 10) went through the model's own loss


def test_the_tune_stage_short_runs_train_the_final_runs_recipe(tmp_path, monkeypatch):
    """The short runs get the pipeline's momentum kind, LR shape and warm-up, and precise BN,
    so that candidates are judged on the training the final run will get."""
    from superconverge.pipeline import Pipeline, RunConfig
    from superconverge.tuning import procedure, trial

    monkeypatch.setitem(procedure.WEIGHT_DECAY_GRIDS, "default", (1e-3, 0.0))
    seen: list[dict] = []
    real = trial.short_run

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(trial, "short_run", spy)
    config = RunConfig(dataset="synthetic", model="simple_cnn", train_subset=128, batch_size=32,
                       epochs=1, max_lr=0.5, tune=True, baseline_epochs=0,
                       warmup_fraction=0.2, out=str(tmp_path / "run"))
    assert config.lr_shape == "warmup_cosine" and config.nesterov is None
    Pipeline(config, quiet=True).run(["prepare", "tune"])
    assert seen and all(
        (k["nesterov"], k["lr_shape"], k["warmup_fraction"], k["use_precise_bn"])
        == (True, "warmup_cosine", 0.2, True) for k in seen)


def test_a_short_run_with_an_unknown_lr_shape_is_refused(tiny):
    from superconverge.tuning.trial import short_run

    def build(*, bn_momentum, weight_decay):
        return models.build("simple_cnn", tiny.input_shape, tiny.num_classes,
                            bn_momentum=bn_momentum, weight_decay=weight_decay, seed=0)

    with pytest.raises(ArgumentError, match="lr_shape must be"):
        short_run(build, tiny, weight_decay=0.0, bn_momentum=0.9, max_lr=0.1, epochs=1,
                  lr_shape="zigzag")


def test_a_cost_limit_cuts_the_short_runs_data_to_fit(tmp_path):
    """cost_limit=1: the default search (2 grid + 1 bisection, BN fixed: at most 4 runs
    counted, + the range test) trains each short run on a fifth of the training split, and the
    whole search, range test included, costs at most one run of the training tuned for."""
    splits = data.load("synthetic", n_train=1280, n_test=32, image_size=8,
                       validation_split=0.2, seed=0)
    assert len(splits.train) == 1024
    result = tune_regularization(
        _build(splits), splits, weight_decays=[1e-3, 1e-4], prior_weight_decay=1e-4,
        bn_momentum=0.9, epochs=1, batch_size=16, seed=0, range_test={"steps": 10},
        cost_limit=1.0, out_dir=tmp_path, plots=False)
    saved = json.loads((tmp_path / "tuning.json").read_text())
    assert saved["train_examples"] == 204 and saved["train_fraction"] == pytest.approx(0.199, 1e-2)
    assert saved["steps_per_epoch"] == 13  # 204 examples / 16
    assert len(result.evaluations) == 3
    assert 0.6 <= saved["cost_final_runs"] <= 1.0  # 3 fifth-runs + a range test
    assert "204 of the 1024 training examples" in result.reason
    with pytest.raises(ValueError, match="cost_limit must be a positive number"):
        tune_regularization(_build(splits), splits, weight_decays=[1e-3], epochs=1,
                            cost_limit=0.0, max_lr=0.1)
