"""The audit log browser, a record's history, and revert."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.maintenance import retention
from crm.models import UserRole
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT


def act_as(conn: Connection, user_id: int | None, ip: str = "192.0.2.10") -> None:
    """Name the actor of the test's transaction, as crm/audit/context.py does (None: nobody)."""
    conn.execute(
        text("SELECT set_config('crm.user_id', :u, true), set_config('crm.ip', :ip, true)"),
        {"u": "" if user_id is None else str(user_id), "ip": ip},
    )


def shown_records(page: str) -> list[str]:
    """The record ids in the audit list, in order."""
    return re.findall(r'<td class="col-record_id">(?:<a [^>]*>)?(\d+)', page)


def latest_entry(conn: Connection, table: str, record_id: int, action: str) -> int:
    return conn.execute(
        text(
            "SELECT max(id) FROM audit_logs "
            "WHERE table_name = :t AND record_id = :r AND action = :a"
        ),
        {"t": table, "r": record_id, "a": action},
    ).scalar_one()


@pytest.fixture
def changed_customer(db_connection: Connection, users) -> int:
    """A customer created, then renamed (with markup in the name) by the admin."""
    act_as(db_connection, users[ADMIN].id)
    row_id = factories.customer(name="Plain Name", company="Diff Co", city="Oslo").id
    db_connection.execute(
        text("UPDATE customers SET name = '<b>Bold</b> & Co', city = 'Bergen' WHERE id = :id"),
        {"id": row_id},
    )
    return row_id


def test_filter_by_table_and_record_shows_only_that_records_changes(
    browser: Browser, users, changed_customer: int
):
    factories.customer(name="Someone Else")
    browser.login_as(users[SUPPORT])
    page = browser.get(
        f"/admin/audit/?flt0_table_equals=customers&flt1_record_id_equals={changed_customer}"
    ).get_data(as_text=True)
    assert shown_records(page) == [str(changed_customer)] * 2  # the update, then the insert


def test_filters_by_user_action_dates_and_ip(
    browser: Browser, users, changed_customer: int, db_connection
):
    act_as(db_connection, users[MANAGER].id, "198.51.100.5")
    other = factories.customer(name="By the manager").id
    browser.login_as(users[ADMIN])
    by_manager = browser.get(
        f"/admin/audit/?flt0_user_equals={users[MANAGER].id}&flt1_table_equals=customers"
    ).get_data(as_text=True)
    assert shown_records(by_manager) == [str(other)]
    updates = browser.get(
        "/admin/audit/?flt0_action_equals=UPDATE&flt1_table_equals=customers"
    ).get_data(as_text=True)
    assert shown_records(updates) == [str(changed_customer)]
    network = browser.get("/admin/audit/?flt0_ip_address_is_in=198.51.100.0/24").get_data(
        as_text=True
    )
    assert shown_records(network) == [str(other)]
    past = browser.get(
        "/admin/audit/?flt0_when_between=2000-01-01+00:00:00+to+2000-12-31+00:00:00"
    ).get_data(as_text=True)
    assert shown_records(past) == []


@pytest.mark.parametrize("value", ["banana", "10.0.0.0/99", "'; DROP TABLE x; --"])
def test_a_bad_ip_filter_is_refused_with_a_message(browser: Browser, users, value: str):
    browser.login_as(users[SUPPORT])
    response = browser.get("/admin/audit/", query_string={"flt0_ip_address_is_in": value})
    assert response.status_code == 200
    assert "Invalid Filter Value" in response.get_data(as_text=True)


def test_each_row_unfolds_into_an_escaped_field_diff(
    browser: Browser, users, changed_customer: int
):
    browser.login_as(users[SUPPORT])
    page = browser.get(
        f"/admin/audit/?flt0_table_equals=customers&flt1_record_id_equals={changed_customer}"
    ).get_data(as_text=True)
    assert "<details><summary>Name, City</summary>" in page  # in the table's column order
    assert '<td class="audit-old">Plain Name</td>' in page
    assert '<td class="audit-new">&lt;b&gt;Bold&lt;/b&gt; &amp; Co</td>' in page
    assert "<b>Bold</b>" not in page


def test_history_is_the_records_timeline_newest_first(
    browser: Browser, users, changed_customer: int
):
    browser.login_as(users[SUPPORT])
    page = browser.get(f"/admin/audit/history/?table=customers&id={changed_customer}").get_data(
        as_text=True
    )
    actions = re.findall(r'<span class="badge badge-\w+">([A-Z_]+)</span>', page)
    assert actions == ["UPDATE", "INSERT"]
    assert f"by {users[ADMIN].name}" in page and "from 192.0.2.10" in page
    assert '<td class="audit-old">Oslo</td><td class="audit-new">Bergen</td>' in page
    assert "Revert this change" not in page  # support reads, never reverts


def test_history_names_the_rows_it_refers_to_and_the_browser(
    browser: Browser, users, db_connection: Connection
):
    """ "Stage: Proposal → Qualified", "Owner: …", "Chrome on Linux"; raw values on hover."""
    proposal, qualified = factories.stage(name="Proposal"), factories.stage(name="Qualified")
    gone = factories.customer(name="Gone Co").id
    lead = factories.lead(
        title="Named", stage_id=proposal.id, owner_id=users[REP].id, customer_id=gone
    )
    act_as(db_connection, users[ADMIN].id)
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    db_connection.execute(text("SELECT set_config('crm.user_agent', :ua, true)"), {"ua": chrome})
    db_connection.execute(
        text("UPDATE leads SET stage_id = :s, customer_id = NULL WHERE id = :id"),
        {"s": qualified.id, "id": lead.id},
    )
    db_connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": gone})
    browser.login_as(users[ADMIN])
    page = browser.get(f"/admin/audit/history/?table=leads&id={lead.id}").get_data(as_text=True)
    assert '<th title="stage_id">Stage</th>' in page
    assert f'<td class="audit-old" title="stage_id = {proposal.id}">Proposal</td>' in page
    assert f'<td class="audit-new" title="stage_id = {qualified.id}">Qualified</td>' in page
    assert f'<td class="audit-new" title="owner_id = {users[REP].id}">{users[REP].name}</td>' in (
        page
    )  # the insert's snapshot
    assert f'title="customer_id = {gone}">#{gone} (deleted)</td>' in page
    assert f'title="{chrome}">Chrome on Linux</p>' in page


@pytest.mark.parametrize("kind", ["details", "edit"])
def test_details_and_edit_pages_link_to_the_history(
    browser: Browser, make_browser, users, kind: str
):
    row_id = factories.customer(owner_id=users[REP].id).id
    history = f"/admin/audit/history/?table=customers&amp;id={row_id}"
    browser.login_as(users[ADMIN])
    assert history in browser.get(f"/admin/customers/{kind}/?id={row_id}").get_data(as_text=True)
    owner = make_browser()  # the record's owner, who may not read the audit log
    owner.login_as(users[REP])
    page = owner.get(f"/admin/customers/{kind}/?id={row_id}")
    assert page.status_code == 200 and "History" not in page.get_data(as_text=True)


def test_revert_an_update_round_trips_and_is_audited(
    browser: Browser, users, changed_customer: int, db_connection
):
    entry = latest_entry(db_connection, "customers", changed_customer, "UPDATE")
    browser.login_as(users[ADMIN])
    # The fixture named the admin as this transaction's actor (from 192.0.2.10). The tests
    # share one transaction, so clear that: the revert's actor must come from its request.
    act_as(db_connection, None, "")
    response = browser.post("/admin/audit/revert/", {"id": entry})
    assert response.status_code == 302
    row = db_connection.execute(
        text("SELECT name, city FROM customers WHERE id = :id"), {"id": changed_customer}
    ).one()
    assert tuple(row) == ("Plain Name", "Oslo")
    undo = latest_entry(db_connection, "customers", changed_customer, "UPDATE")
    assert undo != entry
    who, ip, new_values = db_connection.execute(
        text("SELECT user_id, host(ip_address), new_values FROM audit_logs WHERE id = :id"),
        {"id": undo},
    ).one()
    assert (who, ip) == (users[ADMIN].id, "127.0.0.1")  # the admin's request (test client)
    assert new_values == {"name": "Plain Name", "city": "Oslo"}
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Put back name, city of customers" in page


def test_revert_a_delete_recreates_the_record_with_its_old_id(
    browser: Browser, users, db_connection
):
    row_id = factories.customer(name="Gone Soon", company="Vanish Ltd", phone="555-1").id
    db_connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": row_id})
    entry = latest_entry(db_connection, "customers", row_id, "DELETE")
    browser.login_as(users[ADMIN])
    assert browser.post("/admin/audit/revert/", {"id": entry}).status_code == 302
    row = db_connection.execute(
        text("SELECT name, company, phone FROM customers WHERE id = :id"), {"id": row_id}
    ).one()
    assert tuple(row) == ("Gone Soon", "Vanish Ltd", "555-1")
    assert latest_entry(db_connection, "customers", row_id, "INSERT") > entry


def test_a_revert_a_constraint_blocks_says_which_and_changes_nothing(
    browser: Browser, users, db_connection
):
    customer = factories.customer()
    lead_id = factories.lead(customer_id=customer.id, title="Orphan").id
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": lead_id})
    db_connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer.id})
    entry = latest_entry(db_connection, "leads", lead_id, "DELETE")
    browser.login_as(users[ADMIN])
    response = browser.post("/admin/audit/revert/", {"id": entry}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Not reverted" in page and "customer" in page
    gone = db_connection.execute(text("SELECT count(*) FROM leads WHERE id = :id"), {"id": lead_id})
    assert gone.scalar_one() == 0


def test_a_deleted_user_cannot_be_recreated_and_the_message_says_why(
    browser: Browser, users, db_connection
):
    someone = factories.user(email="leaver@example.com")
    db_connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": someone.id})
    entry = latest_entry(db_connection, "users", someone.id, "DELETE")
    browser.login_as(users[ADMIN])
    page = browser.post("/admin/audit/revert/", {"id": entry}, follow_redirects=True)
    assert "passwords are never recorded" in page.get_data(as_text=True)


def test_support_reads_history_but_cannot_revert(
    browser: Browser, users, changed_customer: int, db_connection
):
    entry = latest_entry(db_connection, "customers", changed_customer, "UPDATE")
    browser.login_as(users[SUPPORT])
    assert (
        browser.get(f"/admin/audit/history/?table=customers&id={changed_customer}").status_code
        == 200
    )
    assert browser.post("/admin/audit/revert/", {"id": entry}).status_code == 403
    name = db_connection.execute(
        text("SELECT name FROM customers WHERE id = :id"), {"id": changed_customer}
    ).scalar_one()
    assert name == "<b>Bold</b> & Co"


@pytest.mark.parametrize("path", ["/admin/audit/", "/admin/audit/history/?table=customers&id=1"])
def test_a_sales_rep_gets_403(browser: Browser, users, path: str):
    browser.login_as(users[REP])
    assert browser.get(path).status_code == 403


def test_revert_needs_a_csrf_token(browser: Browser, users, changed_customer, db_connection):
    entry = latest_entry(db_connection, "customers", changed_customer, "UPDATE")
    browser.login_as(users[ADMIN])
    assert browser.post("/admin/audit/revert/", {"id": entry}, csrf=False).status_code == 400


@pytest.mark.parametrize("query", ["table=nope&id=1", "table=customers&id=abc", "table=&id="])
def test_a_bad_history_address_is_404(browser: Browser, users, query: str):
    browser.login_as(users[ADMIN])
    assert browser.get(f"/admin/audit/history/?{query}").status_code == 404


def test_export_is_the_filtered_list_for_admins_not_support(
    browser: Browser, make_browser, users, changed_customer: int
):
    url = (
        "/admin/audit/export/csv/?flt0_table_equals=customers"
        f"&flt1_record_id_equals={changed_customer}"
    )
    browser.login_as(users[ADMIN])
    rows = list(csv.DictReader(io.StringIO(browser.get(url).get_data(as_text=True))))
    assert [r["Action"] for r in rows] == ["UPDATE", "INSERT"]
    assert '"city": "Bergen"' in rows[0]["After"]
    support = make_browser()
    support.login_as(users[SUPPORT])
    assert support.get(url).status_code == 403


def test_a_retention_purge_shows_as_one_row_with_its_counts(browser: Browser, users):
    plan = retention.plan(db.session, date(2026, 1, 15))
    db.session.add(retention.summary(date(2026, 1, 15), {"leads": 12, "tasks": 3}, plan))
    db.session.flush()
    browser.login_as(users[SUPPORT])
    page = browser.get("/admin/audit/?flt0_action_equals=PURGE").get_data(as_text=True)
    assert page.count('<td class="col-action">') == 1 and "PURGE" in page
    assert "<summary>As of, Cutoffs, Deleted</summary>" in page
    assert "&#34;leads&#34;: 12" in page or "&quot;leads&quot;: 12" in page
