"""Forms mirror the database's rules: a message beside the field, the input kept,
nothing saved; and what slips past validation is still a message, never a 500."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from crm.extensions import db
from crm.models import Customer, Interaction, InteractionType, Lead, Task, TaskStatus, UserRole
from tests import factories
from tests.helpers import Browser, form_fields

ADMIN = UserRole.ADMIN


@pytest.fixture
def admin(browser: Browser, users) -> Browser:
    browser.login_as(users[ADMIN])
    return browser


def rows(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "company": "X"}, "This field is required."),
        ({"name": "A", "company": "X", "email": "not-an-email"}, "Enter an email address like"),
        ({"name": "A", "company": "X", "email": "a@b.c"}, "Enter an email address like"),
        ({"name": "A" * 256, "company": "X"}, "longer than 255 characters"),
        ({"name": "A", "company": "X", "industry": "Aerospace"}, "Not a valid choice"),
    ],
)
def test_customer_form_refuses_what_the_database_would(admin: Browser, data, message):
    response = admin.post("/admin/customers/new/", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    if data.get("email"):
        assert f'value="{data["email"]}"' in page  # kept
    assert rows(Customer) == 0


def test_duplicate_customer_name_and_company_is_a_field_message(admin: Browser, users):
    factories.customer(name="Acme", company="Acme Inc")
    response = admin.post("/admin/customers/new/", {"name": "Acme", "company": "Acme Inc"})
    assert "A customer with this name already exists at this company." in response.get_data(
        as_text=True
    )
    assert rows(Customer) == 1


def test_editing_a_customer_does_not_clash_with_itself(admin: Browser, users):
    customer = factories.customer(name="Acme", company="Acme Inc")
    response = admin.post(
        f"/admin/customers/edit/?id={customer.id}",
        {"name": "Acme", "company": "Acme Inc", "notes": "kept", "version": "1"},
    )
    assert response.status_code == 302
    db.session.refresh(customer)
    assert customer.notes == "kept"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"probability": "101"}, "A percentage from 0 to 100."),
        ({"probability": "-1"}, "A percentage from 0 to 100."),
        ({"amount": "0"}, "The amount must be more than zero"),
        ({"amount": "-5"}, "The amount must be more than zero"),
        ({"amount": "10000000000000"}, "The amount is too large"),
        ({"amount": "ten"}, "Not a valid decimal value"),
        ({"amount": "12500.005"}, "At most two decimal places."),
        ({"amount": "NaN"}, "Enter an amount such as 1500.00."),
        ({"amount": "-Infinity"}, "Enter an amount such as 1500.00."),
        ({"expected_close_date": "31/12/2026"}, "Enter a date as YYYY-MM-DD"),
        ({"expected_close_date": "2026-02-30"}, "Enter a date as YYYY-MM-DD"),
        ({"currency": "US"}, "three-letter currency code"),
        ({"currency": "12$"}, "three-letter currency code"),
    ],
)
def test_lead_form_refuses_what_the_database_would(admin: Browser, data, message):
    stage = factories.stage(name="Form Stage").id
    form = {"title": "Big deal", "currency": "USD", "stage": stage, **data}
    response = admin.post("/admin/leads/new/", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert 'value="Big deal"' in page
    for typed in data.values():
        assert f'value="{typed}"' in page  # what they typed, kept to correct
    assert rows(Lead) == 0


def test_a_new_lead_starts_in_the_first_stage_and_needs_one(admin: Browser):
    later = factories.stage(name="Later", order_index=20)
    first = factories.stage(name="First", order_index=10)
    form = form_fields(admin.get("/admin/leads/new/").get_data(as_text=True))
    assert form["stage"] == str(first.id)
    response = admin.post("/admin/leads/new/", {"title": "Stageless", "currency": "USD"})
    assert "Pick a stage: every lead is in one." in response.get_data(as_text=True)
    assert rows(Lead) == 0
    admin.post("/admin/leads/new/", {"title": "Staged", "currency": "USD", "stage": later.id})
    assert db.session.scalar(select(Lead.stage_id).where(Lead.title == "Staged")) == later.id


def test_the_customer_status_is_a_select_of_the_known_statuses(admin: Browser):
    page = admin.get("/admin/customers/new/").get_data(as_text=True)
    select_html = page.split('name="status"', 1)[1].split("</select>", 1)[0]
    assert [v for v in ("active", "inactive", "prospect") if f'value="{v}"' in select_html] == [
        "active",
        "inactive",
        "prospect",
    ]


@pytest.mark.parametrize(
    ("typed", "saved"),
    [
        ("2026-12-31T14:30", "2026-12-31 14:30:00"),  # what the browser's input sends
        ("2026-12-31T14:30:15", "2026-12-31 14:30:15"),
        ("2026-12-31 14:30", "2026-12-31 14:30:00"),
        ("31/12/2026", None),
        ("2026-13-01T10:00", None),
        ("tomorrow", None),
    ],
)
def test_date_and_time_fields_take_only_what_they_can_read(admin: Browser, typed, saved):
    response = admin.post("/admin/tasks/new/", {"title": "Dated", "due_date": typed})
    due = db.session.scalar(select(Task.due_date).where(Task.title == "Dated"))
    if saved is None:
        page = response.get_data(as_text=True)
        assert "Enter a date and time as YYYY-MM-DD HH:MM" in page
        assert f'value="{typed}"' in page
        assert due is None and rows(Task) == 0
    else:
        assert response.status_code == 302
        assert str(due) == saved


def test_date_inputs_are_the_browsers_own(admin: Browser):
    def tag(path: str, field: str) -> str:
        page = admin.get(path).get_data(as_text=True)
        return re.search(rf'<input[^>]*id="{field}"[^>]*>', page).group(0)

    assert 'type="date"' in tag("/admin/leads/new/", "expected_close_date")
    assert 'type="datetime-local"' in tag("/admin/tasks/new/", "due_date")


def test_lead_boundaries_are_accepted(admin: Browser):
    stage = factories.stage(name="Edge Stage").id
    for probability, amount in (("0", "0.01"), ("100", "9999999999999.99")):
        response = admin.post(
            "/admin/leads/new/",
            {"title": f"Edge {probability}", "probability": probability, "amount": amount,
             "currency": "eur", "stage": stage},
        )  # fmt: skip
        assert response.status_code == 302
    assert db.session.scalar(select(Lead.currency).where(Lead.title == "Edge 0")) == "EUR"


def test_interaction_duration_must_be_positive(admin: Browser):
    response = admin.post(
        "/admin/interactions/new/", {"type": "call", "subject": "Hi", "duration_minutes": "0"}
    )
    assert "At least one minute" in response.get_data(as_text=True)
    assert rows(Interaction) == 0


def test_a_database_refusal_that_slips_past_the_form_is_a_message(admin: Browser, db_connection):
    # A check the form cannot know about, added behind its back.
    db_connection.execute(
        text("ALTER TABLE customers ADD CONSTRAINT chk_test_no_zed CHECK (name NOT LIKE 'Zed%')")
    )
    response = admin.post("/admin/customers/new/", {"name": "Zed", "company": "Zed Co"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not saved: The database refused the change" in page
    assert 'value="Zed Co"' in page
    assert rows(Customer) == 0


@pytest.mark.parametrize(
    ("endpoint", "make", "attribute", "expected"),
    [
        ("users", lambda: factories.user(role=UserRole.MANAGER), "role", UserRole.MANAGER),
        ("tasks", lambda: factories.task(status=TaskStatus.COMPLETED), "status", "completed"),
        (
            "interactions",
            lambda: factories.interaction(type=InteractionType.MEETING),
            "type",
            "meeting",
        ),
    ],
)
def test_an_edit_form_saved_unchanged_keeps_its_choices(
    browser: Browser, users, endpoint, make, attribute, expected
):
    """Enum selects show the row's value, so saving untouched changes nothing."""
    row = make()
    browser.login_as(users[UserRole.ADMIN])
    url = f"/admin/{endpoint}/edit/?id={row.id}"
    data = form_fields(browser.get(url).get_data(as_text=True))
    assert data[attribute] == str(expected)
    data.pop("csrf_token", None)
    assert browser.post(url, data).status_code == 302
    db.session.refresh(row)
    assert getattr(row, attribute) == expected


def test_the_created_message_links_to_the_new_record(admin: Browser):
    response = admin.post("/admin/customers/new/", {"name": "Linked <Co>", "company": "L"})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    made = db.session.scalar(select(Customer).where(Customer.name == "Linked <Co>"))
    assert (
        f'Record was successfully created. <a href="/admin/customers/details/?id={made.id}">'
        "Open Linked &lt;Co&gt; (L)</a>." in page
    )
