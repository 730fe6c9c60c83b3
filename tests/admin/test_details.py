"""Details pages list related records (latest first, capped, linked, row rules) and
list filters narrow the rows."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from crm.models import TaskStatus, UserRole
from tests import factories
from tests.helpers import Browser

ADMIN, REP = UserRole.ADMIN, UserRole.USER


def section(page: str, title: str) -> str:
    match = re.search(
        rf'<section class="related mt-4" id="related-{title}">(.*?)</section>', page, re.S
    )
    assert match, f"no {title} section"
    return match.group(1)


def test_customer_details_show_leads_tasks_interactions_latest_first(browser: Browser, users):
    owner = users[ADMIN]
    customer = factories.customer(owner_id=owner.id)
    base = datetime(2026, 1, 1)
    for n in range(12):
        factories.lead(title=f"Lead {n:02d}", customer_id=customer.id, owner_id=owner.id,
                       created_at=base + timedelta(days=n))  # fmt: skip
    factories.task(title="Call them", customer_id=customer.id, user_id=owner.id)
    factories.interaction(subject="Kick-off", customer_id=customer.id, user_id=owner.id)
    other = factories.customer()
    factories.lead(title="Someone else's", customer_id=other.id)

    browser.login_as(owner)
    page = browser.get(f"/admin/customers/details/?id={customer.id}").get_data(as_text=True)
    leads = section(page, "leads")
    titles = re.findall(r">Lead (\d\d)</a>", leads)
    assert titles == [f"{n:02d}" for n in range(11, 1, -1)]  # newest ten
    assert f"/admin/leads/?flt0_customer_id_equals={customer.id}" in leads.replace("&amp;", "&")
    assert "Someone else" not in page
    assert ">Call them</a>" in section(page, "tasks")
    assert ">Kick-off</a>" in section(page, "interactions")
    lead_link = re.search(r'href="(/admin/leads/details/\?id=\d+)"', leads).group(1)
    assert browser.get(lead_link).status_code == 200


def test_see_all_link_lists_just_that_customers_leads(browser: Browser, users):
    owner = users[ADMIN]
    customer, other = factories.customer(owner_id=owner.id), factories.customer()
    factories.lead(title="Mine A", customer_id=customer.id)
    factories.lead(title="Other B", customer_id=other.id)
    browser.login_as(owner)
    page = browser.get(f"/admin/leads/?flt0_customer_id_equals={customer.id}").get_data(
        as_text=True
    )
    assert "Mine A" in page and "Other B" not in page


def test_lead_details_show_its_tasks_and_interactions(browser: Browser, users):
    owner = users[ADMIN]
    lead = factories.lead(owner_id=owner.id)
    factories.task(title="Send quote", lead_id=lead.id, user_id=owner.id)
    factories.interaction(subject="Demo call", lead_id=lead.id, user_id=owner.id)
    browser.login_as(owner)
    page = browser.get(f"/admin/leads/details/?id={lead.id}").get_data(as_text=True)
    assert ">Send quote</a>" in section(page, "tasks")
    assert ">Demo call</a>" in section(page, "interactions")
    assert "related-leads" not in page


def test_related_records_obey_row_rules(browser: Browser, users):
    rep = users[REP]
    other_rep = factories.user(role=REP)
    customer = factories.customer(owner_id=rep.id)
    factories.lead(title="Rep's lead", customer_id=customer.id, owner_id=rep.id)
    factories.lead(title="Colleague's lead", customer_id=customer.id, owner_id=other_rep.id)
    factories.task(title="Colleague's task", customer_id=customer.id, user_id=other_rep.id)
    factories.interaction(subject="Colleague's call", customer_id=customer.id, user_id=other_rep.id)
    browser.login_as(rep)
    page = browser.get(f"/admin/customers/details/?id={customer.id}").get_data(as_text=True)
    assert "Rep&#39;s lead" in page
    assert "Colleague&#39;s lead" not in page and "Colleague's lead" not in page
    assert "Colleague" not in section(page, "tasks")
    # interactions on a customer the rep owns are theirs to read, whoever logged them
    assert "Colleague&#39;s call" in section(page, "interactions")


@pytest.mark.parametrize(
    ("endpoint", "query", "shown", "hidden"),
    [
        ("customers", "flt0_industry_equals=Finance", "Fin Co", "Tech Co"),
        ("customers", "flt0_status_equals=inactive", "Tech Co", "Fin Co"),
        ("tasks", "flt0_status_equals=COMPLETED", "Done task", "Open task"),
        ("tasks", "flt0_priority_equals=high", "Open task", "Done task"),
        ("leads", "flt0_amount_greater_than=5000", "Big lead", "Small lead"),
        ("leads", "flt0_amount_smaller_than=5000", "Small lead", "Big lead"),
        ("leads", "flt0_currency_equals=EUR", "Small lead", "Big lead"),
    ],
)
def test_filters_narrow_the_list(browser: Browser, users, endpoint, query, shown, hidden):
    owner = users[ADMIN]
    factories.customer(name="Fin Co", company="F", industry="Finance", owner_id=owner.id)
    factories.customer(name="Tech Co", company="T", industry="Technology", status="inactive",
                       owner_id=owner.id)  # fmt: skip
    factories.task(title="Done task", status=TaskStatus.COMPLETED, priority="low", user_id=owner.id)
    factories.task(title="Open task", status=TaskStatus.PENDING, priority="high", user_id=owner.id)
    factories.lead(title="Big lead", amount=10000, currency="USD", owner_id=owner.id)
    factories.lead(title="Small lead", amount=100, currency="EUR", owner_id=owner.id)
    browser.login_as(owner)
    page = browser.get(f"/admin/{endpoint}/?{query}").get_data(as_text=True)
    assert shown in page
    assert hidden not in page


def test_owner_filter_offers_a_rep_only_themselves(browser: Browser, users):
    browser.login_as(users[REP])
    page = browser.get("/admin/customers/").get_data(as_text=True)
    names = {user.name for user in users.values()}
    offered = {name for name in names if f'"{name}"' in page}
    assert offered == {users[REP].name}
