"""A throwaway PostgreSQL server on 127.0.0.1 for the shared-study tests.

``postgres_url`` (session scope): ``initdb`` into a fresh directory under the system temp dir
(owned by the ``postgres`` user when the tests run as root: the server refuses to run as
root), ``pg_ctl start`` on a free loopback port with its socket in that directory, one
database; yields ``postgresql://postgres@127.0.0.1:PORT/DB``. Teardown stops the server
(``pg_ctl stop -m immediate``) and removes the directory, also when a test failed. A small
watchdog process does the same if this pytest process dies without a teardown (SIGKILL, a
timeout), and in any case after ``MAX_LIFETIME_S``, so the server never outlives the tests.

No PostgreSQL installed is a failure, not a skip: ``scripts/test.sh`` installs it
(``scripts/postgres.sh``).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MAX_LIFETIME_S = 1800  # the watchdog stops the server after this, whatever happens
COMMAND_TIMEOUT_S = 60

_MISSING = (
    "PostgreSQL is not installed (no initdb on PATH or under /usr/lib/postgresql/*/bin): run "
    "scripts/test.sh (it installs it as root through scripts/postgres.sh) or "
    "`apt-get install postgresql`"
)


def _bin_dir() -> Path:
    found = shutil.which("initdb")
    if found is None:
        candidates = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit()
            else 0,
        )
        found = candidates[-1] if candidates else None
    if found is None:
        pytest.fail(_MISSING, pytrace=False)
    bin_dir = Path(found).resolve().parent
    for tool in ("pg_ctl", "postgres"):
        if not (bin_dir / tool).exists():
            pytest.fail(f"{tool} is missing next to {found}; {_MISSING}", pytrace=False)
    return bin_dir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user() -> list[str]:
    """``runuser -u postgres --`` as root (PostgreSQL refuses root), nothing otherwise."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.fail("running as root needs runuser (util-linux) to start PostgreSQL as the "
                    "postgres user", pytrace=False)
    return [runuser, "-u", "postgres", "--"]


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish within {COMMAND_TIMEOUT_S} s", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                    f"\n{done.stderr[-2000:]}", pytrace=False)


def _create_database(port: int, name: str) -> None:
    try:
        import psycopg2
    except ImportError:
        pytest.fail("psycopg2 is not installed: pip install -r requirements.lock "
                    "(psycopg2-binary)", pytrace=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres",
                                          dbname="postgres", connect_timeout=5)
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


def _kill_postmaster(data: Path) -> None:
    """SIGKILL the server started here when ``pg_ctl stop`` left it running."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bin_dir = _bin_dir()
    as_postgres = _as_server_user()
    # not under pytest's tmp_path: its parents are 0700 root, the server user could not enter
    root = Path(tempfile.mkdtemp(prefix="superconverge-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if as_postgres:
        for path in (root, sockets):
            shutil.chown(path, "postgres", "postgres")
    port = _free_port()
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
    stop = [*pg_ctl, "stop", "-m", "immediate", "-w", "-t", "30"]

    # stops the server if this process goes away without a teardown, or after MAX_LIFETIME_S
    watchdog = subprocess.Popen(
        ["bash", "-c",
         f"end=$((SECONDS + {MAX_LIFETIME_S})); "
         f"while kill -0 {os.getpid()} 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 1; done; "
         f"if [ -f {shlex.quote(str(data / 'postmaster.pid'))} ]; then "
         f"{shlex.join(stop)} >/dev/null 2>&1; fi; rm -rf {shlex.quote(str(root))}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = False
    try:
        _run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
              "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"], "initdb")
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        started = True  # pg_ctl may have started it even when it fails to confirm
        _run([*pg_ctl, "-l", str(log), "-w", "-t", "30", "-o", options, "start"],
             f"pg_ctl start (log: {log})")
        _create_database(port, "tuning")
        yield f"postgresql://postgres@127.0.0.1:{port}/tuning"
    finally:
        if started and (data / "postmaster.pid").exists():
            try:
                subprocess.run(stop, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                pass
            _kill_postmaster(data)
        watchdog.kill()  # our own child, by its pid
        watchdog.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
