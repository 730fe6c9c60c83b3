"""Hostile input at every edge: no 500, no database internals, nothing half-saved (issue 15).

Inputs tried: a NUL character (a zero byte) in every query string value, every
filter and every field of every create form; a whole number past PostgreSQL's
``integer`` in every filter and field; a value outside a filter's choices or a
select's options. Each is a message where the person is looking.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm.extensions import db
from crm.models import Customer, UserRole
from crm.web.edge import NUL_LEFT_OUT
from crm.web.forms import NUL_MESSAGE
from tests import factories
from tests.helpers import Browser, form_fields

ADMIN = UserRole.ADMIN
LISTS = ("customers", "leads", "tasks", "interactions", "lead-stages", "users", "audit")
CREATE = ("customers", "leads", "tasks", "interactions", "lead-stages", "users")
HOSTILE = ("a\x00b", "99999999999", "bogus-choice")
INTERNALS = ("psycopg", "[SQL:", "Traceback", "sqlalchemy", "DataError", "Integrity error")


@pytest.fixture
def admin(browser: Browser, users) -> Browser:
    browser.login_as(users[ADMIN])
    factories.customer(name="Ada Lovelace", company="Analytical Engines")
    return browser


def clean(response) -> str:
    """The page, after checking it is no server error and shows no internals."""
    page = response.get_data(as_text=True)
    assert response.status_code < 500, page[:2000]
    for word in INTERNALS:
        assert word not in page, (word, page[:2000])
    return page


@pytest.mark.parametrize("kind", LISTS)
def test_a_nul_in_a_search_is_left_out_and_the_page_says_so(admin: Browser, kind: str):
    page = clean(admin.get(f"/admin/{kind}/?search=Ada%00"))
    assert NUL_LEFT_OUT in page
    if 'name="search"' in page:  # lead stages have no search box
        assert 'value="Ada"' in page  # what was typed, less the NUL, is still in the box


def test_a_nul_in_global_search_an_export_and_a_lookup_is_no_error(admin: Browser):
    page = clean(admin.get("/admin/search/?q=Lovel%00ace"))
    assert NUL_LEFT_OUT in page and "Ada Lovelace" in page
    export = admin.get("/admin/customers/export/csv/?search=Ada%00")
    assert export.status_code == 200 and "Ada Lovelace" in clean(export)
    lookup = admin.get(
        "/admin/leads/ajax/lookup/?name=customer&query=Ada%00",
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert lookup.status_code == 200 and "Ada Lovelace" in clean(lookup)
    # An export or a lookup carries no message; the next page shows none either.
    assert NUL_LEFT_OUT not in clean(admin.get("/admin/customers/"))


def filter_args(app: Flask, kind: str) -> list[str]:
    """Every filter's query-string name on a list (``flt0_status_equals``...)."""
    view = next(v for v in app.extensions["admin"][0]._views if v.url == f"/admin/{kind}")
    return [f"flt0_{view.get_filter_arg(i, flt)}" for i, flt in enumerate(view._filters)]


@pytest.mark.parametrize("kind", [kind for kind in LISTS if kind != "lead-stages"])  # no filters
def test_every_filter_takes_hostile_values_without_an_error(app: Flask, admin: Browser, kind):
    args = filter_args(app, kind)
    assert args, kind
    for arg in args:
        for value in HOSTILE:
            clean(admin.get(f"/admin/{kind}/", query_string={arg: value}))


@pytest.mark.parametrize(
    ("kind", "arg"),
    [
        ("tasks", "flt0_status_equals"),
        ("interactions", "flt0_type_equals"),
        ("users", "flt0_role_equals"),
        ("customers", "flt0_status_equals"),
    ],
)
def test_a_value_outside_a_filters_choices_says_so(admin: Browser, kind: str, arg: str):
    page = clean(admin.get(f"/admin/{kind}/?{arg}=bogus"))
    assert "Invalid Filter Value: bogus" in page


def create_form(admin: Browser, kind: str) -> dict[str, str]:
    """The create form's fields (the CSRF token left to the browser)."""
    fields = form_fields(clean(admin.get(f"/admin/{kind}/new/")))
    for other in ("csrf_token", "q"):  # the token is the browser's; "q": the navbar's search
        fields.pop(other, None)
    return {name: value for name, value in fields.items() if not name.startswith("_")}


def rows(kind: str) -> int:
    view_tables = {"lead-stages": "lead_stages"}
    table = db.metadata.tables[view_tables.get(kind, kind)]
    return db.session.scalar(select(func.count()).select_from(table))


@pytest.mark.parametrize("kind", CREATE)
def test_every_field_of_every_create_form_refuses_hostile_values(admin: Browser, kind: str):
    """A NUL is refused beside any field, and nothing is saved; a big number or an
    unknown option is either a message or, where the field takes it (a name
    "99999999999"), a saved row: never a server error or the database's words."""
    fields = create_form(admin, kind)
    assert fields, kind
    for name in fields:
        for value in HOSTILE:
            before = rows(kind)
            page = clean(admin.post(f"/admin/{kind}/new/", {**fields, name: value}))
            if "\x00" in value:
                assert NUL_MESSAGE in page, (kind, name)
                assert rows(kind) == before, (kind, name)


def test_a_nul_beside_good_values_keeps_the_form_and_saves_nothing(admin: Browser):
    before = rows("customers")
    page = clean(admin.post("/admin/customers/new/", {"name": "Grace\x00", "company": "Navy"}))
    assert NUL_MESSAGE in page and 'value="Navy"' in page
    assert rows("customers") == before


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("interactions", {"type": "call", "duration_minutes": "99999999999"}, "between"),
        ("lead-stages", {"name": "Far", "order_index": "99999999999"}, "between"),
        ("leads", {"title": "Big", "amount": "1e30"}, "too large"),
    ],
)
def test_a_number_too_big_to_store_is_refused_beside_its_field(admin, kind, data, message):
    before = rows(kind)
    page = clean(admin.post(f"/admin/{kind}/new/", data))
    assert message in page
    assert rows(kind) == before


def test_signing_in_with_a_nul_says_so(browser: Browser, users):
    response = browser.login(users[ADMIN].email + "\x00", "whatever")
    page = clean(response)
    assert response.status_code == 400 and NUL_MESSAGE in page


def test_a_database_refusal_is_a_sentence_without_internals(admin: Browser, monkeypatch):
    """Whatever the database refuses past the forms' checks (here: a value made too long
    for its column after validation), the page says so plainly and keeps the form."""
    from crm.admin.views import sales

    def overlong(self, form, model, is_created):  # after the form's own checks
        model.phone = "9" * 500

    monkeypatch.setattr(sales.CustomerView, "on_model_change", overlong)
    before = db.session.scalar(select(func.count()).select_from(Customer))
    page = clean(admin.post("/admin/customers/new/", {"name": "Long Phone", "company": "X"}))
    assert "Not saved: a value does not fit its field" in page
    assert 'value="Long Phone"' in page
    assert db.session.scalar(select(func.count()).select_from(Customer)) == before
    assert not re.search(r"value too long|character varying", page)


def test_a_return_address_off_this_site_is_never_followed(admin: Browser):
    """Flask-Admin follows ``url=`` after a save when its host matches the Host header,
    which the client sends (a spoofed one: "http://evil.example/" with ``Host:
    evil.example``); only a path on this site is kept, so an absolute address is
    dropped even when its host is this one."""
    customer = factories.customer(name="Return Trip", company="Hops")

    def save(url: str):
        edit = f"/admin/customers/edit/?id={customer.id}"
        form = form_fields(admin.get(edit).get_data(as_text=True))
        form = {name: value for name, value in form.items() if not name.startswith("_")}
        return admin.post(f"{edit}&url={url}", {**form, "city": "Oslo"})  # plain "Save"

    response = save("http://localhost/admin/leads/")  # the test client's own host
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/customers/"
    assert save("/admin/leads/?page=2").headers["Location"] == "/admin/leads/?page=2"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://evil.example/", "//evil.example"])
def test_a_bulk_confirmation_never_links_off_this_site(admin: Browser, url: str):
    customer = factories.customer(name="Bulk Trip", company="Hops")
    page = clean(
        admin.post(
            "/admin/customers/action/", {"action": "delete", "rowid": customer.id, "url": url}
        )
    )
    assert "Bulk Trip" in page  # the confirmation page
    assert "evil.example" not in page and "javascript:alert" not in page


def test_only_the_trusted_hosts_are_answered(app: Flask, client, monkeypatch):
    """Signed out, a page redirects to the sign-in page, a URL Flask cannot build for an
    untrusted host: that must be a plain 400, not a failure of its own."""
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", ["crm.example.com"])
    refused = client.get("/admin/customers/", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "not served under that host" in refused.text
    trusted = client.get("/admin/customers/", headers={"Host": "crm.example.com"})
    assert trusted.status_code == 302 and trusted.headers["Location"].startswith("/login")


@pytest.mark.parametrize("kind", LISTS)
@pytest.mark.parametrize("page", ["-1", "-99999999999", "99999999999999999999", "x"])
def test_any_page_number_is_a_page_not_an_error(admin: Browser, kind: str, page: str):
    body = clean(admin.get(f"/admin/{kind}/?page={page}"))
    assert "<table" in body  # the list itself, first or last page


def test_a_nul_in_the_profile_name_is_refused_beside_it(admin: Browser, users):
    page = clean(admin.post("/admin/profile/", {"profile-name": "Ada\x00 Admin"}))
    assert NUL_MESSAGE in page
    db.session.refresh(users[ADMIN])
    assert "\x00" not in users[ADMIN].name
