"""Bad values, wrong types, damaged files and shared run directories (issue 15), without
training: configuration checks (with a fuzz test), run-directory lock and marker, IDX bombs,
and the command line's one-line errors."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from superconverge.cli import main
from superconverge.data.errors import CorruptDataError
from superconverge.data.idx import encode_idx, read_idx
from superconverge.errors import SuperconvergeError
from superconverge.io import DamagedFileError, atomic_write_with, read_csv, read_json
from superconverge.pipeline.config import ConfigError, RunConfig
from superconverge.pipeline.rundir import RunDirectory, RunDirectoryError

# -- configuration values (items 4 and 6, the TOML tracebacks, hygiene) ------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_decay": math.nan}, "weight_decay must be a finite number"),
        ({"weight_decay": math.inf}, "weight_decay must be a finite number"),
        ({"baseline_lr": -math.inf}, "baseline_lr must be a finite number"),
        ({"download": "false"}, "download must be true or false"),
        ({"augment": "false"}, "augment must be true or false"),
        ({"tune": 2}, "tune must be true or false"),
        ({"weight_decay": "5e-4"}, "weight_decay must be a number"),
        ({"data_path": 5}, "data_path must be a string"),
        ({"epochs": 2.5}, "epochs must be a whole number"),
        ({"epochs": True}, "epochs must be a whole number"),
        ({"seed": 2**40}, "seed must be at most"),
        ({"min_lr_ratio": 0.5}, "min_lr_ratio must be >= 1"),
        ({"suggest_method": "bogus"}, "unknown suggest_method 'bogus'"),
        ({"momentum": (0.9,)}, "momentum must be two numbers"),
    ],
)
def test_bad_values_name_their_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)


def test_nan_weight_decay_from_the_command_line_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--weight-decay", "nan", "--out", str(out)]) == 2
    assert "weight_decay must be a finite number" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('weight_decay = "5e-4"', "weight_decay must be a number"),
        ("momentum = 0.9", "momentum must be two numbers"),
        ("data_path = 5", "data_path must be a string"),
        ('download = "false"', "download must be true or false"),
    ],
)
def test_toml_values_of_the_wrong_type_are_one_line_errors(tmp_path, capsys, toml, message):
    config = tmp_path / "run.toml"
    config.write_text(toml + "\n")
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_config_that_is_a_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "is a folder" in capsys.readouterr().err


_FLOAT_FIELDS = [f.name for f in dataclasses.fields(RunConfig) if "float" in str(f.type)]
_ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.floats(allow_nan=True), max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from([f.name for f in dataclasses.fields(RunConfig)]), value=_ANY_VALUE)
def test_fuzz_any_value_is_accepted_sanely_or_refused_with_its_key(field, value):
    """No traceback and no silently accepted bad value, whatever a config file holds."""
    try:
        config = RunConfig.from_dict({field: value})
    except ConfigError as error:
        assert field in str(error) or "momentum" in str(error)
        return
    stored = getattr(config, field)
    if field in _FLOAT_FIELDS and stored is not None:
        values = stored if isinstance(stored, tuple) else (stored,)
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)
    if field in ("download", "augment", "tune"):
        assert isinstance(stored, bool)
    # whatever was accepted is strict JSON (config.json)
    json.dumps(config.to_dict(), allow_nan=False)


# -- the run directory: marker, lock, orphans (items 2 and 3, hygiene) -----------------------


def test_a_folder_with_other_files_is_refused_unless_forced(tmp_path):
    users = tmp_path / "Documents"
    users.mkdir()
    (users / "data.json").write_text("my own file")
    with pytest.raises(RunDirectoryError, match="not a superconverge run directory"):
        RunDirectory(users).check_usable()
    RunDirectory(users).check_usable(force=True)
    RunDirectory(tmp_path / "new").check_usable()  # a new folder is fine
    (tmp_path / "empty").mkdir()
    RunDirectory(tmp_path / "empty").check_usable()
    marked = RunDirectory(tmp_path / "run")
    marked.create()
    (marked.path / "metrics.json").write_text("{}")
    marked.check_usable()  # a run directory is resumable


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    assert main(["lr-find", "--dataset", "synthetic", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "Traceback" not in err
    assert target.read_text() == "x"


def test_cli_refuses_a_users_folder_and_leaves_it_untouched(tmp_path, capsys):
    users = tmp_path / "mine"
    users.mkdir()
    (users / "environment.json").write_text("keep me")
    assert main(["lr-find", "--dataset", "synthetic", "--out", str(users)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (users / "environment.json").read_text() == "keep me"
    assert sorted(p.name for p in users.iterdir()) == ["environment.json"]


def test_second_holder_of_the_lock_is_refused_with_the_pid(tmp_path):
    first = RunDirectory(tmp_path / "run")
    with first:
        with pytest.raises(RunDirectoryError, match=f"PID {os.getpid()}"):
            RunDirectory(tmp_path / "run").acquire()
    with RunDirectory(tmp_path / "run"):  # released: free again
        pass


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    code = (
        "import sys, time\n"
        "from superconverge.pipeline.rundir import RunDirectory\n"
        f"RunDirectory({str(run_dir)!r}).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunDirectoryError, match=f"PID {holder.pid}"):
            RunDirectory(run_dir).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    deadline = time.monotonic() + 10
    while True:
        try:
            with RunDirectory(run_dir):
                break
        except RunDirectoryError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_orphaned_temporary_files_are_removed(tmp_path):
    directory = RunDirectory(tmp_path / "run")
    directory.create()
    (directory.path / "checkpoints" / "one_cycle").mkdir(parents=True)
    orphans = [directory.path / ".metrics.json.abc123.tmp",
               directory.path / "checkpoints" / "one_cycle" / ".tmp-1a2b-epoch-0002.keras"]
    for path in orphans:
        path.write_bytes(b"half")
    keep = directory.path / "metrics.json"
    keep.write_text("{}")
    assert sorted(directory.remove_orphans()) == sorted(orphans)
    assert keep.exists() and (directory.path / ".superconverge-run").exists()


def test_atomic_write_with_a_savers_kill_leaves_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")

    def dies_half_way(path):
        path.write_bytes(b"ha")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_with(target, dies_half_way)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    atomic_write_with(target, lambda path: path.write_bytes(b"new"))
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o666 & ~old_umask


# -- damaged files ------------------------------------------------------------------------------


def test_damaged_json_and_csv_name_the_file(tmp_path):
    bad = tmp_path / "state.json"
    bad.write_text("")
    with pytest.raises(DamagedFileError, match=r"state\.json is damaged"):
        read_json(bad)
    csv = tmp_path / "one_cycle_history.csv"
    csv.write_text("epoch,loss\n1,abc\n")
    with pytest.raises(DamagedFileError, match=r"one_cycle_history\.csv is damaged"):
        read_csv(csv)
    assert issubclass(DamagedFileError, SuperconvergeError)


def test_idx_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    header_says = np.zeros((10, 28, 28), dtype=np.uint8)
    payload = encode_idx(header_says) + b"\0" * (200 * 1024 * 1024)  # 200 MB of trailing zeros
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as handle:
        handle.write(payload)
    del payload
    assert bomb.stat().st_size < 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(CorruptDataError, match="trailing bytes"):
        read_idx(bomb)
    assert time.perf_counter() - started < 2.0  # far less than inflating 200 MB


# -- the command line's other commands (hygiene) ------------------------------------------------


def test_schedule_flags_of_the_smith_preset_are_refused_for_others(capsys):
    assert main(["schedule", "--max-lr", "1", "--steps", "100", "--preset", "fastai",
                 "--min-lr", "0.5"]) == 2
    assert "--min-lr" in capsys.readouterr().err


def test_schedule_plot_into_a_folder_is_a_one_line_error(tmp_path, capsys):
    assert main(["schedule", "--max-lr", "1", "--steps", "100", "--plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot use" in err and str(tmp_path) in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "0"], "batch_size must be"),
        (["--validation-split", "0.9"], "validation_split must lie in"),
        (["--max-lr", "nan"], "max_lr must be a finite number"),
        (["--budget", "0"], "--budget must be >= 1"),
    ],
)
def test_tune_validates_before_storing_anything(tmp_path, capsys, extra, message):
    out = tmp_path / "tune"
    assert main(["tune", "--dataset", "synthetic", "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    from superconverge.commands import schedule

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(schedule, "run", interrupted)
    assert main(["schedule", "--max-lr", "1", "--steps", "100"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_a_bug_keeps_its_traceback(monkeypatch):
    from superconverge.commands import schedule

    def buggy(args):
        raise ValueError("a real bug")

    monkeypatch.setattr(schedule, "run", buggy)
    with pytest.raises(ValueError, match="a real bug"):
        main(["schedule", "--max-lr", "1", "--steps", "100"])


def test_tune_reads_the_same_config_file_as_run(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('dataset = "synthetic"\nbatch_size = 0\n')
    out = tmp_path / "tune"
    assert main(["tune", "--config", str(config), "--out", str(out)]) == 2
    assert "batch_size must be" in capsys.readouterr().err
    assert not out.exists()


def test_every_writer_gives_ordinary_permissions_and_survives_a_kill_before_the_rename(
    tmp_path, monkeypatch
):
    import superconverge.io as sio
    from superconverge.finder import RangeTestResult
    from superconverge.plotting import new_figure, save_figure

    umask = os.umask(0o022)
    os.umask(umask)
    expected = 0o666 & ~umask
    result = RangeTestResult(lrs=[0.1, 0.2], losses=[1.0, 0.9], smoothed_losses=[1.0, 0.95])
    written = [
        sio.atomic_write_json(tmp_path / "a.json", {"x": 1}),
        result.save(tmp_path / "range_test.json"),
        save_figure(new_figure()[0], tmp_path / "plot.png"),
        sio.atomic_write_with(tmp_path / "m.bin", lambda p: p.write_bytes(b"model")),
    ]
    assert {p.name: p.stat().st_mode & 0o777 for p in written} == {
        p.name: expected for p in written}

    def killed(src, dst):
        raise KeyboardInterrupt  # the kill lands between the write and the rename

    monkeypatch.setattr(sio.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        sio.atomic_write_json(tmp_path / "a.json", {"x": 2})
    with pytest.raises(KeyboardInterrupt):
        sio.atomic_write_with(tmp_path / "m.bin", lambda p: p.write_bytes(b"new"))
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert (tmp_path / "m.bin").read_bytes() == b"model"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
