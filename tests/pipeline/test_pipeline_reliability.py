"""The pipeline under interrupts, shared folders, low-confidence bounds and tampered run
directories (issue 15): no wrong result and no lost file without being told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from superconverge.cli import main
from superconverge.io import DamagedFileError
from superconverge.pipeline import Pipeline, RunConfig, RunDirectoryError
from superconverge.pipeline.report import write_report
from superconverge.pipeline.rundir import RunDirectory

SMALL = dict(dataset="synthetic", model="simple_cnn", train_subset=448, batch_size=32, seed=3)


def _config(tmp_path: Path, name: str = "run", **changes) -> RunConfig:
    return RunConfig(**{**SMALL, "out": str(tmp_path / name), **changes})


def _state(run_dir: Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def test_ctrl_c_during_the_range_test_stops_the_run_without_marking_it_done(
    tmp_path, monkeypatch
):
    from superconverge.finder.callback import LRRangeTest

    original = LRRangeTest.on_train_batch_end
    calls = {"n": 0}

    def interrupted_at_step_5(self, batch, logs=None):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, batch, logs)

    monkeypatch.setattr(LRRangeTest, "on_train_batch_end", interrupted_at_step_5)
    config = _config(tmp_path, range_steps=40, baseline_epochs=0)
    with pytest.raises(KeyboardInterrupt):
        Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds"])
    run_dir = Path(config.out)
    assert "range_test" not in _state(run_dir)["stages"]
    assert not (run_dir / "range_test.json").exists()
    assert _state(run_dir)["failed"]["stage"] == "range_test"
    # the next attempt runs the whole range test
    monkeypatch.setattr(LRRangeTest, "on_train_batch_end", original)
    Pipeline(config, quiet=True).run(["prepare", "range_test", "bounds"])
    curve = json.loads((run_dir / "range_test.json").read_text())
    assert len(curve["lrs"]) > 5 and curve["stop_reason"] != "interrupted"


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    config = _config(tmp_path, max_lr=0.1, baseline_epochs=0)
    holder = RunDirectory(config.out)
    with holder, pytest.raises(RunDirectoryError, match=f"in use .*PID {os.getpid()}"):
        Pipeline(config, quiet=True).run(["prepare"])
    assert not (Path(config.out) / "config.json").exists()


def test_run_into_a_users_folder_needs_force(tmp_path):
    users = tmp_path / "mine"
    users.mkdir()
    (users / "data.json").write_text("my data")
    with pytest.raises(RunDirectoryError, match="--force"):
        Pipeline(_config(tmp_path, "mine"), quiet=True).run(["prepare"])
    assert (users / "data.json").read_text() == "my data"
    Pipeline(_config(tmp_path, "mine"), quiet=True, force=True).run(["prepare"])
    assert (users / ".superconverge-run").exists()


def test_resume_after_a_kill_between_the_last_checkpoint_and_done_keeps_the_schedule(tmp_path):
    config = _config(tmp_path, max_lr=0.2, epochs=2, baseline_epochs=0)
    Pipeline(config, quiet=True).run()
    run_dir = Path(config.out)
    # the state a kill right after the last epoch's checkpoint leaves behind
    state = _state(run_dir)
    for stage in ("one_cycle", "evaluate", "report"):
        state["stages"].pop(stage)
    (run_dir / "state.json").write_text(json.dumps(state))
    for name in ("one_cycle_schedule.json", "report.html", "metrics.json"):
        (run_dir / name).unlink()
    Pipeline(config, quiet=True).run()
    assert (run_dir / "one_cycle_schedule.json").exists()
    assert "LR and momentum applied" in (run_dir / "report.html").read_text()


def test_low_confidence_bounds_are_flagged_and_the_ratio_counts_the_range_test(tmp_path):
    # a sweep that never leaves the flat start of the curve: nothing to read bounds from
    config = _config(tmp_path, range_start_lr=1e-7, range_end_lr=2e-7, range_steps=12,
                     epochs=1, baseline_epochs=1)
    result = subprocess.run(
        [sys.executable, "-m", "superconverge", "run", "--config", _toml(tmp_path, config),
         "--quiet", "--json"],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # --json: stdout is the JSON document alone
    run_dir = Path(config.out)
    bounds = json.loads((run_dir / "bounds.json").read_text())
    assert bounds["confidence"] < 0.3 and bounds["low_confidence"] is True
    assert "WARNING: low confidence" in result.stderr
    page = (run_dir / "report.html").read_text()
    assert "Low confidence" in page and "range test included" in page
    comparison = summary["metrics"]["comparison"]
    assert comparison["low_confidence_bounds"] is True
    one = summary["metrics"]["one_cycle"]
    assert one["range_test_seconds"] > 0
    assert comparison["wall_time_ratio"] == pytest.approx(
        summary["metrics"]["baseline"]["wall_time"] / (one["wall_time"]
                                                       + one["range_test_seconds"]))
    assert comparison["wall_time_ratio"] < comparison["wall_time_ratio_training_only"]


def _toml(tmp_path: Path, config: RunConfig) -> str:
    lines = []
    for key, value in config.to_dict().items():
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    path = tmp_path / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_report_escapes_every_value_from_the_run_directory(tmp_path):
    run_dir = tmp_path / "shared"
    run_dir.mkdir()
    evil = "<script>alert(1)</script>"
    (run_dir / "config.json").write_text(json.dumps({"model": evil, "dataset": "x",
                                                     "seed": evil}))
    (run_dir / "data.json").write_text(json.dumps({"train": evil, "val": 1, "test": 2}))
    (run_dir / "environment.json").write_text(json.dumps({"keras_backend": evil}))
    (run_dir / "bounds.json").write_text(json.dumps({
        "max_lr": evil, "min_lr": 0.1, "method": evil, "confidence": 0.9, "reason": evil}))
    (run_dir / "metrics.json").write_text(json.dumps({"one_cycle": {
        "epochs": evil, "wall_time": 1.0, "test_accuracy": evil, "test_loss": 0.3}}))
    page = write_report(run_dir).read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_a_truncated_checkpoint_is_named_in_a_one_line_error(tmp_path):
    config = _config(tmp_path, max_lr=0.2, epochs=2, baseline_epochs=0)
    Pipeline(config, quiet=True).run(["prepare", "bounds", "one_cycle"])
    run_dir = Path(config.out)
    checkpoints = run_dir / "checkpoints" / "one_cycle"
    saved = json.loads((checkpoints / "state.json").read_text())
    saved["epoch"] = 1  # pretend the kill came after epoch 1
    (checkpoints / "state.json").write_text(json.dumps(saved))
    checkpoint = checkpoints / saved["checkpoint"]
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    state = _state(run_dir)
    state["stages"].pop("one_cycle")
    (run_dir / "state.json").write_text(json.dumps(state))
    with pytest.raises(DamagedFileError, match=f"{checkpoint.name} cannot be loaded"):
        Pipeline(config, quiet=True).run(["one_cycle"])


def test_damaged_state_file_names_itself_on_the_command_line(tmp_path, capsys):
    config = _config(tmp_path, max_lr=0.2, baseline_epochs=0)
    Pipeline(config, quiet=True).run(["prepare"])
    (Path(config.out) / "state.json").write_text("")
    assert main(["resume", config.out]) == 2
    err = capsys.readouterr().err
    assert "state.json is damaged" in err and "Traceback" not in err


def test_resume_refuses_an_out_it_would_ignore(tmp_path, capsys):
    config = _config(tmp_path, max_lr=0.2, baseline_epochs=0)
    Pipeline(config, quiet=True).run(["prepare"])
    assert main(["resume", config.out, "--out", str(tmp_path / "elsewhere")]) == 2
    assert "would be ignored" in capsys.readouterr().err


def test_a_run_that_failed_before_training_can_be_rerun_with_a_fixed_config(
    tmp_path, monkeypatch
):
    from superconverge.pipeline import pipeline as pipeline_module

    def bounds_fail(self):
        raise RunDirectoryError("simulated failure in the bounds stage")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline_module.Pipeline, "stage_bounds", bounds_fail)
        with pytest.raises(RunDirectoryError, match="simulated"):
            Pipeline(_config(tmp_path, max_lr=0.2, baseline_epochs=0), quiet=True).run()
    fixed = _config(tmp_path, max_lr=0.3, baseline_epochs=0, epochs=1)
    Pipeline(fixed, quiet=True).run()
    saved = json.loads((Path(fixed.out) / "config.json").read_text())
    assert saved["max_lr"] == 0.3
    bounds = json.loads((Path(fixed.out) / "bounds.json").read_text())
    assert bounds["max_lr"] == 0.3
    # once training has run, a different configuration is refused as before
    with pytest.raises(RunDirectoryError, match="different configuration"):
        Pipeline(_config(tmp_path, max_lr=0.4, baseline_epochs=0), quiet=True).run()


def test_lr_find_prints_no_report_it_did_not_write(tmp_path):
    out = tmp_path / "find"
    result = subprocess.run(
        [sys.executable, "-m", "superconverge", "lr-find", "--dataset", "synthetic",
         "--train-subset", "448", "--batch-size", "32", "--range-steps", "20", "--quiet",
         "--out", str(out)],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "LR bounds" in result.stdout and "report:" not in result.stdout


class _FakeClock:
    """Seconds that advance by ``tick`` at every reading: every measured stretch between two
    readings lasts exactly ``tick``."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_wall_clock_budget_plans_the_steps_from_the_measured_one_cycle_costs(tmp_path):
    from superconverge.budget import plan_epochs

    # 448 examples / 32 = 14 steps per epoch. Every clock reading advances it by 2 s, so
    # every timed stretch lasts 2 s: prepare's stage, the range test's; the calibration times
    # seven fits (of 8 batches, then three pairs of 8 and 14: all 2 s, so no slope: 2/14 s a
    # step, no fixed cost per fit, no tracing surcharge), one validation, one checkpoint and
    # precise BN, 21 readings (42 s) from its start to the plan; once per run: precise BN,
    # the final validation and the final model's file (2 s each). 82 s budget, 2 % margin:
    # 80.36 - 46 - 6 = 28.36 s for epochs of 14/7 + 4 = 6 s: four whole epochs (24 s) and
    # floor((28.36 - 20)·7) - 56 = 2 steps of a fifth. (The budget guard reads the clock at
    # each epoch's begin and end: 2 s an epoch, less than the 6 s planned, so it stretches the
    # rest of the cycle, up to 1.5x the plan.)
    config = _config(tmp_path, range_steps=20, budget_seconds=82.0, baseline_epochs=0,
                     epochs=1)
    assert config.precise_bn and not config.tta_flip
    Pipeline(config, quiet=True, clock=_FakeClock(2.0)).run()
    run_dir = Path(config.out)
    plan = json.loads((run_dir / "budget.json").read_text())
    assert plan["measured"] == {"step_seconds": pytest.approx(2.0 / 14),
                                "epoch_overhead_seconds": pytest.approx(2.0 + 2.0),
                                "final_seconds": pytest.approx(2.0 + 2.0 + 2.0)}
    assert plan["step_seconds"] == pytest.approx(2.0 / 14)
    assert plan["spent_seconds"] == pytest.approx(2.0 + 2.0 + 42.0)
    expected = plan_epochs(82.0, spent_seconds=46.0, step_seconds=2.0 / 14, steps_per_epoch=14,
                           epoch_overhead_seconds=4.0, final_seconds=6.0)
    assert (expected.total_steps, expected.epochs, expected.last_epoch_steps) == (58, 5, 2)
    assert (plan["total_steps"], plan["epochs"]) == (58, 5)  # the budget, not `epochs = 1`
    # the guard found the epochs faster than planned and laid the rest of the cycle over more
    # steps (at most 1.5 x 58 = 87); every epoch was validated and checkpointed, the last one
    # possibly partial, and the schedule followed spans exactly the steps trained
    schedule = json.loads((run_dir / "one_cycle_schedule.json").read_text())
    trained = schedule["total_steps"]
    assert 58 < trained <= 87
    history = (run_dir / "one_cycle_history.csv").read_text().strip().splitlines()
    assert len(history) - 1 == -(-trained // 14)
    applied = (run_dir / "one_cycle_applied.csv").read_text().strip().splitlines()
    assert len(applied) - 1 == trained
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["budget"]["planned_epochs"], metrics["budget"]["planned_steps"]) == (5, 58)
    bounds = json.loads((run_dir / "bounds.json").read_text())
    assert (bounds["planned_epochs"], bounds["planned_steps"]) == (5, 58)
    # the pick was asked for the planned length (recorded; auto does not move with it)
    assert bounds["diagnostics"]["total_steps"] == 58
    assert bounds["budget_aware"] is False
    report = (run_dir / "report.html").read_text()
    assert "Wall-clock budget" in report
    assert "(58 optimizer steps): the max LR does not depend" in report


def test_a_budget_too_small_for_one_epoch_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["lr-find", "--dataset", "synthetic", "--train-subset", "448", "--batch-size",
                 "32", "--range-steps", "20", "--budget", "1s", "--quiet", "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot hold one epoch" in err and "Traceback" not in err
