"""Production serving: gunicorn.conf.py, the structured request log, refusing to start."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import runpy
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from flask import Flask

from config import Config
from crm import PROJECT_ROOT
from crm.models import UserRole
from crm.web import request_log
from tests.helpers import Browser

ROOT = PROJECT_ROOT


def test_workers_follow_the_cpu_count_unless_web_concurrency_says(monkeypatch):
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert settings["preload_app"] is False and settings["accesslog"] is None
    monkeypatch.setattr(Config, "WEB_CONCURRENCY", 3)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"] == 3


@pytest.fixture
def request_lines(caplog: pytest.LogCaptureFixture):
    """The JSON request-log lines written while the test runs."""
    request_log.logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="crm.request")
    yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.request"]
    request_log.logger.removeHandler(caplog.handler)


def test_each_request_logs_one_line_without_its_query_string(
    browser: Browser, users, request_lines
):
    browser.login_as(users[UserRole.MANAGER])
    browser.get("/admin/customers/?search=alice@example.com")
    browser.get("/admin/no-such-page/")
    lines = request_lines()
    listing = [line for line in lines if line["path"] == "/admin/customers/"]
    assert len(listing) == 1
    (line,) = listing
    assert line["method"] == "GET" and line["status"] == 200
    assert line["user_id"] == users[UserRole.MANAGER].id and line["ms"] > 0
    assert "alice" not in json.dumps(lines)  # no query strings, no form fields
    assert {"path": "/admin/no-such-page/", "status": 404}.items() <= lines[-1].items()
    signed_in = [line for line in lines if line["path"] == "/login" and line["method"] == "POST"]
    assert signed_in and signed_in[0]["status"] == 302


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gunicorn(app: Flask, secret_key: str) -> tuple[subprocess.Popen[str], int]:
    """gunicorn with gunicorn.conf.py, in production, on the test database; its port."""
    port = _free_port()
    env = {
        "CRM_ENV": "production",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return server, port


@pytest.mark.own_database
def test_gunicorn_serves_production_and_logs_json_lines(app: Flask):
    server, port = _gunicorn(app, "a-real-secret-for-this-test")
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = json.load(r)
                break
            except OSError:
                time.sleep(0.1)
        assert body["status"] == "ok" and body["database"] == "ok" and "backup" in body
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    logged = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert {"method": "GET", "path": "/healthz", "status": 200, "user_id": None}.items() <= (
        logged[0].items()
    )


@pytest.mark.own_database
def test_gunicorn_refuses_to_start_production_without_its_secrets(app: Flask):
    server, _port = _gunicorn(app, "")
    try:
        _, errors = server.communicate(timeout=60)
    finally:
        server.kill()  # only if it did not exit by itself, as it must
    assert server.returncode != 0
    assert "error: production configuration needs SECRET_KEY set in the environment" in errors


@pytest.mark.parametrize(
    ("host", "debugger"),
    [("127.0.0.1", True), ("localhost", True), ("0.0.0.0", False), ("192.168.1.20", False)],
)
def test_make_run_serves_the_debugger_only_on_loopback(host: str, debugger: bool):
    """Werkzeug's debugger runs any code typed into an error page: never on the network."""
    plan = subprocess.run(
        ["make", "-n", "run", f"HOST={host}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    serve = next(line for line in plan.splitlines() if " run " in line and "flask" in line)
    assert f"--host {host}" in serve
    assert ("--no-debugger" not in serve) is debugger
    assert ("the debugger is off" in plan) is not debugger
