"""Ids no row can have (too large for an integer column, not ASCII digits) answer 404, not 500."""

from __future__ import annotations

import pytest

from crm.models import UserRole
from crm.web.ids import MAX_ID, row_id
from tests.helpers import Browser

HUGE = "99999999999"
NOT_ASCII = "²"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("42", 42), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), (HUGE, None),
     (NOT_ASCII, None), ("", None), ("-1", None), ("1e3", None)],
)  # fmt: skip
def test_row_id_accepts_only_what_an_integer_column_holds(value, expected):
    assert row_id(value) == expected


@pytest.mark.parametrize("bad", [HUGE, NOT_ASCII])
@pytest.mark.parametrize(
    "url",
    [
        "/admin/customers/details/?id={bad}",
        "/admin/leads/edit/?id={bad}",
        "/admin/audit/history/?table=customers&id={bad}",
        "/admin/customers/import/{bad}",
        "/admin/leads/import/{bad}/problems.csv",
    ],
)
def test_pages_answer_404_for_an_id_no_row_can_have(browser: Browser, users, url, bad):
    browser.login_as(users[UserRole.ADMIN])
    assert browser.get(url.format(bad=bad)).status_code == 404


@pytest.mark.parametrize("bad", [HUGE, NOT_ASCII])
def test_posts_answer_404_for_an_id_no_row_can_have(browser: Browser, users, bad):
    browser.login_as(users[UserRole.ADMIN])
    assert browser.post("/admin/pipeline/move", {"lead": bad, "stage": "1"}).status_code == 404
    bulk = {"action": "delete", "rowid": bad, "url": "/admin/customers/"}
    assert browser.post("/admin/customers/action/", bulk).status_code == 404
    assert browser.post("/admin/audit/revert/", {"id": bad}).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/admin/audit/?flt1_record_id_equals={bad}",
        "/admin/audit/?flt0_user_equals={bad}",
        "/admin/leads/?flt0_customer_id_equals={bad}",
        "/admin/tasks/?flt0_lead_id_equals={bad}",
        "/admin/leads/?flt0_stage_equals={bad}",
    ],
)
def test_id_filters_call_an_impossible_id_invalid(browser: Browser, users, url):
    browser.login_as(users[UserRole.ADMIN])
    response = browser.get(url.format(bad=HUGE))
    assert response.status_code == 200
    assert "Invalid Filter Value" in response.get_data(as_text=True)
