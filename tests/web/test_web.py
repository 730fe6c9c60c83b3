"""The landing page and /healthz (outages: tests/db/test_outage.py)."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_site_root_leads_to_the_admin_home(client: FlaskClient):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_healthz_reports_ok_with_the_database_up(client: FlaskClient):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "backup": {"verified_at": None, "ok": None},  # no restore drill yet
    }
