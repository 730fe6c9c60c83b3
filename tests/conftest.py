"""Test harness: one private database per run, one rolled-back transaction per test.

The server is the embedded PostgreSQL, or the one DATABASE_URL names (CI runs the
suite once each way). Each run creates ``crm_test_<pid>`` on it, migrates it with
the real migrations, and drops it at the end.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask_migrate
import psycopg
import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from werkzeug.test import TestResponse

from config import TestingConfig
from crm import PROJECT_ROOT, create_app
from crm.db import server as dbsetup
from crm.extensions import db
from crm.models import User, UserRole
from crm.security.passwords import hash_password
from crm.security.protections import limiter
from tests import factories

TEST_DB_PREFIX = "crm_test_"


class FreshContextClient(FlaskClient):
    """Each request runs in its own app context, as in production.

    Tests keep an app context open for their own queries; without this, requests
    would share it (and its ``g``: the signed-in user, the CSRF token, the CSP
    nonce). The test's own session is expired afterwards, so it reads fresh rows.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context() and db.session.registry.has():
            db.session.expire_all()
        return response


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


def scratch_database_name(suffix: str = "") -> str:
    """A database name owned by this test run (dropped if the run dies)."""
    return f"{TEST_DB_PREFIX}{os.getpid()}{'_' + suffix if suffix else ''}"


@contextmanager
def app_on_new_database(server_url: URL, suffix: str = "", migrate: bool = True) -> Iterator[Flask]:
    """An app on a database of its own, created empty (and migrated), dropped afterwards."""
    name = scratch_database_name(suffix)
    dbsetup.drop_database(server_url, name)
    url = dbsetup.ensure_database(server_url, name)
    application = create_app(
        TestingConfig, {"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False)}
    )
    application.test_client_class = FreshContextClient
    if migrate:
        with application.app_context():
            flask_migrate.upgrade()
    try:
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        dbsetup.drop_database(server_url, name)


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

PASSWORDS = {role: f"{role.value}-password" for role in UserRole}


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


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_fields(page: str) -> dict[str, str]:
    """What a browser would post back from an edit page (inputs, selects, textareas)."""
    data = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page):
        data[name] = value
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"', body) or re.search(
            r'<option[^>]*value="([^"]*)"[^>]*selected', body
        )
        data[name] = chosen.group(1) if chosen else ""
    return data


class Browser:
    """A test client that signs in like a person and sends CSRF tokens like a browser."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self._token: str | None = None

    def login(self, email: str, password: str, next_path: str = "") -> TestResponse:
        page = self.client.get("/login" + (f"?next={next_path}" if next_path else ""))
        token = csrf_token_from(page.get_data(as_text=True))
        data = {"email": email, "password": password, "csrf_token": token, "next": next_path}
        response = self.client.post("/login", data=data)
        self._token = None
        return response

    def login_as(self, user: User) -> TestResponse:
        response = self.login(user.email, PASSWORDS[user.effective_role])
        assert response.status_code == 302, response.get_data(as_text=True)
        return response

    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token_from(self.client.get("/logout").get_data(as_text=True))
        return self._token

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, **kwargs)

    def post(
        self, url: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any
    ) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token()
        return self.client.post(url, data=data, **kwargs)


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def make_browser(app: Flask) -> Any:
    """Another, independent browser (its own cookies)."""
    return lambda: Browser(app.test_client())


@contextmanager
def statements(conn: Connection) -> Iterator[list[tuple[str, object]]]:
    """Collect the SQL the app sends on the test's connection (statement, parameters)."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(conn, "before_cursor_execute", record)


def refused(conn: Connection, sql: str, parameters: dict[str, Any] | None = None) -> str:
    """Run ``sql`` in a savepoint, expecting the database to refuse it; the message."""
    savepoint = conn.begin_nested()
    with pytest.raises(DBAPIError) as caught:
        conn.execute(text(sql), parameters or {})
    savepoint.rollback()
    return str(caught.value.orig)
