"""Optuna plumbing: one study per tuning run, its storage, pruning, and recovery after a kill.

* **Storage.** ``sqlite:///<out_dir>/tuning.db`` by default (nothing to set up), or any Optuna
  RDB URL (``postgresql://user@host/db``, ``mysql://...``) so that several processes or
  machines share one study; in memory when there is neither.
* **Trials.** Every short run is an *enqueued* trial (``study.enqueue_trial``) carrying its two
  values as fixed params and its phase as a user attribute: the search is Smith's deterministic
  procedure (:mod:`superconverge.tuning.procedure`), Optuna's sampler is never asked.
* **States.** ``COMPLETE`` (value = final validation loss) and ``PRUNED`` count as finished.
  A process killed mid-trial leaves its trial ``RUNNING``: :func:`recover_interrupted` marks
  it ``FAIL`` when the process that owned it is gone (same host, its pid no longer alive) or its
  heartbeat is stale (other hosts, ``heartbeat_interval``/``grace_period`` of the RDB storage),
  and the search enqueues that candidate again. Finished trials are never redone.
* **Several workers.** Two workers can enqueue the same candidate at the same instant (or one
  re-enqueues a candidate another has just finished): only the earliest trial of a candidate
  that has not failed runs; a later one steps aside before training (:func:`duplicate_of`,
  ``FAIL`` with user attr ``duplicate_of``), so no candidate is finished twice.
* **Pruning.** :class:`HopelessPruner` stops a trial whose intermediate validation loss (one
  report per epoch) is not finite or more than ``ratio`` times the best value any finished
  trial reported at the same epoch.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import optuna
from optuna.trial import FrozenTrial, TrialState

from superconverge.errors import ArgumentError, SuperconvergeError
from superconverge.tuning.files import TUNING_DB
from superconverge.tuning.procedure import Candidate, Evaluation, SearchSpec, plan_next

__all__ = [
    "DEFAULT_STUDY_NAME",
    "HopelessPruner",
    "StorageError",
    "candidate_status",
    "default_storage",
    "duplicate_of",
    "enqueue",
    "evaluations",
    "open_study",
    "recover_interrupted",
    "redact",
    "worker_id",
]

logger = logging.getLogger(__name__)

DEFAULT_STUDY_NAME = "tuning"
HEARTBEAT_INTERVAL = 20  # seconds
GRACE_PERIOD = 120  # seconds without a heartbeat before a RUNNING trial of another host is stale
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
CONNECT_TIMEOUT = 30  # seconds, PostgreSQL: an unreachable server is an error, not a hang
_SCHEMA_ATTEMPTS = 5  # workers starting together race to create Optuna's tables


class StorageError(SuperconvergeError, ValueError):
    """The storage URL cannot be used (unreachable server, no driver, no permission)."""


def default_storage(out_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///<out_dir>/tuning.db`` (absolute path)."""
    path = Path(out_dir).resolve() / TUNING_DB
    return f"sqlite:///{path}"


def redact(url: str | None) -> str | None:
    """The storage URL with any password replaced by ``***`` (for logs and tuning.json)."""
    if not url or "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def worker_id() -> dict[str, Any]:
    """``{"host": ..., "pid": ...}`` of this process, stored on the trials it runs."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


class HopelessPruner(optuna.pruners.BasePruner):
    """Prune a trial whose intermediate validation loss is hopeless.

    At step (epoch) ``s`` with value ``v``: prune when ``v`` is NaN/inf, or when at least
    ``min_finished`` trials have finished and ``v > ratio · min_j v_j(s)`` over the finished
    (complete) trials ``j`` that reported step ``s``.

    One-cycle runs peak in LR mid-run, where the validation loss is high and noisy and a
    good setting can look worse than a bad one (the median rule of ``MedianPruner`` would
    prune half of Smith's grid on that noise), so only far-off trials are stopped.
    """

    def __init__(self, ratio: float = 2.0, min_finished: int = 1) -> None:
        if ratio <= 1.0:
            raise ArgumentError(f"ratio must be > 1, got {ratio}")
        self.ratio = float(ratio)
        self.min_finished = int(min_finished)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        value = trial.intermediate_values[step]
        if not math.isfinite(value):
            return True
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(finished) < self.min_finished:
            return False
        best = [
            t.intermediate_values[step] for t in finished
            if step in t.intermediate_values and math.isfinite(t.intermediate_values[step])
        ]
        return bool(best) and value > self.ratio * min(best)


def _engine_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 means psycopg 3 by
    it, this project pins psycopg2 (``psycopg2-binary``)."""
    scheme, sep, rest = url.partition("://")
    if (sep and scheme == "postgresql" and importlib.util.find_spec("psycopg") is None
            and importlib.util.find_spec("psycopg2") is not None):
        return f"postgresql+psycopg2://{rest}"
    return url


def _storage_error(url: str, error: BaseException) -> StorageError:
    if isinstance(error, ImportError):
        reason = ("no database driver for it (PostgreSQL: pip install psycopg2-binary, as "
                  "pinned in requirements.lock)")
    else:
        lines = str(getattr(error, "orig", None) or error).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        password = urlsplit(url).password if "://" in url else None
        if password:
            reason = reason.replace(password, "***")
    return StorageError(f"cannot use the Optuna storage {redact(url)}: {reason}")


def _rdb_storage(url: str, **kwargs: Any) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, retried while other workers create the same tables; any failure
    is a :class:`StorageError` with the (redacted) URL and the reason in one line."""
    import sqlalchemy.exc

    for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(_engine_url(url), **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as error:
            # concurrent CREATE TABLE / alembic stamp by another worker; the next try finds
            # the tables (or fails the same way: then it is, e.g., a permission problem)
            if attempt == _SCHEMA_ATTEMPTS:
                raise _storage_error(url, error) from None
            time.sleep(0.2 + random.random())
        except (ImportError, sqlalchemy.exc.SQLAlchemyError,
                optuna.exceptions.StorageInternalError) as error:
            raise _storage_error(url, error) from None
    raise AssertionError("unreachable")


def open_study(
    storage: str | optuna.storages.BaseStorage | None,
    study_name: str = DEFAULT_STUDY_NAME,
    *,
    pruner: optuna.pruners.BasePruner | None = None,
    heartbeat_interval: int | None = HEARTBEAT_INTERVAL,
    grace_period: int | None = GRACE_PERIOD,
) -> optuna.Study:
    """Create the study or load it (``load_if_exists=True``).

    Args:
        storage: an RDB URL (``sqlite:///...``, ``postgresql://...``), a ready Optuna storage,
            or ``None`` (in memory: nothing survives the process).
        study_name: the study in that storage; every worker of one search uses the same name.
        pruner: default :class:`HopelessPruner`.
        heartbeat_interval, grace_period: RDB heartbeat, so that a trial whose worker died on
            another machine is failed and redone (``None``: off).
    """
    if isinstance(storage, str):
        engine_kwargs: dict[str, Any] = {}
        if storage.startswith("sqlite"):
            # several local workers: wait for the write lock instead of failing at once
            engine_kwargs = {"connect_args": {"timeout": 60}}
            if storage.startswith("sqlite:///"):
                Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        elif storage.startswith("postgresql") and "connect_timeout" not in storage:
            engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}}
        storage = _rdb_storage(
            storage,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period if heartbeat_interval else None,
        )
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        pruner=pruner or HopelessPruner(),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark ``RUNNING`` trials whose worker is gone as ``FAIL``; return their numbers.

    A trial is abandoned when its worker (``user_attrs["worker"]``) ran on this host and that
    process no longer exists, or when the storage's heartbeat says it is stale
    (``optuna.storages.fail_stale_trials``; RDB storages with a heartbeat only). Trials of
    live workers, here or elsewhere, are left alone.
    """
    failed: list[int] = []
    storage = study._storage
    if optuna.storages._heartbeat.is_heartbeat_enabled(storage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        failed.extend(sorted(before - after))
    host, me = socket.gethostname(), os.getpid()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker") or {}
        pid = worker.get("pid")
        if worker.get("host") != host or not isinstance(pid, int) or pid == me:
            continue
        if not _pid_alive(pid):
            try:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except RuntimeError:  # finished or failed by another worker meanwhile
                continue
            failed.append(trial.number)
    if failed:
        logger.warning(
            "tuning: trial(s) %s were interrupted (their worker is gone); their candidates "
            "will be run again", failed,
        )
    return failed


def _params(trial: FrozenTrial) -> dict[str, float] | None:
    params = trial.params or trial.system_attrs.get("fixed_params") or {}
    if "weight_decay" in params and "bn_momentum" in params:
        return {"weight_decay": float(params["weight_decay"]),
                "bn_momentum": float(params["bn_momentum"])}
    return None


def candidate_status(study: optuna.Study, candidate: Candidate) -> dict[str, int]:
    """How many trials of ``candidate`` the study holds, by state name (``"COMPLETE"``, ...);
    duplicates that stepped aside (:func:`duplicate_of`) count as ``"DUPLICATE"``, not as
    failures."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        params = _params(trial)
        if params and candidate.matches(params["weight_decay"], params["bn_momentum"]):
            name = ("DUPLICATE" if trial.user_attrs.get("duplicate_of") is not None
                    else trial.state.name)
            counts[name] = counts.get(name, 0) + 1
    return counts


def duplicate_of(study: optuna.Study, trial: FrozenTrial) -> int | None:
    """The number of an earlier trial of the same candidate that has not failed (waiting,
    running or finished), or ``None``: then ``trial`` is the one to run.

    Trial numbers are given under a lock on the study row, so every worker sees the earlier
    trial once it sees the later one, and the earliest live trial of a candidate is the same
    for all of them: at most one trial per candidate trains at a time, and none once one has
    finished.
    """
    params = _params(trial)
    if params is None:
        return None
    candidate = Candidate("", params["weight_decay"], params["bn_momentum"])
    for other in study.get_trials(deepcopy=False):
        if other.number >= trial.number or other.state == TrialState.FAIL:
            continue
        theirs = _params(other)
        if theirs and candidate.matches(theirs["weight_decay"], theirs["bn_momentum"]):
            return other.number
    return None


def enqueue(study: optuna.Study, candidate: Candidate) -> None:
    """Add a ``WAITING`` trial for ``candidate`` (its params fixed, its phase as user attr)."""
    study.enqueue_trial(
        {"weight_decay": candidate.weight_decay, "bn_momentum": candidate.bn_momentum},
        user_attrs={"phase": candidate.phase},
    )


def _evaluation(trial: FrozenTrial) -> Evaluation | None:
    params = _params(trial)
    if params is None or trial.state not in FINISHED:
        return None
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        loss = float(trial.value)
    else:
        loss = math.inf
    attrs = trial.user_attrs
    return Evaluation(
        weight_decay=params["weight_decay"],
        bn_momentum=params["bn_momentum"],
        val_loss=loss,
        phase=str(attrs.get("phase", "")),
        state="complete" if trial.state == TrialState.COMPLETE else "pruned",
        val_accuracy=attrs.get("val_accuracy"),
        epochs_run=float(attrs.get("epochs_run", 0.0)),
        number=trial.number,
        history=dict(attrs.get("history") or {}),
    )


def evaluations(study: optuna.Study) -> list[Evaluation]:
    """The finished (complete or pruned) trials as :class:`Evaluation`, oldest first; for a
    candidate finished more than once (only in studies run before :func:`duplicate_of`),
    only the first finished one counts."""
    out: list[Evaluation] = []
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        evaluation = _evaluation(trial)
        if evaluation is None:
            continue
        if any(
            Candidate("", e.weight_decay, e.bn_momentum).matches(
                evaluation.weight_decay, evaluation.bn_momentum
            )
            for e in out
        ):
            continue
        out.append(evaluation)
    return out


def count_states(study: optuna.Study, states: Iterable[TrialState]) -> int:
    """Number of trials in any of ``states``."""
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


class _NothingQueuedError(Exception):
    """Control flow, not an error: another worker took the waiting trial first; this trial
    carries no candidate."""


class _DuplicateTrialError(Exception):
    """Control flow, not an error: an earlier trial of this candidate is waiting, running or
    finished, so this one steps aside (two workers enqueued it at once)."""


def claim_candidate(trial: optuna.Trial) -> tuple[float, float]:
    """The ``(weight_decay, bn_momentum)`` an objective should run for ``trial``, which this
    worker now owns; steps aside (caught by :func:`run_search`) when the trial carries no
    enqueued candidate or repeats one another trial already has."""
    frozen = trial.study._storage.get_trial(trial._trial_id)
    if "fixed_params" not in frozen.system_attrs:
        raise _NothingQueuedError()
    trial.set_user_attr("worker", worker_id())
    earlier = duplicate_of(trial.study, frozen)
    if earlier is not None:
        trial.set_user_attr("duplicate_of", earlier)
        logger.info("tuning: trial %d repeats trial %d (enqueued twice); not run",
                    trial.number, earlier)
        raise _DuplicateTrialError(f"same candidate as trial {earlier}")
    return (trial.suggest_float("weight_decay", 0.0, 1.0),
            trial.suggest_float("bn_momentum", 0.0, 1.0))


#: seconds between looks at a study whose missing runs other workers are running
POLL_SECONDS = 5.0
#: per candidate: a run that keeps failing is a bug, not a kill
MAX_FAILURES = 3


def shared_max_lr(
    study: optuna.Study,
    study_name: str,
    storage: Any,
    *,
    given: float | None,
    measure: Callable[[], tuple[float, str, float]],
) -> tuple[float, str, float]:
    """The max LR of the short runs, kept in the study's user attributes so that a resumed
    search or a second worker uses the same one: ``given`` when set, else the stored value,
    else ``measure()`` (one range test: ``(max_lr, source, epochs spent)``). Returns
    ``(max_lr, source, range-test epochs)``."""
    range_epochs = 0.0
    if given is not None:
        lr, source = float(given), "given"
        if study.user_attrs.get("max_lr") is None:
            study.set_user_attr("max_lr", lr)
            study.set_user_attr("max_lr_source", source)
    elif study.user_attrs.get("max_lr") is not None:
        lr = float(study.user_attrs["max_lr"])
        source = str(study.user_attrs.get("max_lr_source", "stored in the study"))
        range_epochs = float(study.user_attrs.get("range_test_epochs", 0.0))
        logger.info("tuning: max LR %.4g from the study (%s)", lr, source)
    else:
        logger.info("tuning: LR range test for the max LR of the short runs ...")
        lr, source, range_epochs = measure()
        if study.user_attrs.get("max_lr") is not None:  # another worker was faster
            lr = float(study.user_attrs["max_lr"])
            source = str(study.user_attrs.get("max_lr_source", "stored in the study"))
        else:
            study.set_user_attr("max_lr", lr)
            study.set_user_attr("max_lr_source", source)
            study.set_user_attr("range_test_epochs", range_epochs)
        logger.info("tuning: max LR %.4g (%s)", lr, source)
    if given is not None and study.user_attrs.get("max_lr") != lr:
        raise ArgumentError(
            f"study {study_name!r} ran its short runs at max LR {study.user_attrs['max_lr']:g}, "
            f"not {lr:g}: resume with the same max LR or use a new study"
        )
    return lr, source, range_epochs


def run_search(study: optuna.Study, spec: SearchSpec, objective: Callable[[Any], float]) -> None:
    """Run the plan of ``spec`` to its end: recompute what is missing from what the study
    holds (finished here or by other workers), enqueue it, run one waiting trial with
    ``objective``, repeat; wait while other workers run the missing ones."""
    failures: dict[Candidate, int] = {}
    while True:
        recover_interrupted(study)
        done = evaluations(study)
        todo = plan_next(spec, done)
        if todo is None:
            break
        missing = [c for c in todo if not any(
            c.matches(e.weight_decay, e.bn_momentum) for e in done)]
        for candidate in missing:
            status = candidate_status(study, candidate)
            if any(status.get(s, 0) for s in ("WAITING", "RUNNING", "COMPLETE", "PRUNED")):
                continue  # queued, running, or finished by another worker meanwhile
            failures[candidate] = status.get("FAIL", 0)
            if failures[candidate] >= MAX_FAILURES:
                raise RuntimeError(
                    f"the short run at weight decay {candidate.weight_decay:g}, BN momentum "
                    f"{candidate.bn_momentum:g} failed {failures[candidate]} times; see the "
                    "log of the earlier attempts"
                )
            enqueue(study, candidate)
        waiting = count_states(study, (optuna.trial.TrialState.WAITING,))
        if waiting:
            study.optimize(objective, n_trials=1,
                           catch=(_NothingQueuedError, _DuplicateTrialError))
        else:  # the missing runs are running in other workers
            time.sleep(POLL_SECONDS)

