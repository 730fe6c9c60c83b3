"""Choosing the database: DATABASE_URL, the embedded server, and clear failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from config import ProductionConfig, TestingConfig
from crm import PROJECT_ROOT, create_app
from crm.db.server import DatabaseSetupError, StartupError, check_connection, parse_database_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "postgresql://u:p@db.example.com:6543/crm",
            "postgresql+psycopg://u:p@db.example.com:6543/crm",
        ),
        ("postgres://u@localhost/crm", "postgresql+psycopg://u@localhost/crm"),
        (
            "postgresql+psycopg://u@h/crm?sslmode=require",
            "postgresql+psycopg://u@h/crm?sslmode=require",
        ),
    ],
)
def test_postgres_urls_are_pointed_at_psycopg3(raw: str, expected: str):
    assert parse_database_url(raw).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "DATABASE_URL is not a valid URL; expected postgresql://"),
        ("mysql://u@h/crm", "DATABASE_URL must point at PostgreSQL (got 'mysql')"),
        ("postgresql+asyncpg://u@h/crm", "names the driver 'asyncpg'"),
        ("postgresql://u@h", "DATABASE_URL names no database"),
    ],
)
def test_malformed_urls_get_one_line_saying_what_to_fix(raw: str, message: str):
    with pytest.raises(DatabaseSetupError) as error:
        parse_database_url(raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_server_that_is_down_gets_one_clear_line():
    url = parse_database_url("postgresql://crm:secret-pw@127.0.0.1:1/crm")
    with pytest.raises(DatabaseSetupError) as error:
        check_connection(url, timeout=2)
    message = str(error.value)
    assert message.startswith("cannot connect to PostgreSQL at 127.0.0.1:1/crm (")
    assert message.endswith("start the server or fix DATABASE_URL")
    assert "secret-pw" not in message
    assert "\n" not in message


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`flask <args>` in the project, as a person would run it."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "flask", *args],
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.own_database
@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/crm"},
            "error: cannot connect to PostgreSQL",
        ),
        ({"DATABASE_URL": "::garbage::"}, "error: DATABASE_URL is not a valid URL"),
        ({"CRM_ENV": "staging"}, "error: CRM_ENV='staging' is not one of"),
        (
            {"CRM_ENV": "production", "SECRET_KEY": "", "DATABASE_URL": ""},
            "error: production configuration needs SECRET_KEY and DATABASE_URL",
        ),
    ],
)
def test_flask_cli_prints_one_line_instead_of_a_traceback(env: dict[str, str], expected: str):
    result = run_flask(env, "routes")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.own_database
def test_production_refuses_to_start_without_secret_key_and_database_url():
    with pytest.raises(StartupError, match="needs SECRET_KEY and DATABASE_URL"):
        create_app(ProductionConfig, {"SECRET_KEY": None, "DATABASE_URL": None})
    with pytest.raises(StartupError, match="needs SECRET_KEY set"):
        create_app(ProductionConfig, {"SECRET_KEY": None, "DATABASE_URL": "postgresql://u@h/db"})


@pytest.mark.own_database
def test_without_database_url_the_embedded_server_in_the_instance_folder_is_used():
    app = create_app(TestingConfig, {"DATABASE_URL": None})
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("postgresql+psycopg://postgres@/crm_test?host=")
    pid_file = Path(app.instance_path) / "pgdata" / "postmaster.pid"
    assert pid_file.exists()
    assert Path(app.instance_path) == PROJECT_ROOT / "instance"


EMBEDDED_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from config import TestingConfig
    from crm import create_app

    first = create_app(TestingConfig, {"DATABASE_URL": None}, instance_path=sys.argv[1])
    again = create_app(TestingConfig, {"DATABASE_URL": None}, instance_path=sys.argv[1])
    pid_file = Path(sys.argv[1]) / "pgdata" / "postmaster.pid"
    print(pid_file.read_text().splitlines()[0])
    print(first.config["SQLALCHEMY_DATABASE_URI"] == again.config["SQLALCHEMY_DATABASE_URI"])
    sys.stdout.flush()
    if sys.argv[2:] == ["wait"]:
        time.sleep(60)
    """
)


def start_child(instance: Path, *extra: str) -> subprocess.Popen[str]:
    """An app process started away from the project (as a service manager starts one)."""
    return subprocess.Popen(
        [sys.executable, "-c", EMBEDDED_CHILD, str(instance), *extra],
        cwd=instance.parent,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_stopped(instance: Path, server_pid: int) -> None:
    if psutil.pid_exists(server_pid):
        assert psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    assert not (instance / "pgdata" / "postmaster.pid").exists()


@pytest.mark.own_database
def test_embedded_server_starts_in_a_new_instance_folder_and_stops_at_exit(tmp_path: Path):
    instance = tmp_path / "instance"
    child = start_child(instance)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    pid_line, same_url = out.split()
    assert same_url == "True"  # the second app reused the running server
    assert (instance / "pgdata" / "PG_VERSION").exists()
    assert_stopped(instance, int(pid_line))


@pytest.mark.own_database
def test_embedded_server_stops_on_sigterm_even_after_a_killed_process(tmp_path: Path):
    instance = tmp_path / "instance"
    first = start_child(instance)
    first.communicate(timeout=120)  # initdb once
    assert first.returncode == 0
    # A process that was SIGKILLed never removed itself from the package's list.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (instance / "pgdata" / ".handle_pids.json").write_text(json.dumps([dead.pid]))

    child = start_child(instance, "wait")
    server_pid = int(child.stdout.readline())
    assert psutil.pid_exists(server_pid)
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    assert_stopped(instance, server_pid)


@pytest.mark.own_database
def test_embedded_server_stops_after_its_last_user_is_killed_outright(tmp_path: Path):
    """SIGKILL runs no exit hook (nor does a reloader's child it kills): the watchdog
    stops the server within seconds (crm/db/watch.py)."""
    instance = tmp_path / "instance"
    child = start_child(instance, "wait")
    server_pid = int(child.stdout.readline())
    assert psutil.pid_exists(server_pid)
    watchdog = int((instance / "pgdata" / ".crm_watchdog.pid").read_text())
    assert psutil.Process(watchdog).cmdline()[-3:-1] == [
        "crm.db.watch",
        str(instance / "pgdata"),
    ]
    assert os.getsid(watchdog) != os.getsid(child.pid)  # out of the app's session
    child.kill()
    child.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while (instance / "pgdata" / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert_stopped(instance, server_pid)
    psutil.Process(watchdog).wait(timeout=10)  # and the watchdog is gone too
