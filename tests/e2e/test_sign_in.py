"""In Chromium: each role signs in and sees the menu its role should see."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.own_database

SALES = ["Customers", "Leads", "Tasks", "Interactions"]
EVERYTHING = {
    "Sales": SALES,
    "Setup": ["Lead stages", "Users", "Exchange rates"],
    "Compliance": ["Audit log"],
}
MENUS = {
    "admin@crm.com": (
        "admin123",
        {
            **EVERYTHING,
            "Setup": [
                *EVERYTHING["Setup"],
                "Jobs",
                "API tokens",
                "Webhooks",
                "Webhook deliveries",
            ],
        },  # jobs, everyone's tokens
    ),
    "manager@crm.com": ("manager123", EVERYTHING),
    "user@crm.com": ("user123", {"Sales": SALES, "Setup": ["Lead stages"]}),
    "support@crm.com": ("support123", EVERYTHING),
}


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/admin/customers/")
    expect(page).to_have_url(f"{base}/login?next=/admin/customers/")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/admin/customers/")
    page.wait_for_load_state("load")  # menus work once the scripts have run


@pytest.mark.parametrize("email", list(MENUS))
def test_each_role_sees_its_menu(page: Page, live_server: str, email: str):
    password, menu = MENUS[email]
    sign_in(page, live_server, email, password)
    navbar = page.locator("#admin-navbar-collapse > ul.navbar-nav").first
    categories = navbar.locator(":scope > li.dropdown > a.dropdown-toggle")
    assert [c.strip() for c in categories.all_inner_texts()] == list(menu)
    for category, items in menu.items():
        navbar.get_by_role("link", name=category, exact=True).click()
        dropdown = navbar.locator("li.dropdown.show .dropdown-menu a")
        expect(dropdown).to_have_text(items)
        page.keyboard.press("Escape")
        page.mouse.click(5, 300)


def test_sign_out_from_the_user_menu(page: Page, live_server: str):
    sign_in(page, live_server, "user@crm.com", "user123")
    page.click("#user-menu-toggle")
    page.click("#sign-out")
    expect(page).to_have_url(f"{live_server}/login")
    expect(page.locator(".alert")).to_contain_text("You are signed out.")
    page.goto(f"{live_server}/admin/")
    expect(page).to_have_url(f"{live_server}/login?next=/admin/")


def test_wrong_password_shows_the_message_and_keeps_the_email(page: Page, live_server: str):
    page.expected_console.append("status of 401")  # the refused sign-in is a 401
    page.goto(f"{live_server}/login")
    page.fill("#email", "manager@crm.com")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Those details did not work.")
    expect(page.locator("#email")).to_have_value("manager@crm.com")
    expect(page.locator("#password")).to_have_value("")
