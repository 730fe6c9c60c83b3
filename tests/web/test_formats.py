"""One format for money, dates and times on every page (crm/web/formats.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from flask import Flask

from crm import create_app
from crm.db.server import StartupError
from crm.extensions import db
from crm.models import UserRole
from crm.web import formats
from tests import factories
from tests.helpers import Browser, form_fields


@pytest.mark.parametrize(
    ("locale", "zone", "money", "when"),
    [
        ("en_US", "UTC", "12,500.01\xa0EUR", "2026-11-30 14:05 UTC"),
        ("de_DE", "Europe/Berlin", "12.500,01\xa0EUR", "2026-11-30 15:05 MEZ"),
        ("en_US", "America/New_York", "12,500.01\xa0EUR", "2026-11-30 09:05 EST"),
    ],
)
def test_money_and_times_follow_the_display_settings(
    app: Flask, monkeypatch, locale: str, zone: str, money: str, when: str
):
    monkeypatch.setitem(app.config, "DISPLAY_LOCALE", locale)
    monkeypatch.setitem(app.config, "DISPLAY_TIMEZONE", zone)
    with app.app_context():
        assert formats.money(Decimal("12500.01"), "EUR") == money
        assert formats.when(datetime(2026, 11, 30, 14, 5, 59)) == when  # stored as UTC
        assert formats.day(date(2026, 12, 31)) == "2026-12-31"
        assert formats.money(None, "EUR") == "" and formats.when(None) == ""


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("DISPLAY_TIMEZONE", "Mars/Olympus", "is not a time zone; use a name such as UTC"),
        ("DISPLAY_LOCALE", "xx_YY", "is not a locale; use one such as en_US"),
    ],
)
def test_a_bad_display_setting_stops_the_start_with_one_line(setting, value, message, tmp_path):
    with pytest.raises(StartupError, match=message):
        create_app(overrides={setting: value, "DATABASE_URL": "postgresql://x@127.0.0.1/x"})


def test_lists_details_and_history_use_the_same_formats(browser: Browser, users):
    stage = factories.stage(name="Fmt Stage")
    lead = factories.lead(
        title="Formatted", amount=Decimal("221817.5"), currency="GBP", stage_id=stage.id,
        owner_id=users[UserRole.ADMIN].id, expected_close_date=date(2027, 3, 1),
    )  # fmt: skip
    browser.login_as(users[UserRole.ADMIN])
    listed = browser.get("/admin/leads/?search=Formatted").get_data(as_text=True)
    assert "221,817.50\xa0GBP" in listed
    assert "2027-03-01" in listed
    assert f">{users[UserRole.ADMIN].name}<" in listed  # a person by name in a list
    created = formats.when(lead.created_at)
    assert created.endswith(" UTC") and created in listed
    details = browser.get(f"/admin/leads/details/?id={lead.id}").get_data(as_text=True)
    assert "221,817.50\xa0GBP" in details and created in details
    history = browser.get(f"/admin/audit/history/?table=leads&id={lead.id}").get_data(as_text=True)
    assert created[:13] in history  # the insert's audit row, to the minute, same zone
    board = browser.get("/admin/pipeline/board?currency=GBP").get_data(as_text=True)
    assert "221,818 GBP" in board


def test_a_date_and_time_field_speaks_the_display_zone(
    app: Flask, browser: Browser, users, monkeypatch
):
    """The edit form shows a stored (UTC) time in DISPLAY_TIMEZONE, as the pages do, and
    reads what is typed there back to UTC; saved unchanged, nothing moves."""
    monkeypatch.setitem(app.config, "DISPLAY_TIMEZONE", "Europe/Berlin")
    task = factories.task(title="Zoned", due_date=datetime(2026, 12, 1, 9, 0, 0, 123456))
    browser.login_as(users[UserRole.ADMIN])
    url = f"/admin/tasks/edit/?id={task.id}"
    form = form_fields(browser.get(url).get_data(as_text=True))
    assert form["due_date"] == "2026-12-01T10:00:00"  # 09:00 UTC is 10:00 in Berlin
    form.pop("csrf_token", None)
    assert browser.post(url, form).status_code == 302
    db.session.refresh(task)
    assert task.due_date == datetime(2026, 12, 1, 9, 0, 0, 123456)  # untouched, to the µs
    form["due_date"] = "2026-12-01T15:30"
    form["version"] = str(task.version)
    assert browser.post(url, form).status_code == 302
    db.session.refresh(task)
    assert task.due_date == datetime(2026, 12, 1, 14, 30)  # typed in Berlin, stored in UTC
