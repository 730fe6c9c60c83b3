"""In Chromium: type into the navbar's search box, see grouped, highlighted results,
and click through to the record."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.own_database


def test_navbar_search_to_the_record(page: Page, live_server: str):
    base = live_server
    page.goto(f"{base}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "manager123")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/admin/")

    page.fill("#navbar-q", "acm")  # a word still being typed: matched as a prefix
    page.press("#navbar-q", "Enter")
    expect(page).to_have_url(re.compile(r"/admin/search/\?q=acm$"))
    customers = page.locator("#results-customers")
    expect(page.locator("#search-counts")).to_contain_text("Customers")
    expect(customers.locator("mark").first).to_have_text(re.compile("acme", re.I))
    expect(page.locator("#results-leads")).to_contain_text("No leads match.")
    page.screenshot(path="/tmp/search.png", full_page=True)

    customers.get_by_role("link", name=re.compile("Acme Corp")).click()
    expect(page).to_have_url(re.compile(r"/admin/customers/details/\?id=\d+"))
    expect(page.locator("table.searchable")).to_contain_text("contact@acme.com")
