"""In Chromium: an admin creates a customer, a lead for it through the AJAX picker,
edits it, meets the probability rule, and deletes the lead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.own_database


def test_admin_customer_and_lead_round_trip(page: Page, live_server: str):
    base = live_server
    sign_in(page, base, "admin@crm.com", "admin123")

    page.goto(f"{base}/admin/customers/new/")
    page.fill("#name", "Globex Playwright")
    page.fill("#company", "Globex Corporation")
    page.fill("#email", "hank@globex.example")
    page.select_option("#industry", "Manufacturing", force=True)  # select2 hides the select
    page.click("input[type=submit][value=Save]")
    expect(page.locator(".alert-success")).to_contain_text("Record was successfully created.")

    page.goto(f"{base}/admin/leads/new/")
    page.wait_for_load_state("load")
    page.fill("#title", "Globex widgets")
    page.fill("#amount", "125000")
    page.fill("#probability", "40")
    # The customer picker asks the server as you type (never a list of every customer).
    page.click("#s2id_customer a, #customer + .select2 .select2-selection")
    page.keyboard.type("Globex Play")
    option = page.locator(".select2-result-label, .select2-results__option").filter(
        has_text="Globex Playwright"
    )
    option.first.click()
    page.click("input[type=submit][value=Save]")
    expect(page.locator(".alert-success")).to_contain_text("Record was successfully created.")
    expect(page.locator("table.model-list")).to_contain_text("Globex widgets")
    expect(page.locator("table.model-list")).to_contain_text("Globex Playwright")

    row = page.locator("tr", has_text="Globex widgets")
    row.locator("a[title='Edit Record']").click()
    page.wait_for_load_state("load")
    page.fill("#probability", "140")
    page.click("input[type=submit][value=Save]")
    # The browser stops it first (the field carries min and max)...
    assert "100" in page.locator("#probability").evaluate("el => el.validationMessage")
    # ...and past the browser, the server answers beside the field too.
    page.locator("form.admin-form").evaluate("form => form.noValidate = true")
    page.click("input[type=submit][value=Save]")
    field = page.locator(".form-group", has=page.locator("#probability"))
    expect(field).to_contain_text("A percentage from 0 to 100.")
    expect(page.locator("#title")).to_have_value("Globex widgets")
    page.fill("#probability", "75")
    page.click("input[type=submit][value=Save]")
    expect(page.locator(".alert-success")).to_contain_text("Record was successfully saved.")

    page.goto(f"{base}/admin/leads/?search=Globex")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="Globex widgets").locator("button[title='Delete Record']").click()
    expect(page.locator(".alert-success")).to_contain_text("Record was successfully deleted.")
    expect(page.locator("body")).not_to_contain_text(re.compile("Globex widgets"))
