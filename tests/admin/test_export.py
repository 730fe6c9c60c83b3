"""CSV export: every row of the filtered list, streamed, guarded, and importable again."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import Connection, delete, select, text

from crm.extensions import db
from crm.importing.spreadsheet import csv_safe, needs_guard, unguarded
from crm.models import Customer, Lead, UserRole
from tests import factories
from tests.helpers import Browser
from tests.importing.test_import import selected, submit, upload, upload_id

ADMIN, REP = UserRole.ADMIN, UserRole.USER


def exported(browser: Browser, path: str) -> list[dict[str, str]]:
    response = browser.get(path)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_export_gives_every_row_of_the_filtered_list_not_a_page(browser: Browser, users):
    for n in range(45):
        factories.customer(name=f"Bulk {n}", industry="Retail" if n % 3 else "Finance")
    browser.login_as(users[ADMIN])
    assert len(exported(browser, "/admin/customers/export/csv/?search=Bulk")) == 45
    retail = exported(browser, "/admin/customers/export/csv/?flt0_industry_equals=Retail")
    assert len(retail) == 30 and {row["Industry"] for row in retail} == {"Retail"}


def test_export_keeps_the_lists_order(browser: Browser, users):
    for name in ("Bravo", "Alpha", "Charlie"):
        factories.customer(name=f"Order {name}")
    browser.login_as(users[ADMIN])
    rows = exported(browser, "/admin/customers/export/csv/?search=Order&sort=0")  # by name
    assert [row["Name"] for row in rows] == ["Order Alpha", "Order Bravo", "Order Charlie"]


def test_a_rep_exports_only_their_own_rows_however_many(browser: Browser, users):
    rep = users[REP]
    for n in range(25):
        factories.customer(name=f"Mine {n}", owner_id=rep.id)
        factories.customer(name=f"Theirs {n}", owner_id=users[ADMIN].id)
    browser.login_as(rep)
    names = {row["Name"] for row in exported(browser, "/admin/customers/export/csv/")}
    assert names == {f"Mine {n}" for n in range(25)}


def test_an_export_over_the_limit_says_how_to_get_it_instead(
    app: Flask, browser: Browser, users, monkeypatch
):
    monkeypatch.setitem(app.config, "EXPORT_MAX_ROWS", 10)
    for n in range(11):
        factories.customer(name=f"Many {n}", company=None)
    browser.login_as(users[ADMIN])
    response = browser.get("/admin/customers/export/csv/?search=Many")
    assert response.status_code == 302
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "more than 10 rows" in page
    assert "<code>flask crm export customers --output customers.csv</code>" in page
    assert len(exported(browser, "/admin/customers/export/csv/?search=Many%205")) == 1


CUSTOMER_FIELDS = (
    "name", "company", "email", "phone", "industry", "website", "address", "city", "state",
    "country", "postal_code", "status", "owner_id", "notes",
)  # fmt: skip


def snapshot(rows: list[object], fields: tuple[str, ...]) -> list[tuple[object, ...]]:
    return sorted(tuple(getattr(row, f) for f in fields) for row in rows)


def reimport(browser: Browser, kind: str, content: str) -> None:
    """Import a file with the mapping the import guesses from its header."""
    number = upload_id(upload(browser, kind, content))
    mapping = selected(browser.get(f"/admin/{kind}/import/{number}").get_data(as_text=True))
    response = submit(browser, kind, number, mapping)  # the import job run here
    assert 'id="import-done"' in response.get_data(as_text=True), response.get_data(as_text=True)


def test_customers_exported_import_back_unchanged(browser: Browser, users):
    rep = users[REP]
    made = [
        factories.customer(
            name="Ana Ruiz", company="Ruiz & Co", email="ana@ruiz.example",
            phone="+49 30 1234567", industry="Retail", website="https://ruiz.example",
            address="1 Main St\nFloor 2", city="Berlin", state="BE", country="Germany",
            postal_code="10115", status="prospect", owner_id=rep.id,
            notes='=HYPERLINK("http://evil.example","x")',
        ),
        factories.customer(
            name="@home", company="'quoted", phone="-12.50", status="inactive",
            notes="'=already guarded", owner_id=users[ADMIN].id,
        ),
        factories.customer(name="Plain", company=None, status="active"),  # no owner
    ]  # fmt: skip
    before = snapshot(made, CUSTOMER_FIELDS)
    browser.login_as(users[ADMIN])
    response = browser.get("/admin/customers/export/csv/")
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    by_name = {row["Name"]: row for row in rows}
    assert set(by_name) == {"Ana Ruiz", "'@home", "Plain"}
    assert by_name["Ana Ruiz"]["Phone"] == "+49 30 1234567"  # a phone number as stored
    assert by_name["Ana Ruiz"]["Owner (email)"] == rep.email
    assert by_name["Ana Ruiz"]["Notes"].startswith("'=HYPERLINK")
    assert by_name["'@home"]["Phone"] == "-12.50"
    assert by_name["'@home"]["Notes"] == "''=already guarded"

    db.session.execute(delete(Customer).where(Customer.id.in_([c.id for c in made])))
    reimport(browser, "customers", body)
    again = db.session.scalars(
        select(Customer).where(Customer.name.in_(["Ana Ruiz", "@home", "Plain"]))
    )
    assert snapshot(list(again), CUSTOMER_FIELDS) == before


LEAD_FIELDS = (
    "title", "description", "customer_id", "stage_id", "amount", "currency", "probability",
    "source", "owner_id", "expected_close_date",
)  # fmt: skip


def test_leads_exported_import_back_unchanged(browser: Browser, users):
    from datetime import date

    first = factories.stage(name="Export First", order_index=-1)
    proposal = factories.stage(name="Export Proposal", order_index=50)
    acme = factories.customer(name="Acme Buyer", company="Acme")
    solo = factories.customer(name="Solo Buyer", company=None)
    made = [
        factories.lead(
            title="Big deal", description="+ more, - less", customer_id=acme.id,
            stage_id=proposal.id, amount=Decimal("12500.01"), currency="EUR", probability=40,
            source="Referral", owner_id=users[REP].id, expected_close_date=date(2027, 1, 31),
        ),
        factories.lead(
            title="=1+1", customer_id=solo.id, stage_id=first.id, amount=None, currency="USD",
            owner_id=users[ADMIN].id,
        ),
    ]  # fmt: skip
    before = snapshot(made, LEAD_FIELDS)
    browser.login_as(users[ADMIN])
    body = browser.get("/admin/leads/export/csv/").get_data(as_text=True)
    rows = {row["Title"]: row for row in csv.DictReader(io.StringIO(body))}
    assert set(rows) == {"Big deal", "'=1+1"}
    assert rows["Big deal"]["Customer name"] == "Acme Buyer"
    assert rows["Big deal"]["Customer company"] == "Acme"
    assert rows["Big deal"]["Stage"] == "Export Proposal"
    assert rows["Big deal"]["Amount"] == "12500.01"
    assert rows["Big deal"]["Expected close"] == "2027-01-31"

    db.session.execute(delete(Lead).where(Lead.id.in_([lead.id for lead in made])))
    reimport(browser, "leads", body)
    again = db.session.scalars(select(Lead).where(Lead.title.in_(["Big deal", "=1+1"])))
    assert snapshot(list(again), LEAD_FIELDS) == before


@pytest.mark.parametrize(
    ("path", "column"),
    [
        ("/admin/leads/export/csv/", "Customer name"),
        ("/admin/tasks/export/csv/", "Customer"),
        ("/admin/interactions/export/csv/", "Customer"),
    ],
)
def test_names_from_related_rows_are_guarded_too(browser: Browser, users, path, column):
    evil = factories.customer(name='=HYPERLINK("http://evil.example","Click")', company=None)
    factories.lead(title="Lead of evil", customer_id=evil.id)
    factories.task(title="Task of evil", customer_id=evil.id)
    factories.interaction(subject="Call with evil", customer_id=evil.id)
    browser.login_as(users[ADMIN])
    cells = [row[column] for row in exported(browser, path)]
    assert any(cell.startswith("'=HYPERLINK") for cell in cells), cells
    assert not any(cell.startswith("=") for cell in cells)


def test_the_audit_export_guards_the_users_name(browser: Browser, users, db_connection):
    evil = factories.user(name="@SUM(1+1)*cmd", role=UserRole.ADMIN)
    db_connection.execute(text("SELECT set_config('crm.user_id', :id, true)"), {"id": str(evil.id)})
    factories.customer(name="Audited by evil")
    browser.login_as(users[ADMIN])
    rows = exported(browser, "/admin/audit/export/csv/?flt0_table_equals=customers")
    assert any(row["User"].startswith("'@SUM(1+1)*cmd") for row in rows), rows


@pytest.mark.parametrize(
    ("value", "guarded"),
    [
        ("=1+1", True),
        ("@SUM(A1)", True),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3*cmd", True),
        ("\tx", True),
        ("'=x", True),
        ("'" * 3000 + "=x", True),  # any number of apostrophes, no recursion
        ("+49 30 1234567", False),
        ("-12.50", False),
        ("+1 (555) 010-0199", False),
        ("'hello", False),
        ("plain = text", False),
        ("", False),
    ],
)
def test_the_formula_guard_covers_formulas_and_spares_numbers(value: str, guarded: bool):
    assert needs_guard(value) is guarded
    assert csv_safe(value) == ("'" + value if guarded else value)
    assert unguarded(csv_safe(value)) == value  # what the import reads back


def test_the_cli_writes_every_row_and_never_overwrites(
    app: Flask, users, tmp_path, db_connection: Connection
):
    for n in range(30):
        factories.customer(name=f"Cli {n}")
    db.session.flush()
    target = tmp_path / "customers.csv"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["crm", "export", "customers", "--output", str(target)])
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert {f"Cli {n}" for n in range(30)} <= {row["Name"] for row in rows}
    assert f"Wrote {len(rows):,} rows to {target}." in result.output

    again = runner.invoke(args=["crm", "export", "customers", "--output", str(target)])
    assert again.exit_code == 2 and "already exists" in again.output
    wrong = runner.invoke(args=["crm", "export", "deals", "--output", str(tmp_path / "x.csv")])
    assert wrong.exit_code == 2 and "'deals' is not one of" in wrong.output
    assert not (tmp_path / "x.csv").exists()
