"""No lost updates: a save over a change made since the form was opened is refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from crm.extensions import db
from crm.models import AuditLog, Customer, UserRole
from tests import factories
from tests.helpers import Browser, form_fields

ADMIN, MANAGER = UserRole.ADMIN, UserRole.MANAGER


def opened_version(browser: Browser, url: str) -> str:
    page = browser.get(url).get_data(as_text=True)
    return re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)


def test_second_save_is_refused_with_who_and_when_and_keeps_the_input(
    browser: Browser, make_browser, users
):
    customer = factories.customer(name="Acme", company="Acme Inc", notes="original")
    first, second = browser, make_browser()
    first.login_as(users[ADMIN])
    second.login_as(users[MANAGER])
    url = f"/admin/customers/edit/?id={customer.id}"
    seen_by_first = opened_version(first, url)
    seen_by_second = opened_version(second, url)
    assert seen_by_first == seen_by_second == "1"

    saved = first.post(url, {"name": "Acme", "company": "Acme Inc", "notes": "from the admin",
                             "version": seen_by_first})  # fmt: skip
    assert saved.status_code == 302
    # The audit trigger (migration 0010) recorded that save, with the admin's request as
    # its author: that row is where the refusal below takes its who and when from.
    trail = db.session.execute(
        select(AuditLog.action, AuditLog.user_id)
        .where(AuditLog.table_name == "customers", AuditLog.record_id == customer.id)
        .order_by(AuditLog.id)
    ).all()
    assert [tuple(row) for row in trail] == [("INSERT", None), ("UPDATE", users[ADMIN].id)]

    refused = second.post(url, {"name": "Acme", "company": "Acme Inc", "notes": "from the manager",
                                "version": seen_by_second})  # fmt: skip
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert f"Not saved: {users[ADMIN].name} changed this record at " in page
    assert "from the manager" in page  # their input is still in the form
    db.session.refresh(customer)
    assert customer.notes == "from the admin"

    # Having seen the message, saving again replaces the admin's change on purpose.
    again = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    assert again == "2"
    resaved = second.post(url, {"name": "Acme", "company": "Acme Inc", "notes": "from the manager",
                                "version": again})  # fmt: skip
    assert resaved.status_code == 302
    db.session.refresh(customer)
    assert (customer.notes, customer.version) == ("from the manager", 3)


def test_without_an_audit_row_the_message_still_says_when(browser: Browser, users):
    customer = factories.customer()
    browser.login_as(users[ADMIN])
    db.session.execute(
        text("UPDATE customers SET notes = 'psql' WHERE id = :id"), {"id": customer.id}
    )
    refused = browser.post(
        f"/admin/customers/edit/?id={customer.id}",
        {"name": customer.name, "company": customer.company, "version": "1"},
    )
    assert "Not saved: someone else changed this record at " in refused.get_data(as_text=True)


def test_version_moves_only_on_real_changes(db_connection):
    customer = factories.customer()
    bump = text("UPDATE customers SET notes = :notes WHERE id = :id")
    db_connection.execute(bump, {"notes": "a", "id": customer.id})
    db_connection.execute(bump, {"notes": "a", "id": customer.id})  # no change
    db_connection.execute(bump, {"notes": "b", "id": customer.id})
    version = db_connection.execute(
        text("SELECT version FROM customers WHERE id = :id"), {"id": customer.id}
    ).scalar_one()
    assert version == 3


def test_new_records_start_at_version_one(browser: Browser, users):
    browser.login_as(users[ADMIN])
    assert 'name="version"' not in browser.get("/admin/customers/new/").get_data(as_text=True)
    assert (
        browser.post("/admin/customers/new/", {"name": "Fresh", "company": "F"}).status_code == 302
    )
    fresh = db.session.query(Customer).filter_by(name="Fresh").one()
    assert fresh.version == 1


@pytest.mark.parametrize(
    ("endpoint", "make", "field"),
    [
        ("users", lambda: factories.user(name="Before"), "name"),
        ("customers", lambda: factories.customer(name="Before"), "name"),
        ("lead-stages", lambda: factories.stage(name="Before"), "name"),
        ("leads", lambda: factories.lead(title="Before", stage_id=factories.stage().id), "title"),
        ("tasks", lambda: factories.task(title="Before"), "title"),
        ("interactions", lambda: factories.interaction(subject="Before"), "subject"),
    ],
)
def test_a_save_without_a_version_is_refused_like_a_stale_one(
    browser: Browser, users, endpoint, make, field
):
    """An old tab or a script that sends no version must not overwrite a newer change."""
    row = make()
    browser.login_as(users[ADMIN])
    url = f"/admin/{endpoint}/edit/?id={row.id}"
    data = form_fields(browser.get(url).get_data(as_text=True))
    assert data.pop("version") == "1"
    data.pop("csrf_token", None)
    db.session.execute(
        text(f"UPDATE {row.__tablename__} SET {field} = 'Newer' WHERE id = :id"), {"id": row.id}
    )
    data[field] = "Overwrite"

    refused = browser.post(url, data)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "Not saved: the form did not say which version" in page
    assert 'value="Overwrite"' in page  # what they typed is kept
    db.session.refresh(row)
    assert getattr(row, field) == "Newer"

    # The refusal's form now carries the current version: saving it is a deliberate choice.
    kept = form_fields(page)
    assert kept["version"] == "2"
    kept.pop("csrf_token", None)
    assert browser.post(url, kept).status_code == 302
    db.session.refresh(row)
    assert getattr(row, field) == "Overwrite"
