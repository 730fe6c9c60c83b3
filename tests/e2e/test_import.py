"""In Chromium: a manager imports leads from a CSV file, fixes the file after the
problem report, and sees the leads in the list."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.own_database

SCREENSHOTS = Path(__file__).resolve().parent.parent.parent / "instance" / "screenshots"

BAD = (
    "Deal,Customer,Company,Stage,Amount,Close date\n"
    "Browser deal one,Acme Corp,Acme Corporation,Proposal,2500,2027-01-31\n"
    "Browser deal two,Nobody,Nowhere,Nonsense,-5,31/01/2027\n"
)
GOOD = (
    "Deal,Customer,Company,Stage,Amount,Close date\n"
    "Browser deal one,Acme Corp,Acme Corporation,Proposal,2500,2027-01-31\n"
    "Browser deal two,Tech Solutions,Tech Solutions Inc,qualified,4000,2027-02-28\n"
)


def upload(page: Page, base: str, tmp_path: Path, content: str) -> None:
    page.goto(f"{base}/admin/leads/")
    page.click("#import-csv")
    expect(page.locator("#import-fields")).to_contain_text("Customer company")
    file = tmp_path / "deals.csv"
    file.write_text(content)
    page.screenshot(path=str(SCREENSHOTS / "import-upload.png"), full_page=True)
    page.set_input_files("#import-file", str(file))
    page.click("#import-upload-button")
    expect(page.locator("#import-preview")).to_contain_text("Browser deal one")


@pytest.mark.usefixtures("job_worker")
def test_a_manager_imports_leads_after_fixing_the_file(page: Page, live_server: str, tmp_path):
    base = live_server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, base, "manager@crm.com", "manager123")

    upload(page, base, tmp_path, BAD)
    # The headers were recognised: "Deal" -> Title, "Close date" -> Expected close.
    expect(page.locator("select[name=column-0]")).to_have_value("title")
    expect(page.locator("select[name=column-5]")).to_have_value("expected_close_date")
    page.click("#import-button")
    # The import runs on the worker; its page follows it, then shows the problems.
    expect(page.locator("#import-problems-summary")).to_contain_text("Nothing was imported")
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("No customer 'Nobody' at 'Nowhere'.")
    expect(problems).to_contain_text("No stage 'Nonsense'")
    expect(problems).to_contain_text("The amount must be more than zero")
    expect(problems).to_contain_text("'31/01/2027' is not a date")
    page.screenshot(path=str(SCREENSHOTS / "import-problems.png"), full_page=True)

    upload(page, base, tmp_path, GOOD)
    page.screenshot(path=str(SCREENSHOTS / "import-mapping.png"), full_page=True)
    # While the server works, the button says what it is doing and cannot be sent twice
    # (a submit event without sending the form, to look at that moment).
    page.evaluate(
        "document.querySelector('form[data-import-form]').dispatchEvent(new Event('submit'))"
    )
    expect(page.locator("#import-button")).to_be_disabled()
    expect(page.locator("#import-button")).to_have_text("Starting…")
    expect(page.locator("[data-import-status]")).to_be_visible()
    page.evaluate("document.querySelector('#import-button').disabled = false")
    page.click("#import-button")
    expect(page.locator("#import-done")).to_contain_text("2 added, 0 updated")
    page.screenshot(path=str(SCREENSHOTS / "import-done.png"), full_page=True)
    page.get_by_role("link", name="Open the list").click()
    expect(page.locator("table.model-list")).to_contain_text("Browser deal two")
