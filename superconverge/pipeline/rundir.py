"""The run directory: what makes a folder a superconverge run, and who may write into it.

* **Marker** — ``.superconverge-run`` is written when a run starts; a folder with it (or with
  the ``config.json`` of a run made before the marker existed) is a run directory. A
  non-empty folder without either is someone else's: the pipeline refuses to write into it
  unless asked to (``force``), so ``--out ~/Documents`` cannot overwrite a user's files.
* **Lock** — a run holds an exclusive ``fcntl.flock`` on ``.lock`` (which records its PID)
  for as long as it runs. A second run into the same folder is refused with the holder's PID.
  The kernel drops the lock when the process dies, so a stale lock after ``kill -9`` never
  blocks a ``resume``; the PID left in the file is only information.
* **Orphans** — files named ``.NAME.*.tmp`` (the atomic writer's temporary files) and
  ``.tmp-*`` (model saves) that a kill left behind are removed when a run starts or resumes.
* **Files** — every file of a run is named here once (the properties below); the pipeline,
  resume, the report and the command line reach them only through :class:`RunDirectory`.
  ``NAME`` is a training stage (``one_cycle``, ``baseline``)::

      .superconverge-run  .lock   config.json  environment.json  data.json  state.json
      range_test.json  range_test_sweeps/sweep-K.json  range_test.png  bounds.json
      lr_trials.json
      budget.json  tuning.json  tuning/  tuning.db
      one_cycle_schedule.json  NAME_history.csv  NAME_applied.csv  NAME_training.json
      checkpoints/NAME/{state.json, epoch-XXXX.keras}  models/NAME.keras
      metrics.json  report.html  figures/
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from types import TracebackType

from superconverge.errors import SuperconvergeError
from superconverge.io import atomic_write_text
from superconverge.tuning.files import TUNING_DIR, TUNING_JSON

logger = logging.getLogger(__name__)

MARKER = ".superconverge-run"
LOCK = ".lock"
CONFIG = "config.json"
STATE = "state.json"
TRAINING_RUNS = ("one_cycle", "baseline")
_ORPHAN_PATTERNS = (".*.tmp", ".tmp-*")


class RunDirectoryError(SuperconvergeError, ValueError):
    """The run directory cannot be used as asked (in use, not a run, a different config)."""


class RunDirectory:
    """One run's folder: marker, lock and orphan cleanup (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    # -- the files ------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def state(self) -> Path:
        return self.path / STATE

    @property
    def environment(self) -> Path:
        return self.path / "environment.json"

    @property
    def data(self) -> Path:
        return self.path / "data.json"

    @property
    def range_test(self) -> Path:
        return self.path / "range_test.json"

    def range_test_sweep(self, index: int) -> Path:
        """Sweep ``index`` of a range test repeated ``range_repeats`` times (``range_test.json``
        is then their average)."""
        return self.path / "range_test_sweeps" / f"sweep-{index}.json"

    @property
    def range_test_plot(self) -> Path:
        return self.path / "range_test.png"

    @property
    def bounds(self) -> Path:
        return self.path / "bounds.json"

    @property
    def lr_trials(self) -> Path:
        """The max-LR trials (``lr_trial_fraction > 0``): each candidate and its score."""
        return self.path / "lr_trials.json"

    @property
    def tuning(self) -> Path:
        return self.path / TUNING_JSON

    @property
    def tuning_plots(self) -> Path:
        return self.path / TUNING_DIR

    @property
    def budget(self) -> Path:
        """The wall-clock budget's plan (``budget_seconds`` set)."""
        return self.path / "budget.json"

    @property
    def one_cycle_schedule(self) -> Path:
        return self.path / "one_cycle_schedule.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def figure(self, name: str) -> Path:
        """A figure the report draws (``figures/NAME.png``)."""
        return self.figures / f"{name}.png"

    def history(self, name: str) -> Path:
        """Per-epoch history of training run ``name`` (CSV)."""
        return self.path / f"{name}_history.csv"

    def applied(self, name: str) -> Path:
        """LR and momentum applied at every optimizer step of ``name`` (CSV)."""
        return self.path / f"{name}_applied.csv"

    def training(self, name: str) -> Path:
        """Epochs, wall time and final-model details of ``name`` (JSON)."""
        return self.path / f"{name}_training.json"

    def model(self, name: str) -> Path:
        """The final model of ``name``."""
        return self.path / "models" / f"{name}.keras"

    def checkpoints(self, name: str) -> Path:
        """The checkpoint folder of ``name`` (its ``state.json`` and newest epoch)."""
        return self.path / "checkpoints" / name

    @property
    def all_checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def is_run(self) -> bool:
        return (self.path / MARKER).exists() or self.config.exists()

    def check_usable(self, *, force: bool = False) -> None:
        """Refuse a path that is a file, or a non-empty folder that is not a run."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(
                f"--out {self.path} is a file, not a folder; choose a folder for the run."
            )
        if force or not self.path.is_dir() or self.is_run():
            return
        if any(entry.name != LOCK for entry in self.path.iterdir()):
            raise RunDirectoryError(
                f"{self.path} is not empty and is not a superconverge run directory (no "
                f"{MARKER} in it); writing there could overwrite your files. Choose a new or "
                "empty folder with --out, or pass --force to use this one anyway."
            )

    def create(self) -> None:
        """Make the folder and its marker (idempotent)."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / MARKER).exists():
            atomic_write_text(self.path / MARKER, "superconverge run directory\n")

    # -- lock -----------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the exclusive lock or raise :class:`RunDirectoryError` naming the holder."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = self._holder()
            raise RunDirectoryError(
                f"{self.path} is in use by another superconverge run"
                f"{f' (PID {holder})' if holder else ''}; two runs in one folder would mix "
                "their results. Wait for it to finish, or choose another --out."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _holder(self) -> int | None:
        try:
            return int((self.path / LOCK).read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def __enter__(self) -> RunDirectory:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    # -- cleanup --------------------------------------------------------------------------
    def remove_orphans(self) -> list[Path]:
        """Delete temporary files a killed run left (anywhere below the folder)."""
        removed: list[Path] = []
        if not self.path.is_dir():
            return removed
        for pattern in _ORPHAN_PATTERNS:
            for path in self.path.rglob(pattern):
                if path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
                elif path.is_dir():  # a half-written .keras save is a file; be careful anyway
                    continue
        if removed:
            logger.info("removed %d temporary file(s) left by an interrupted run", len(removed))
        return removed
