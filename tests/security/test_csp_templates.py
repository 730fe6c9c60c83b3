"""Flask-Admin's templates, as this app loads them, carry no inline JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import flask_admin
import pytest

from crm.admin.template_patches import rewrite
from tests.helpers import Browser

STOCK = Path(flask_admin.__file__).parent / "templates" / "bootstrap4"
INLINE = re.compile(r"""\son[a-z]+=["']|javascript:""")
# Inline-model editing and the file manager: no view of this app uses either.
UNUSED = {"admin/model/inline_list_base.html", "admin/file/list.html"}


def test_every_stock_template_is_free_of_inline_script_after_rewriting():
    dirty = {
        str(path.relative_to(STOCK))
        for path in STOCK.rglob("*.html")
        if INLINE.search(rewrite(path.read_text()))
    }
    assert dirty == UNUSED


# Each page with its title: a redirect to the sign-in page has neither scripts nor this.
PAGES = [
    ("/admin/", "Home"),
    ("/admin/customers/", "Sales - Customers"),
    ("/admin/customers/new/", "Sales - Customers"),
    ("/admin/customers/details/?id={id}", "Sales - Customers"),
    ("/admin/customers/edit/?id={id}", "Sales - Customers"),
    ("/admin/users/", "Setup - Users"),
    ("/admin/profile/", "Profile"),
    ("/admin/audit/", "Compliance - Audit log"),
    ("/admin/pipeline/", "Pipeline"),
    ("/admin/search/?q=acme", "Search"),
    ("/admin/audit/history/?table=customers&id={id}", "Compliance - Audit log"),
    ("/admin/leads/import/", "Sales - Leads"),
]


@pytest.mark.parametrize(("url", "title"), PAGES)
def test_rendered_pages_have_no_inline_script(browser: Browser, users, url, title):
    from crm.models import UserRole
    from tests import factories

    customer = factories.customer(name="Nonce Check", owner_id=users[UserRole.ADMIN].id)
    browser.login_as(users[UserRole.ADMIN])
    response = browser.get(url.format(id=customer.id))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"<title>{title} - CRM admin</title>" in page
    if "{id}" in url:
        assert "Nonce Check" in page  # the customer's own page
    scripts = re.findall(r"<script\b[^>]*>", page)
    assert scripts  # every page runs scripts; each one carries the nonce
    assert [tag for tag in scripts if "nonce=" not in tag] == []
    assert not INLINE.search(page)
