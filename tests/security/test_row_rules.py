"""Row rules: a sales rep reads and changes only their own rows, on every path."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.models import Customer, Interaction, Lead, Task, User, UserRole
from tests import factories
from tests.helpers import PASSWORDS, Browser


@dataclass
class Book:
    """Each rep's customer, lead, task and interaction."""

    customer: Customer
    lead: Lead
    task: Task
    interaction: Interaction


def book_of(rep: User, tag: str) -> Book:
    customer = factories.customer(name=f"{tag} Customer", company=f"{tag} Co", owner_id=rep.id)
    lead = factories.lead(title=f"{tag} Lead", customer_id=customer.id, owner_id=rep.id)
    task = factories.task(title=f"{tag} Task", user_id=rep.id, customer_id=customer.id)
    interaction = factories.interaction(
        subject=f"{tag} Call", customer_id=customer.id, user_id=rep.id
    )
    return Book(customer, lead, task, interaction)


@pytest.fixture
def reps(users) -> tuple[User, User]:
    """Two sales reps: the one signed in, and another."""
    other = factories.user(email="other-rep@example.com", name="Other Rep", role=UserRole.USER)
    return users[UserRole.USER], other


@pytest.fixture
def books(reps) -> tuple[Book, Book]:
    mine, theirs = reps
    return book_of(mine, "Mine"), book_of(theirs, "Theirs")


@pytest.fixture
def rep_browser(browser: Browser, reps) -> Browser:
    browser.login(reps[0].email, PASSWORDS[UserRole.USER])
    return browser


ENDPOINTS = {
    "customers": ("customer", "name"),
    "leads": ("lead", "title"),
    "tasks": ("task", "title"),
    "interactions": ("interaction", "subject"),
}


def snapshot(row: object, column: str) -> object:
    db.session.refresh(row)
    return getattr(row, column)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_other_reps_rows_are_404_on_details_and_edit(rep_browser: Browser, books, endpoint):
    attr, column = ENDPOINTS[endpoint]
    theirs = getattr(books[1], attr)
    before = snapshot(theirs, column)
    assert rep_browser.get(f"/admin/{endpoint}/details/?id={theirs.id}").status_code == 404
    assert rep_browser.get(f"/admin/{endpoint}/edit/?id={theirs.id}").status_code == 404
    posted = rep_browser.post(f"/admin/{endpoint}/edit/?id={theirs.id}", {column: "Hijacked"})
    assert posted.status_code == 404
    assert snapshot(theirs, column) == before
    mine = getattr(books[0], attr)
    assert rep_browser.get(f"/admin/{endpoint}/details/?id={mine.id}").status_code == 200


@pytest.mark.parametrize("endpoint", ["tasks", "interactions"])
def test_other_reps_rows_are_404_on_delete_and_bulk_delete(rep_browser: Browser, books, endpoint):
    attr, _ = ENDPOINTS[endpoint]
    theirs, mine = getattr(books[1], attr), getattr(books[0], attr)
    model = type(theirs)
    assert rep_browser.post(f"/admin/{endpoint}/delete/", {"id": theirs.id}).status_code == 404
    bulk = rep_browser.post(
        f"/admin/{endpoint}/action/", {"action": "delete", "rowid": [mine.id, theirs.id]}
    )
    assert bulk.status_code == 404
    # nothing changed: neither the other rep's row nor the rep's own, sent alongside
    assert db.session.get(model, theirs.id) is not None
    assert db.session.get(model, mine.id) is not None


@pytest.mark.parametrize("endpoint", ["customers", "leads"])
def test_reps_cannot_delete_customers_or_leads_at_all(rep_browser: Browser, books, endpoint):
    attr, _ = ENDPOINTS[endpoint]
    mine = getattr(books[0], attr)
    assert rep_browser.post(f"/admin/{endpoint}/delete/", {"id": mine.id}).status_code == 403
    assert db.session.get(type(mine), mine.id) is not None


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_list_count_and_search_hold_only_own_rows(rep_browser: Browser, books, endpoint):
    page = rep_browser.get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert "Mine" in page
    assert "Theirs" not in page
    assert "List (1)" in page
    search = rep_browser.get(f"/admin/{endpoint}/?search=Theirs").get_data(as_text=True)
    assert "There are no items in the table." in search
    assert ">Theirs" not in search  # no cell shows the other rep's row


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_export_holds_only_own_rows(rep_browser: Browser, books, endpoint):
    response = rep_browser.get(f"/admin/{endpoint}/export/csv/")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    body = "\n".join(",".join(row) for row in rows[1:])
    assert len(rows) == 2  # header and the rep's one row
    assert "Mine" in body
    assert "Theirs" not in body


def lookup(browser: Browser, endpoint: str, field: str, query: str = "") -> list[str]:
    response = browser.get(f"/admin/{endpoint}/ajax/lookup/?name={field}&query={query}")
    assert response.status_code == 200
    return [label for _id, label in json.loads(response.get_data(as_text=True))]


def test_related_row_pickers_offer_only_readable_rows(rep_browser: Browser, books, reps):
    assert lookup(rep_browser, "leads", "customer") == ["Mine Customer (Mine Co)"]
    assert lookup(rep_browser, "tasks", "lead") == ["Mine Lead"]
    assert lookup(rep_browser, "interactions", "customer", "Theirs") == []
    assert lookup(rep_browser, "tasks", "assignee") == [str(reps[0])]


def test_picking_another_reps_customer_is_refused_and_nothing_is_saved(rep_browser, books):
    response = rep_browser.post(
        "/admin/leads/new/", {"title": "Sneaky lead", "customer": books[1].customer.id}
    )
    assert response.status_code == 200  # the form again, with the message beside the field
    assert "that record is not available to you" in response.get_data(as_text=True)
    assert 'value="Sneaky lead"' in response.get_data(as_text=True)
    assert db.session.scalar(select(Lead).where(Lead.title == "Sneaky lead")) is None


def test_reps_new_rows_belong_to_them_whatever_the_form_says(rep_browser: Browser, reps, books):
    response = rep_browser.post(
        "/admin/customers/new/", {"name": "Fresh", "company": "Fresh Co", "owner": reps[1].id}
    )
    assert response.status_code == 302
    fresh = db.session.scalar(select(Customer).where(Customer.name == "Fresh"))
    assert fresh.owner_id == reps[0].id
    form = rep_browser.get("/admin/customers/new/").get_data(as_text=True)
    assert 'name="owner"' not in form


def test_rep_edit_cannot_move_a_customer_to_another_owner(rep_browser: Browser, reps, books):
    mine = books[0].customer
    response = rep_browser.post(
        f"/admin/customers/edit/?id={mine.id}",
        {"name": mine.name, "company": mine.company, "owner": reps[1].id, "version": "1"},
    )
    assert response.status_code == 302
    db.session.refresh(mine)
    assert mine.owner_id == reps[0].id


def test_rep_sees_tasks_assigned_to_them_and_interactions_on_their_customers(
    rep_browser: Browser, reps, books
):
    mine, theirs = reps
    assigned = factories.task(title="Assigned to me", user_id=theirs.id, assigned_to=mine.id)
    logged = factories.interaction(
        subject="Their call on my customer", user_id=theirs.id, customer_id=books[0].customer.id
    )
    tasks = rep_browser.get("/admin/tasks/").get_data(as_text=True)
    assert "Assigned to me" in tasks
    interactions = rep_browser.get("/admin/interactions/").get_data(as_text=True)
    assert "Their call on my customer" in interactions
    assert rep_browser.get(f"/admin/tasks/details/?id={assigned.id}").status_code == 200
    assert rep_browser.get(f"/admin/interactions/details/?id={logged.id}").status_code == 200


@pytest.mark.parametrize("sent", ["mine", ""])
def test_a_rep_edits_rows_they_are_assigned_but_never_who_owns_or_logged_them(
    rep_browser: Browser, reps, books, sent: str
):
    """A task someone else owns and assigned to the rep, an interaction someone else
    logged on the rep's customer: the rep may change their content, not their owner
    (taking them over, or leaving them with none)."""
    mine, theirs = reps
    owner = str(mine.id) if sent == "mine" else ""
    task = factories.task(title="Assigned to me", user_id=theirs.id, assigned_to=mine.id)
    edit = f"/admin/tasks/edit/?id={task.id}"
    form = rep_browser.get(edit).get_data(as_text=True)
    assert 'name="user"' not in form  # no owner to choose
    response = rep_browser.post(
        edit,
        {"title": "Assigned, renamed", "status": "pending", "user": owner,
         "assignee": str(mine.id), "version": str(task.version)},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(task)
    assert (task.title, task.user_id) == ("Assigned, renamed", theirs.id)

    logged = factories.interaction(
        type="call", subject="Their call", user_id=theirs.id, customer_id=books[0].customer.id
    )
    edit = f"/admin/interactions/edit/?id={logged.id}"
    assert 'name="user"' not in rep_browser.get(edit).get_data(as_text=True)
    response = rep_browser.post(
        edit,
        {"type": "call", "subject": "Their call, noted", "user": owner,
         "customer": str(books[0].customer.id), "version": str(logged.version)},
    )  # fmt: skip
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(logged)
    assert (logged.subject, logged.user_id) == ("Their call, noted", theirs.id)


@pytest.mark.parametrize("role", [UserRole.ADMIN, UserRole.MANAGER, UserRole.SUPPORT])
def test_other_roles_read_every_row(browser: Browser, users, books, role):
    browser.login_as(users[role])
    for endpoint in ENDPOINTS:
        page = browser.get(f"/admin/{endpoint}/").get_data(as_text=True)
        assert "Mine" in page and "Theirs" in page


@pytest.mark.parametrize("bad_id", ["abc", "1 OR 1=1", "-1", "99999999"])
def test_malformed_or_unknown_ids_are_404(rep_browser: Browser, books, bad_id):
    assert rep_browser.get(f"/admin/customers/details/?id={bad_id}").status_code == 404
    assert (
        rep_browser.post("/admin/tasks/action/", {"action": "delete", "rowid": bad_id}).status_code
        == 404
    )
