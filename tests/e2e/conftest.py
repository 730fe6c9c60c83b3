"""End-to-end tests: a real server on its own database, driven by Chromium (Playwright).

Playwright uses the system Chromium (/usr/bin/chromium); it never downloads one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy.engine import URL
from werkzeug.serving import make_server

from tests.helpers import app_on_new_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def live_app(server_url: URL) -> Iterator[Flask]:
    """The app on a migrated, seeded database of its own (real commits)."""
    with app_on_new_database(server_url, "e2e") as app:
        with app.app_context():
            assert app.test_cli_runner().invoke(args=["crm", "seed"]).exit_code == 0
        yield app


def buffered(app: Any) -> Any:
    """The app with each response read whole and closed before it is sent.

    Werkzeug's development server does not close a response (an open static
    file) when the browser drops the connection mid-download, as Chromium does
    when a test moves on; the open file is then reported at garbage collection.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            if hasattr(iterable, "close"):
                iterable.close()

    return wsgi


@pytest.fixture(scope="module")
def live_server(live_app: Flask) -> Iterator[str]:
    """The app served on a free localhost port; its base URL."""
    server = make_server("127.0.0.1", 0, buffered(live_app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()  # else its socket is reported, unclosed, whenever GC runs
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def job_worker(live_app: Flask) -> Iterator[None]:
    """A background worker for the live app: it runs whatever is queued, every 0.3 s."""
    from crm.jobs import worker

    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            worker.run(live_app, wait=False)
            stop.wait(0.3)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; page errors fail the test."""
    context = chromium.new_context()
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.expected_console = []  # type: ignore[attr-defined]  # tests may expect some
    yield page
    context.close()
    unexpected = [p for p in problems if not any(e in p for e in page.expected_console)]
    assert unexpected == []


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """Sign in through the form; the dashboard shows."""
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/admin/")
