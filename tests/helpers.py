"""What tests share besides fixtures: a signed-in browser, form and SQL helpers, scratch apps."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import flask_migrate
import pyotp
import pytest
from flask import Flask, current_app, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import Connection, event, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from werkzeug.test import TestResponse

from config import TestingConfig
from crm import create_app
from crm.db import server as dbsetup
from crm.extensions import db
from crm.models import User, UserRole

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


PASSWORDS = {role: f"{role.value}-password" for role in UserRole}


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
            page = self.client.get("/logout")
            if page.status_code != 200:  # not signed in (yet): the sign-in page has one too
                page = self.client.get("/login")
            self._token = csrf_token_from(page.get_data(as_text=True))
        return self._token

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, **kwargs)

    def post(
        self, url: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any
    ) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.token()
        response = self.client.post(url, data=data, **kwargs)
        if url.startswith("/login"):  # a sign-in starts a fresh session, with a new token
            self._token = None
        return response


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


@contextmanager
def role_before_migration(revision: str, name: str, *grants: str) -> Iterator[str]:
    """A role with ``grants`` ("GRANT … TO {role}") on the app's database at ``revision``.

    For a migration that must pass grants on (the app's role): upgrade from here and
    check. Afterwards the database goes back to base, which drops what the role was
    granted, and the role goes. Inside the app's context.
    """
    role = f"{name}_{os.getpid()}"
    flask_migrate.upgrade(revision=revision)
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(text(f"CREATE ROLE {role}"))
        for grant in grants:
            conn.execute(text(grant.format(role=role)))
    try:
        yield role
    finally:
        flask_migrate.downgrade(revision="base")
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))


class Clock:
    """The time the app's code check sees; each new code moves it on one step (30 s)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def code(self, secret: str) -> str:
        """The code of the next step (so never one already used), now current."""
        self.now += 30
        return pyotp.TOTP(secret).at(self.now)


def run_job_here(job_id: int) -> None:
    """Run a queued job inside this test's transaction, as a worker would: its body
    (crm/jobs/tasks.py's ``perform``, the worker's own code), then the status the queue
    gives it. For tests of what a job does; tests/jobs/ run real workers."""
    from crm.jobs import tasks
    from crm.models import procrastinate_jobs

    row = db.session.execute(
        select(procrastinate_jobs.c.task_name, procrastinate_jobs.c.args).where(
            procrastinate_jobs.c.id == job_id
        )
    ).one()
    status = "succeeded"
    try:
        tasks.perform(current_app._get_current_object(), job_id, row.task_name, row.args)
    except Exception:
        status = "failed"
    db.session.execute(
        text("UPDATE procrastinate_jobs SET status = :s, attempts = attempts + 1 WHERE id = :id"),
        {"s": status, "id": job_id},
    )
    db.session.expire_all()


def journey(conn: Connection, lead: int, steps: list[tuple[int, datetime]]) -> None:
    """Give ``lead`` the history ``steps`` (stage, when), and the path it leads to.

    Written as is: the caller turns the leads' triggers off, then rebuilds the aggregates.
    """
    conn.execute(text("DELETE FROM lead_stage_history WHERE lead_id = :id"), {"id": lead})
    before = None
    for stage, when in steps:
        conn.execute(
            text(
                "INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at) "
                "VALUES (:id, :before, :stage, :when)"
            ),
            {"id": lead, "before": before, "stage": stage, "when": when},
        )
        before = stage
    moved = len(steps) > 1
    conn.execute(
        text(
            "UPDATE leads SET stage_id = :stage, stages_passed = :passed, "
            "previous_stage_id = :previous, stage_entered_at = :entered WHERE id = :id"
        ),
        {
            "id": lead,
            "stage": steps[-1][0],
            "passed": sorted({stage for stage, _ in steps[:-1]}),
            "previous": steps[-2][0] if moved else None,
            "entered": steps[-1][1] if moved else None,
        },
    )
