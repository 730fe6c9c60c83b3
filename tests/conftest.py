"""Test harness: one private database per run, one rolled-back transaction per test.

The server is the embedded PostgreSQL, or the one DATABASE_URL names (CI runs the
suite once each way). Each run creates ``crm_test_<pid>`` on it, migrates it with
the real migrations, and drops it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from config import TestingConfig
from crm import PROJECT_ROOT
from crm.db import server as dbsetup
from crm.extensions import db
from crm.models import User, UserRole
from crm.security.passwords import hash_password
from crm.security.protections import limiter
from tests import factories
from tests.helpers import (
    PASSWORDS,
    TEST_DB_PREFIX,
    Browser,
    app_on_new_database,
)


class ConnectionBoundSession(FlaskSession):
    """A Flask-SQLAlchemy session that always uses the test's own connection."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        return self.bind


@pytest.fixture(scope="session")
def server_url() -> URL:
    """Maintenance URL of the server under test."""
    if TestingConfig.DATABASE_URL:
        return dbsetup.parse_database_url(TestingConfig.DATABASE_URL)
    return dbsetup.embedded_server_url(PROJECT_ROOT / "instance")


def _drop_abandoned_test_databases(server_url: URL) -> None:
    """Drop crm_test_<pid> databases whose test run died without cleaning up."""
    with psycopg.connect(dbsetup.libpq_dsn(server_url), autocommit=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (TEST_DB_PREFIX + "%",)
            )
        ]
    for name in names:
        pid = name.removeprefix(TEST_DB_PREFIX).split("_")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            dbsetup.drop_database(server_url, name)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def app(server_url: URL) -> Iterator[Flask]:
    """The app on a freshly migrated private database, shared by the run."""
    _drop_abandoned_test_databases(server_url)
    with app_on_new_database(server_url) as application:
        yield application


@pytest.fixture(autouse=True)
def db_connection(request: pytest.FixtureRequest) -> Iterator[Connection | None]:
    """Run the test inside a transaction that is rolled back afterwards.

    ``db.session`` is bound to that connection; the code's own commits become
    savepoint releases. Tests marked ``own_database`` build their own app instead.
    """
    if request.node.get_closest_marker("own_database"):
        yield None
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": ConnectionBoundSession,
            }
        )
        try:
            yield connection
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def scratch_app(server_url: URL) -> Iterator[Flask]:
    """An app on an empty database of its own (for tests marked own_database)."""
    with app_on_new_database(server_url, "scratch", migrate=False) as application:
        yield application


# -- signing in ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_schedules_left_behind() -> Iterator[None]:
    """Schedules a test registers (crm/jobs/tasks.py's ``schedule``) go with it: the
    registry is the process's, and a later test's worker would fire them."""
    from crm.jobs.queue import queue

    before = set(queue.periodic_registry.periodic_tasks)
    yield
    for key in set(queue.periodic_registry.periodic_tasks) - before:
        del queue.periodic_registry.periodic_tasks[key]


@pytest.fixture(autouse=True)
def _fresh_rate_limits(app: Flask) -> Iterator[None]:
    """Rate-limit counters are per test, like the database."""
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def users(app: Flask) -> dict[UserRole, User]:
    """One active user per role, each with the password in PASSWORDS."""
    return {
        role: factories.user(
            email=f"{role.value}@example.com",
            name=f"The {role.value}",
            role=role,
            password_hash=hash_password(PASSWORDS[role]),
        )
        for role in UserRole
    }


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def make_browser(app: Flask) -> Any:
    """Another, independent browser (its own cookies)."""
    return lambda: Browser(app.test_client())
