"""Each of the spec's constraints rejects what it should and accepts its boundaries.

Rows go in through raw SQL, so the database itself (not the ORM) is on trial.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DataError, IntegrityError

from crm.models import INDUSTRIES
from tests import factories


def insert(conn: Connection, sql: str, **params: Any) -> str | None:
    """Run one INSERT in a savepoint; the violated constraint's name, or None."""
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(sql), params)
    except IntegrityError as exc:
        savepoint.rollback()
        return exc.orig.diag.constraint_name or f"not-null:{exc.orig.diag.column_name}"
    savepoint.commit()
    return None


LEAD = "INSERT INTO leads (title, probability, amount) VALUES ('L', :probability, :amount)"
INTERACTION = "INSERT INTO interactions (type, duration_minutes) VALUES ('call', :duration)"
CUSTOMER = (
    "INSERT INTO customers (name, company, email, industry) "
    "VALUES (:name, :company, :email, :industry)"
)


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (101, "chk_leads_probability"),
        (-1, "chk_leads_probability"),
        (0, None),
        (100, None),
        (None, None),
    ],
)
def test_lead_probability_between_0_and_100(db_connection, probability, expected):
    assert insert(db_connection, LEAD, probability=probability, amount=None) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0, "chk_leads_amount"), (-10, "chk_leads_amount"), (0.01, None), (None, None)],
)
def test_lead_amount_positive_or_null(db_connection, amount, expected):
    assert insert(db_connection, LEAD, probability=50, amount=amount) == expected


def test_lead_amount_has_two_decimals_and_fifteen_digits(db_connection):
    assert insert(db_connection, LEAD, probability=1, amount=9_999_999_999_999.99) is None
    savepoint = db_connection.begin_nested()
    with pytest.raises(DataError, match="numeric field overflow"):
        db_connection.execute(text(LEAD), {"probability": 1, "amount": 10**13})
    savepoint.rollback()


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(0, "chk_interactions_duration"), (-5, "chk_interactions_duration"), (1, None), (None, None)],
)
def test_interaction_duration_positive_or_null(db_connection, duration, expected):
    assert insert(db_connection, INTERACTION, duration=duration) == expected


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "a@b.c", "a b@example.com", "@example.com", "a@exa mple.com"]
)
def test_malformed_customer_email_rejected(db_connection, email):
    name = f"C {email}"
    assert (
        insert(db_connection, CUSTOMER, name=name, company="X", email=email, industry=None)
        == "chk_customers_email"
    )


@pytest.mark.parametrize("email", ["first.last+tag@mail.example.co", "A_B%c-d@EXAMPLE.ORG", None])
def test_wellformed_customer_email_accepted(db_connection, email):
    name = f"C {email}"
    assert (
        insert(db_connection, CUSTOMER, name=name, company="X", email=email, industry=None) is None
    )


@pytest.mark.parametrize("industry", ["Aerospace", "technology", "Real estate", ""])
def test_unknown_industry_rejected(db_connection, industry):
    assert (
        insert(db_connection, CUSTOMER, name="C", company="X", email=None, industry=industry)
        == "chk_customers_industry"
    )


@pytest.mark.parametrize("industry", [*INDUSTRIES, None])
def test_each_spec_industry_accepted(db_connection, industry):
    name = f"C {industry}"
    assert (
        insert(db_connection, CUSTOMER, name=name, company="X", email=None, industry=industry)
        is None
    )


def test_duplicate_user_email_rejected(db_connection):
    sql = "INSERT INTO users (email, password_hash, name) VALUES (:email, 'h', 'N')"
    assert insert(db_connection, sql, email="dup@example.com") is None
    assert insert(db_connection, sql, email="dup@example.com") == "uk_users_email"
    assert insert(db_connection, sql, email="other@example.com") is None


def test_duplicate_customer_name_and_company_rejected(db_connection):
    row = {"email": None, "industry": None}
    assert insert(db_connection, CUSTOMER, name="Acme", company="Acme Inc", **row) is None
    assert (
        insert(db_connection, CUSTOMER, name="Acme", company="Acme Inc", **row)
        == "uk_customers_name_company"
    )
    # Same name at another company, or the same company under another name, is fine.
    assert insert(db_connection, CUSTOMER, name="Acme", company="Acme GmbH", **row) is None
    assert insert(db_connection, CUSTOMER, name="Acme West", company="Acme Inc", **row) is None


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("INSERT INTO users (password_hash, name) VALUES ('h', 'N')", "email"),
        ("INSERT INTO customers (company) VALUES ('X')", "name"),
        ("INSERT INTO lead_stages (description) VALUES ('d')", "name"),
        ("INSERT INTO leads (description) VALUES ('d')", "title"),
        ("INSERT INTO tasks (description) VALUES ('d')", "title"),
        ("INSERT INTO interactions (subject) VALUES ('s')", "type"),
        ("INSERT INTO audit_logs (table_name, action) VALUES ('t', 'a')", "record_id"),
    ],
)
def test_not_null_columns(db_connection, sql, column):
    assert insert(db_connection, sql) == f"not-null:{column}"


def test_enum_columns_reject_unknown_values(db_connection):
    savepoint = db_connection.begin_nested()
    with pytest.raises(DataError, match="invalid input value for enum user_role"):
        db_connection.execute(
            text(
                "INSERT INTO users (email, password_hash, name, role) "
                "VALUES ('e@x.io', 'h', 'n', 'root')"
            )
        )
    savepoint.rollback()


def test_defaults_fill_in(db_connection):
    owner = factories.user()
    row = db_connection.execute(
        text(
            "INSERT INTO leads (title, owner_id) VALUES ('T', :owner) "
            "RETURNING currency, created_at IS NOT NULL, updated_at IS NOT NULL"
        ),
        {"owner": owner.id},
    ).one()
    assert tuple(row) == ("USD", True, True)
    task = db_connection.execute(
        text("INSERT INTO tasks (title) VALUES ('T') RETURNING status::text, priority")
    ).one()
    assert tuple(task) == ("pending", "medium")
    user = db_connection.execute(
        text(
            "INSERT INTO users (email, password_hash, name) VALUES ('d@x.io', 'h', 'n') "
            "RETURNING role::text, is_active"
        )
    ).one()
    assert tuple(user) == ("user", True)
