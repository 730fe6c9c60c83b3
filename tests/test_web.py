"""The landing page, /healthz, and pages when PostgreSQL stops answering."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from crm import database
from crm.extensions import db
from tests.conftest import scratch_database_name


def test_site_root_leads_to_the_admin_home(client: FlaskClient):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_healthz_reports_ok_with_the_database_up(client: FlaskClient):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.mark.own_database
def test_healthz_is_503_and_pages_explain_when_the_database_goes_away(
    scratch_app: Flask, server_url
):
    @scratch_app.get("/needs-db")
    def needs_db() -> str:
        return str(db.session.execute(text("SELECT 1")).scalar())

    scratch_app.before_request_funcs[None].clear()  # this probe page needs no sign-in

    client = scratch_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/needs-db").get_data(as_text=True) == "1"

    database.drop_database(server_url, scratch_database_name("scratch"))

    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"status": "unavailable", "database": "unreachable"}
    page = client.get("/needs-db")
    assert page.status_code == 503
    assert "The database is not answering" in page.get_data(as_text=True)
