"""Flask-Admin's templates, as this app loads them, carry no inline JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import flask_admin
import pytest

from crm.admin.template_patches import rewrite
from tests.conftest import Browser

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


@pytest.mark.parametrize(
    "url",
    ["/admin/", "/admin/customers/", "/admin/customers/new/", "/admin/customers/details/?id={id}",
     "/admin/customers/edit/?id={id}", "/admin/users/", "/admin/profile/", "/admin/audit/",
     "/admin/pipeline/", "/admin/search/?q=acme",
     "/admin/audit/history/?table=customers&id={id}", "/admin/leads/import/"],
)  # fmt: skip
def test_rendered_pages_have_no_inline_script(browser: Browser, users, url):
    from crm.models import UserRole
    from tests import factories

    customer = factories.customer(owner_id=users[UserRole.ADMIN].id)
    browser.login_as(users[UserRole.ADMIN])
    page = browser.get(url.format(id=customer.id)).get_data(as_text=True)
    assert not INLINE.search(page)
    assert re.findall(r"<script(?![^>]*nonce=)", page) == []
