"""Several ``superconverge tune`` workers on one Optuna study in PostgreSQL (run with torch).

Three worker processes start together (within seconds, all still importing) on the same
``--storage postgresql://...`` and ``--study-name`` (each its own ``--out``), on a throwaway
server on 127.0.0.1 (the ``postgres_url`` fixture). Two run ``python -m superconverge tune``;
the third, started 3 s ahead (so that it claims a trial before the other two have taken them
all; if it never does, the test fails saying so), runs the same
CLI (``superconverge.cli.main``) with a model builder that sleeps, so that it is certainly in
the middle of a short run when it is killed with SIGKILL: once it holds a ``RUNNING`` trial
(its pid recorded on the trial) while the others have finished two. The other two must then
fail that trial (its worker is gone), run its candidate again and finish the search.
Checked through the storage: every candidate of the search has exactly one finished trial,
the killed trial is ``FAIL`` and its candidate was retried by a survivor, every other ``FAIL``
is an explained one (a duplicate abandoned before it ran, or a trial that found nothing
queued), nothing is left running or waiting, and both survivors wrote the same result.

Also: workers that open a fresh database at the same instant all get the study (Optuna's
tables are created once), a candidate enqueued twice (two workers racing) is trained once,
and an unreachable ``--storage`` is a one-line error with exit code 2, not a traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 240  # the whole search, all workers; ~60-80 s on an idle 2-core machine
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
STUDY = "shared-synthetic"
GRID = (1e-3, 1e-4, 0.0)
HEAD_START_S = 3  # the slowed worker starts first, so that it gets a trial to be killed in

pytestmark = pytest.mark.timeout(WORKER_TIMEOUT_S + 120)

# The victim: the real CLI, with a model builder that sleeps inside the short run (after the
# trial is claimed and its worker and params are stored), bounded: it is killed long before.
_SLOW_WORKER = r"""
import os, sys, time
from superconverge import models
_build, _parent = models.build, os.getppid()
def _slow_build(*args, **kwargs):
    for _ in range(150):  # bounded; gone at once if the test process went away
        if os.getppid() != _parent:
            os._exit(3)
        time.sleep(1)
    return _build(*args, **kwargs)
models.build = _slow_build
from superconverge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _tune_args(out: Path, storage: str) -> list[str]:
    return ["tune", "--dataset", "synthetic", "--model", "simple_cnn", "--train-subset", "128",
            "--batch-size", "32", "--epochs", "1", "--max-lr", "0.5",
            "--weight-decays", ",".join(f"{v:g}" for v in GRID), "--bn-momentum", "0.9",
            "--storage", storage, "--study-name", STUDY, "--out", str(out), "--quiet"]


def _env() -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3",
           "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _sqlalchemy_url(url: str) -> str:
    """The driver this test has (psycopg2): SQLAlchemy 2.1 maps a bare postgresql:// to
    psycopg 3."""
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def _study_exists(url: str) -> bool:
    """Read-only: is the study there yet? (Optuna's storage would create the tables itself,
    racing the workers that do.)"""
    import psycopg2

    try:
        connection = psycopg2.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url),
                                      connect_timeout=5)
    except psycopg2.OperationalError:
        return False
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM studies WHERE study_name = %s", (STUDY,))
            return cursor.fetchone() is not None
    except psycopg2.Error:  # tables not created yet
        return False
    finally:
        connection.close()


def _load_named(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name,
                             storage=optuna.storages.RDBStorage(_sqlalchemy_url(url)))


def _load(url: str) -> optuna.Study:
    return _load_named(url, STUDY)


def _pid(trial: optuna.trial.FrozenTrial) -> int | None:
    return (trial.user_attrs.get("worker") or {}).get("pid")


def _candidate(trial: optuna.trial.FrozenTrial) -> tuple[float, float] | None:
    params = trial.params or trial.system_attrs.get("fixed_params") or {}
    if "weight_decay" not in params:
        return None
    return (float(f"{params['weight_decay']:.12g}"), float(f"{params['bn_momentum']:.12g}"))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    try:
        process.communicate(timeout=30)
    except (subprocess.TimeoutExpired, ValueError):
        pass


def test_three_workers_share_a_study_and_survive_a_sigkill(postgres_url, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    env = _env()
    victim = subprocess.Popen(
        [sys.executable, "-c", _SLOW_WORKER, *_tune_args(tmp_path / "victim", postgres_url)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    time.sleep(HEAD_START_S)  # still importing: all three start up together
    survivors = [
        subprocess.Popen(
            [sys.executable, "-m", "superconverge",
             *_tune_args(tmp_path / f"worker{i}", postgres_url)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        )
        for i in (1, 2)
    ]
    started = time.monotonic()
    deadline = started + WORKER_TIMEOUT_S
    killed: optuna.trial.FrozenTrial | None = None
    try:
        study = None
        while time.monotonic() < deadline and victim.poll() is None:
            time.sleep(0.25)
            if study is None:
                study = _load(postgres_url) if _study_exists(postgres_url) else None
                continue
            trials = study.get_trials(deepcopy=False)
            mine = [t for t in trials if t.state == TrialState.RUNNING
                    and _pid(t) == victim.pid and t.params]
            finished = [t for t in trials if t.state in FINISHED]
            if mine and len(finished) >= 2:
                # the others have come back to the search loop (and its recovery) at least
                # twice while this worker was alive: its trial must still be RUNNING
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait(timeout=30)  # reap it now: a zombie's pid still looks alive
                killed = mine[0]
                break
        _, victim_err = victim.communicate(timeout=30)
        assert killed is not None, (
            f"the slowed worker was never seen in a running trial (exit {victim.returncode}):"
            f"\n{victim_err[-3000:]}"
        )
        assert victim.returncode == -signal.SIGKILL

        outputs = []
        for worker in survivors:
            try:
                out, err = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                out, err = worker.communicate(timeout=30)
                pytest.fail(f"worker {worker.pid} still running after {WORKER_TIMEOUT_S} s:"
                            f"\n{err[-3000:]}")
            assert worker.returncode == 0, f"worker {worker.pid} failed:\n{err[-3000:]}"
            outputs.append(out)
    finally:
        for process in (victim, *survivors):
            _stop(process)
    elapsed = time.monotonic() - started

    trials = _load(postgres_url).get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    survivor_pids = {w.pid for w in survivors}
    results = [json.loads((tmp_path / f"worker{i}" / "tuning.json").read_text()) for i in (1, 2)]
    assert not (tmp_path / "victim" / "tuning.json").exists()

    # the search: 3 grid values and one bisection step, at the fixed momentum
    candidates = {(float(f"{e['weight_decay']:.12g}"), float(f"{e['bn_momentum']:.12g}"))
                  for e in results[0]["evaluations"]}
    assert len(candidates) == len(results[0]["evaluations"]) == len(GRID) + 1
    assert {wd for wd, _ in candidates} >= set(GRID)
    assert sorted(e["phase"] for e in results[0]["evaluations"]) == \
        ["bisection"] + ["weight_decay"] * len(GRID)

    # every candidate finished exactly once; no other finished trial; none left behind
    finished = [t for t in trials if t.state in FINISHED]
    for candidate in candidates:
        runs = [t.number for t in finished if _candidate(t) == candidate]
        assert len(runs) == 1, f"candidate {candidate} finished {len(runs)} times: {runs}"
    assert len(finished) == len(candidates)
    assert all(_pid(t) in survivor_pids for t in finished)
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]

    # the killed trial: failed (its worker gone), its candidate retried by a survivor
    dead = by_number[killed.number]
    assert dead.state == TrialState.FAIL and _pid(dead) == victim.pid
    retry = [t for t in finished if _candidate(t) == _candidate(killed)]
    assert retry and retry[0].number > killed.number and _pid(retry[0]) in survivor_pids

    # every other failure is explained: a duplicate that stepped aside before running, or a
    # trial that found nothing queued (another worker took the waiting one first)
    for trial in trials:
        if trial.state != TrialState.FAIL or trial.number == killed.number:
            continue
        duplicate_of = trial.user_attrs.get("duplicate_of")
        if duplicate_of is not None:
            assert by_number[duplicate_of].number < trial.number
            assert _candidate(by_number[duplicate_of]) == _candidate(trial)
            assert "epochs_run" not in trial.user_attrs  # it never trained
        else:
            assert _candidate(trial) is None, f"unexplained failed trial {trial.number}"

    # both survivors chose the same, from the same evidence: the finished trials
    for result in results:
        assert result["study_name"] == STUDY and result["storage"] == postgres_url
        assert sorted(e["trial"] for e in result["evaluations"]) == \
            sorted(t.number for t in finished)
    assert (results[0]["weight_decay"], results[0]["bn_momentum"]) == \
        (results[1]["weight_decay"], results[1]["bn_momentum"])
    assert results[0]["evaluations"] == results[1]["evaluations"]
    assert all("weight decay" in out for out in outputs)
    print(f"shared study: {len(trials)} trials, killed trial {killed.number}, {elapsed:.0f} s")


def test_workers_opening_a_fresh_database_together_all_get_the_study(postgres_url):
    """Optuna creates its tables on first use; workers doing that at the same instant race
    (PostgreSQL: duplicate key in pg_type), and every one but the first used to crash."""
    import threading

    import psycopg2

    from superconverge.tuning.study import open_study

    admin = psycopg2.connect(re.sub(r"/[^/]*$", "/postgres", postgres_url), connect_timeout=5)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute('CREATE DATABASE "fresh"')
    finally:
        admin.close()
    url = re.sub(r"/[^/]*$", "/fresh", postgres_url)
    start, errors, studies = threading.Barrier(4), [], []

    def worker() -> None:
        start.wait(timeout=30)
        try:
            studies.append(open_study(url, "together"))
        except Exception as error:  # collected and reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(studies) == 4
    assert len({study._study_id for study in studies}) == 1


def test_a_candidate_enqueued_twice_is_trained_once(postgres_url, monkeypatch):
    """The race of two workers enqueueing one candidate at the same instant, made certain:
    the later trial steps aside before training, the candidate finishes exactly once."""
    import functools

    from superconverge import data, models
    from superconverge.tuning import study as study_lib
    from superconverge.tuning import tune_regularization
    from superconverge.tuning.procedure import Candidate

    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))
    name = "enqueued-twice"
    study = study_lib.open_study(postgres_url, name)
    for _ in range(2):
        study_lib.enqueue(study, Candidate("weight_decay", 1e-3, 0.9))
    splits = data.load("synthetic", n_train=128, n_test=32, image_size=8,
                       validation_split=0.25, seed=0)
    build = functools.partial(models.build, "simple_cnn", splits.input_shape,
                              splits.num_classes, seed=0, width=4)
    # the prior (the default to beat, added to any grid) is one of the grid's two values
    result = tune_regularization(build, splits, weight_decays=[1e-3, 0.0], bn_momentum=0.9,
                                 prior_weight_decay=1e-3, epochs=1, batch_size=32, max_lr=0.5,
                                 storage=postgres_url, study_name=name, plots=False)

    trials = {t.number: t for t in _load_named(postgres_url, name).get_trials(deepcopy=False)}
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["duplicate_of"] == 0
    assert "epochs_run" not in trials[1].user_attrs and trials[0].state in FINISHED
    finished = [_candidate(t) for t in trials.values() if t.state in FINISHED]
    assert len(finished) == len(set(finished)) == len(result.evaluations) == 3  # 2 grid + 1
    assert study_lib.candidate_status(study, Candidate("", 1e-3, 0.9)).get("FAIL", 0) == 0


def test_unreachable_storage_is_a_clear_error(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://tuner:secret@127.0.0.1:{port}/tuning"
    done = subprocess.run(
        [sys.executable, "-m", "superconverge", *_tune_args(tmp_path / "out", url)],
        env=_env(), capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("superconverge tune: error:") and "storage" in message
    assert f"127.0.0.1:{port}" in message and "secret" not in done.stderr
