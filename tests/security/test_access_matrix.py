"""DESIGN.md's role matrix, endpoint by endpoint, role by role, method by method.

The expected table is written out here by hand from DESIGN.md (not derived from
crm.policy), so a change to the policy that breaks the design fails this test.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from werkzeug.test import TestResponse

from crm.extensions import db
from crm.models import ExchangeRate, User, UserRole
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT
METHODS = ("list", "details", "new", "create", "edit", "delete", "bulk", "export")
ALL = frozenset(METHODS)
READ = frozenset({"list", "details"})
READ_EXPORT = READ | {"export"}
NO_DELETE = ALL - {"delete", "bulk"}

EXPECTED: dict[str, dict[UserRole, frozenset[str]]] = {
    "customers": {ADMIN: ALL, MANAGER: ALL, REP: NO_DELETE, SUPPORT: READ},
    "leads": {ADMIN: ALL, MANAGER: ALL, REP: NO_DELETE, SUPPORT: READ},
    "tasks": {ADMIN: ALL, MANAGER: ALL, REP: ALL, SUPPORT: READ},
    "interactions": {ADMIN: ALL, MANAGER: ALL, REP: ALL, SUPPORT: READ},
    "lead-stages": {ADMIN: ALL, MANAGER: READ_EXPORT, REP: READ_EXPORT, SUPPORT: READ},
    # users are deactivated, never deleted
    "users": {ADMIN: NO_DELETE, MANAGER: READ_EXPORT, REP: frozenset(), SUPPORT: READ},
    # nobody edits history; support reads it but exports nothing (revert: test_audit_browser)
    "audit": {ADMIN: READ_EXPORT, MANAGER: READ_EXPORT, REP: frozenset(), SUPPORT: READ},
    # admins keep the rates; reps see the ones the pipeline used on the pipeline page
    "exchange-rates": {ADMIN: ALL, MANAGER: READ_EXPORT, REP: frozenset(), SUPPORT: READ},
}


def a_row(endpoint: str, actor: User) -> int:
    """A row of the endpoint's table that the actor's row rules let them read."""
    if endpoint == "customers":
        return factories.customer(owner_id=actor.id).id
    if endpoint == "leads":
        return factories.lead(owner_id=actor.id).id
    if endpoint == "tasks":
        return factories.task(user_id=actor.id).id
    if endpoint == "interactions":
        return factories.interaction(user_id=actor.id, subject="A call").id
    if endpoint == "lead-stages":
        return factories.stage().id
    if endpoint == "users":
        return factories.user().id
    if endpoint == "exchange-rates":
        rate = ExchangeRate(currency="QQZ", rate=Decimal("1.5"), valid_from=date(2026, 1, 1))
        db.session.add(rate)
        db.session.flush()
        return rate.id
    return db.session.execute(
        text(
            "INSERT INTO audit_logs (table_name, record_id, action) "
            "VALUES ('customers', 1, 'UPDATE') RETURNING id"
        )
    ).scalar_one()


# Each endpoint's table, and the column that names its rows (audit rows: their table).
TABLES = {
    "customers": ("customers", "name"),
    "leads": ("leads", "title"),
    "tasks": ("tasks", "title"),
    "interactions": ("interactions", "subject"),
    "lead-stages": ("lead_stages", "name"),
    "users": ("users", "name"),
    "audit": ("audit_logs", "table_name"),
    "exchange-rates": ("exchange_rates", "currency"),
}
REFUSED = "Your role cannot open this page"


def label(n: int, endpoint: str = "") -> str:
    """The name form_data(endpoint, n) gives a row: no factory names a row like this."""
    return f"QQ{'AB'[n - 1]}" if endpoint == "exchange-rates" else f"Matrix row {n}"


def form_data(endpoint: str, n: int) -> dict[str, Any]:
    """Valid form input for a new or edited row, named label(n)."""
    return {
        "customers": {"name": label(n), "company": "Matrix Ltd", "status": "active"},
        "leads": {"title": label(n), "currency": "USD", "stage": factories.stage().id},
        "tasks": {"title": label(n), "priority": "medium", "status": "pending"},
        "interactions": {"type": "call", "subject": label(n)},
        "lead-stages": {"name": label(n), "order_index": "9", "is_active": "y"},
        "users": {
            "name": label(n),
            "email": f"person{n}@example.com",
            "role": "user",
            "is_active": "y",
            "new_password": "a long password",
            "confirm_password": "a long password",
        },
        "audit": {},
        "exchange-rates": {
            "currency": label(n, endpoint),
            "rate": "1.25",
            "valid_from": f"2026-0{n}-01",
        },
    }[endpoint]


def version(endpoint: str, row_id: int) -> str:
    """The row's version, as its edit form carries it."""
    table = endpoint.replace("-", "_")
    if endpoint == "audit":
        return ""
    return str(
        db.session.execute(text(f"SELECT version FROM {table} WHERE id = {row_id}")).scalar()
    )


def row_name(endpoint: str, row_id: int) -> str | None:
    """The row's name as the database has it now; None once the row is gone."""
    table, column = TABLES[endpoint]
    found = db.session.execute(
        text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}
    ).one_or_none()
    return None if found is None else found[0]


def rows_named(endpoint: str, name: str) -> int:
    table, column = TABLES[endpoint]
    return db.session.execute(
        text(f"SELECT count(*) FROM {table} WHERE {column} = :name"), {"name": name}
    ).scalar_one()


def request(browser: Browser, endpoint: str, method: str, row_id: int) -> TestResponse:
    base = f"/admin/{endpoint}/"
    calls = {
        "list": lambda: browser.get(base),
        "details": lambda: browser.get(f"{base}details/?id={row_id}"),
        "new": lambda: browser.get(f"{base}new/"),
        "create": lambda: browser.post(f"{base}new/", form_data(endpoint, 1)),
        "edit": lambda: browser.post(
            f"{base}edit/?id={row_id}",
            {**form_data(endpoint, 2), "version": version(endpoint, row_id)},
        ),
        "delete": lambda: browser.post(f"{base}delete/", {"id": row_id}),
        "bulk": lambda: browser.post(
            f"{base}action/", {"action": "delete", "rowid": row_id, "confirmed": "yes"}
        ),
        "export": lambda: browser.get(f"{base}export/csv/"),
    }
    return calls[method]()


CASES = [
    (endpoint, role, method)
    for endpoint in EXPECTED
    for role in (ADMIN, MANAGER, REP, SUPPORT)
    for method in METHODS
]


@pytest.mark.parametrize(("endpoint", "role", "method"), CASES, ids=lambda v: str(v))
def test_role_matrix(browser: Browser, users, endpoint: str, role: UserRole, method: str):
    """Allowed: the page, or the change made in the database. Refused: a 403 that says
    so, and the database as it was."""
    actor = users[role]
    row_id = a_row(endpoint, actor)
    before = row_name(endpoint, row_id)
    browser.login_as(actor)
    response = request(browser, endpoint, method, row_id)
    body = response.get_data(as_text=True)
    if method not in EXPECTED[endpoint][role]:
        assert response.status_code == 403, body
        assert REFUSED in body
        assert row_name(endpoint, row_id) == before  # not deleted, not edited
        assert rows_named(endpoint, label(1, endpoint)) == 0  # not created
    elif method == "new":
        assert response.status_code == 200, body
        assert f'name="{TABLES[endpoint][1]}"' in body  # the form
    elif method in ("list", "details", "export"):
        assert response.status_code == 200, body
        assert before in body  # the row, as the actor may read it
    else:
        assert response.status_code == 302, body  # saved or deleted, then redirected
        if method == "create":
            assert rows_named(endpoint, label(1, endpoint)) == 1
            assert row_name(endpoint, row_id) == before
        elif method == "edit":
            assert row_name(endpoint, row_id) == label(2, endpoint)
        else:  # delete, bulk
            assert row_name(endpoint, row_id) is None


@pytest.mark.parametrize("endpoint", list(EXPECTED))
def test_signed_out_requests_go_to_login(browser: Browser, endpoint: str):
    for url in (f"/admin/{endpoint}/", f"/admin/{endpoint}/details/?id=1"):
        response = browser.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    assert browser.client.post(f"/admin/{endpoint}/delete/", data={"id": 1}).status_code in (
        302,
        400,
    )


EVERY_VIEW = {
    "customers", "leads", "tasks", "interactions", "lead-stages", "users", "audit",
    "exchange-rates",
}  # fmt: skip


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        # Jobs, everyone's tokens and webhooks: admins only.
        (ADMIN, EVERY_VIEW | {"jobs", "api-tokens", "webhooks", "webhook-deliveries"}),
        (MANAGER, EVERY_VIEW),
        (REP, {"customers", "leads", "tasks", "interactions", "lead-stages"}),
        (SUPPORT, EVERY_VIEW),
    ],
)
def test_menu_shows_what_the_role_may_open(browser: Browser, users, role, visible):
    browser.login_as(users[role])
    page = browser.get("/admin/").get_data(as_text=True)
    navbar = page[page.index("<nav") : page.index("</nav>")]
    shown = set(re.findall(r'class="dropdown-item " href="/admin/([a-z-]+)/"', navbar))
    assert shown == visible
