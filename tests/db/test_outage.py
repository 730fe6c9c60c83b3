"""PostgreSQL going away and coming back: 503s with Retry-After, one log line, no restart.

The app reaches its database through a proxy (tests/db_proxy.py) that the test
cuts and restores; the real server keeps serving every other test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from config import ProductionConfig, TestingConfig
from crm import create_app
from crm.db import outage
from crm.db.server import DatabaseSetupError
from crm.extensions import db
from crm.models import Customer, UserRole
from crm.security.passwords import hash_password
from tests import factories
from tests.db_proxy import DatabaseProxy
from tests.helpers import PASSWORDS, Browser, FreshContextClient, app_on_new_database

pytestmark = pytest.mark.own_database


@pytest.fixture
def proxy(server_url) -> Iterator[DatabaseProxy]:
    """A migrated database of its own with an admin and a customer, behind a proxy."""
    with app_on_new_database(server_url, "outage") as direct:
        with direct.app_context():
            factories.user(
                email="admin@example.com",
                role=UserRole.ADMIN,
                password_hash=hash_password(PASSWORDS[UserRole.ADMIN]),
            )
            factories.customer(name="Acme", company="Acme Inc", notes="before")
            db.session.commit()
        proxy = DatabaseProxy(make_url(direct.config["SQLALCHEMY_DATABASE_URI"]))
        proxy.start()
        yield proxy
        proxy.cut()


@pytest.fixture
def proxied_app(proxy: DatabaseProxy) -> Iterator[Callable[..., Flask]]:
    """Apps whose database is behind the proxy (their connections closed afterwards)."""
    made: list[Flask] = []

    def make(config: type = TestingConfig, **settings: object) -> Flask:
        url = proxy.app_url().render_as_string(hide_password=False)
        app = create_app(config, {"SQLALCHEMY_DATABASE_URI": url, **settings})
        app.test_client_class = FreshContextClient
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_pages_answer_503_while_the_database_is_away_and_work_again_when_it_is_back(
    proxy: DatabaseProxy, proxied_app, caplog: pytest.LogCaptureFixture
):
    app = proxied_app()
    browser = Browser(app.test_client())
    browser.login("admin@example.com", PASSWORDS[UserRole.ADMIN])
    with app.app_context():
        customer = db.session.scalar(db.select(Customer))
    edit = f"/admin/customers/edit/?id={customer.id}"
    token = browser.token()
    assert browser.get("/admin/customers/").status_code == 200
    caplog.set_level(logging.INFO, logger="crm.database")

    proxy.cut()
    page = browser.get("/admin/customers/")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    body = page.get_data(as_text=True)
    assert "The database is unavailable; retrying" in body
    assert '<meta http-equiv="refresh" content="5">' in body
    assert "psycopg" not in body and "SELECT" not in body
    health = browser.get("/healthz")
    assert health.status_code == 503
    assert health.headers["Retry-After"] == "5"
    assert health.get_json() == {
        "status": "unavailable",
        "database": "unreachable",
        "reason": "connection refused",  # pre-ping found the pooled one dead, then this
    }
    time.sleep(outage.PROBE_SECONDS)
    saved = browser.client.post(edit, data={"name": "Acme", "notes": "during", "csrf_token": token})
    assert saved.status_code == 503
    assert "Your change was not saved" in saved.get_data(as_text=True)

    said = [r for r in caplog.records if r.name == "crm.database"]
    assert [r.getMessage() for r in said] == [
        "database unavailable (connection refused): pages answer 503 until it is back"
    ]
    assert not any(r.exc_info for r in caplog.records)  # no traceback, however many requests

    proxy.start()
    time.sleep(outage.PROBE_SECONDS)  # the next probe is due
    assert browser.get("/healthz").status_code == 200
    assert browser.get("/admin/customers/").status_code == 200  # still signed in
    back = [r.getMessage() for r in caplog.records if r.name == "crm.database"][1:]
    assert len(back) == 1 and back[0].startswith("database available again after ")
    with app.app_context():
        assert db.session.get(Customer, customer.id).notes == "before"  # nothing half-saved


def test_while_down_each_worker_tries_the_database_once_per_probe_interval(
    proxy: DatabaseProxy, proxied_app
):
    app = proxied_app()
    client = app.test_client()
    attempts = []
    with app.app_context():
        event.listen(db.engine, "do_connect", lambda *args: attempts.append(1))
    assert client.get("/healthz").status_code == 200
    proxy.cut()
    before = len(attempts)
    statuses = {client.get("/healthz").status_code for _ in range(20)}
    assert statuses == {503}
    # The first request found the pooled connection dead and tried once to reconnect;
    # the other 19, inside the probe interval, were answered without trying.
    assert len(attempts) - before == 1


def test_production_starts_without_its_database_and_serves_once_it_answers(
    proxy: DatabaseProxy, proxied_app
):
    proxy.cut()
    app = proxied_app(ProductionConfig, SECRET_KEY="test", DATABASE_URL="set", TESTING=True)
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["reason"] == "connection refused"
    proxy.start()
    time.sleep(outage.PROBE_SECONDS)
    assert client.get("/healthz").status_code == 200


def test_development_still_refuses_to_start_without_its_database(proxy: DatabaseProxy, proxied_app):
    proxy.cut()
    with pytest.raises(DatabaseSetupError, match="cannot connect to PostgreSQL"):
        proxied_app()


def test_a_statement_the_server_cancels_is_a_503_but_not_an_outage(
    proxy: DatabaseProxy, proxied_app, caplog: pytest.LogCaptureFixture
):
    app = proxied_app()

    @app.get("/slow")
    def slow() -> str:
        db.session.execute(text("SET LOCAL statement_timeout = '10ms'"))
        db.session.execute(text("SELECT pg_sleep(1)"))
        return "never"

    hooks = app.before_request_funcs[None]
    hooks[:] = [hook for hook in hooks if hook.__name__ != "require_sign_in"]  # a probe page
    response = app.test_client().get("/slow")
    assert response.status_code == 503
    assert app.extensions["crm.outage"].down_since is None
    assert "database could not answer (QueryCanceled)" in caplog.text


def test_a_connection_lost_after_the_page_was_built_still_serves_the_page(
    proxy: DatabaseProxy, proxied_app
):
    """The end-of-request rollback needs the connection; a restart may have taken it."""
    app = proxied_app()

    @app.get("/then-restart")
    def then_restart() -> str:
        value = db.session.execute(text("SELECT 41 + 1")).scalar()
        proxy.cut()  # the server goes away after the last query, before the cleanup
        return str(value)

    hooks = app.before_request_funcs[None]
    hooks[:] = [hook for hook in hooks if hook.__name__ != "require_sign_in"]  # a probe page
    app.config["PROPAGATE_EXCEPTIONS"] = True  # a teardown error would fail the test
    response = app.test_client().get("/then-restart")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "42"
    proxy.start()
    time.sleep(outage.PROBE_SECONDS)
    assert app.test_client().get("/healthz").status_code == 200
