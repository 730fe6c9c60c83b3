"""In Chromium: an admin edits a customer; support opens its history and sees the diff."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.own_database


def test_support_sees_the_admins_edit_in_the_customers_history(page: Page, live_server: str):
    base = live_server
    sign_in(page, base, "admin@crm.com", "admin123")
    page.goto(f"{base}/admin/customers/?search=Acme")
    page.locator("tr", has_text="Acme Corp").locator("a[title='Edit Record']").click()
    page.wait_for_load_state("load")
    page.fill("#phone", "+1 555 0100 <ext 7>")
    page.click("input[type=submit][value=Save]")
    expect(page.locator(".alert-success")).to_contain_text("Record was successfully saved.")
    page.goto(f"{base}/logout")
    page.click("button[type=submit]")

    sign_in(page, base, "support@crm.com", "support123")
    page.goto(f"{base}/admin/customers/?search=Acme")
    page.locator("tr", has_text="Acme Corp").locator("a[title='View Record']").click()
    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(r"/admin/audit/history/\?table=customers&id=\d+"))
    latest = page.locator(".audit-entry").first
    expect(latest).to_contain_text("UPDATE")
    expect(latest).to_contain_text("by System Administrator")
    expect(latest.locator("td.audit-new")).to_have_text("+1 555 0100 <ext 7>")  # escaped, shown
    expect(latest.locator("th", has_text="phone")).to_be_visible()
    expect(page.locator("button", has_text="Revert")).to_have_count(0)  # support only reads
    page.screenshot(path="/tmp/audit-history.png", full_page=True)
