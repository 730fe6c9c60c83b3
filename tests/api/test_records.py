"""Records through the API: the forms' messages, keyset pages, filters, search, ETags."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Connection, text

from crm.api.paging import encode
from crm.models import UserRole
from tests import factories
from tests.helpers import statements

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT


def errors(response) -> dict:
    assert response.status_code == 422, response.get_json()
    return response.get_json()["errors"]["json"]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/customers", {"name": "A", "email": "nope"}, "email", "Enter an email address like"),
        ("/customers", {"name": "   "}, "name", "This field is required."),
        ("/customers", {}, "name", "This field is required."),
        ("/customers", {"name": "x" * 256}, "name", "At most 255 characters."),
        ("/customers", {"name": "A", "industry": "Mining"}, "industry", "Pick an industry"),
        ("/customers", {"name": "A\x00B"}, "name", "Remove the NUL character"),
        ("/customers", {"name": "A", "colour": "red"}, "colour", "Unknown field."),
        ("/leads", {"title": "D", "amount": "-5"}, "amount", "must be more than zero"),
        ("/leads", {"title": "D", "amount": "1.005"}, "amount", "At most two decimal places."),
        ("/leads", {"title": "D", "amount": "NaN"}, "amount", "Enter an amount such as"),
        ("/leads", {"title": "D", "probability": 101}, "probability", "from 0 to 100"),
        ("/leads", {"title": "D", "probability": "50"}, "probability", "Not a valid integer."),
        ("/leads", {"title": "D", "currency": "EURO"}, "currency", "three-letter currency"),
        ("/leads", {"title": "D", "stage_id": None}, "stage_id", "every lead is in one"),
        ("/interactions", {"type": "fax"}, "type", "Pick a type"),
        ("/interactions", {"type": "call", "duration_minutes": 0}, "duration_minutes", "one"),
        ("/tasks", {"title": "T", "customer_id": 2**31}, "customer_id", "Not a valid id."),
        ("/tasks", {"title": "T", "due_date": "tomorrow"}, "due_date", "Not a valid datetime."),
        ("/lead_stages", {"name": "S", "rotting_days": 0}, "rotting_days", "At least one day"),
        ("/lead_stages", {"name": "S", "is_active": "yes"}, "is_active", "true or false"),
        ("/tasks", {"title": "T", "due_date": "0001-01-01T00:00:00+01:00"}, "due_date", "9999"),
        ("/interactions", {"type": "call", "duration_minutes": 2**31}, "duration_minutes", "one"),
        ("/users", {"name": "N", "email": "n@x.io", "password": "\ud800x"}, "password", "Unicode"),
    ],
)
def test_bad_input_gets_the_forms_message_by_field_and_saves_nothing(
    api, db_connection: Connection, path, body, field, message
):
    factories.stage(name="New")
    before = db_connection.scalar(text("SELECT count(*) FROM audit_logs"))
    found = errors(api[ADMIN].post(path, body))
    assert message in found[field][0]
    assert db_connection.scalar(text("SELECT count(*) FROM audit_logs")) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "could not be read"),
        (b"[1, 2]", "application/json", 422, ""),
        (b'{"name": "' + b"x" * 300_000 + b'"}', "application/json", 413, "too large"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_json_error(api, data, content_type, status, message):
    response = api[ADMIN]("POST", "/customers", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.is_json and message in response.get_json()["message"]


@pytest.mark.parametrize("bound", ["1e1000000", "1e-1000000", "-1", "NaN", "0.001"])
def test_an_amount_bound_no_lead_can_have_is_refused(api, bound):
    response = api[ADMIN].get(f"/leads?amount_min={bound}")
    assert response.status_code == 422
    assert "amount_min" in response.get_json()["errors"]["query"]


def test_json_nested_too_deeply_is_a_400(api):
    deep = b"[" * 5000 + b"]" * 5000
    response = api[ADMIN]("POST", "/customers", data=deep, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.get_json()["message"]


def test_a_duplicate_customer_is_refused_on_its_name_as_the_form_does(api):
    assert api[ADMIN].post("/customers", {"name": "Acme", "company": "Co"}).status_code == 201
    found = errors(api[ADMIN].post("/customers", {"name": "Acme", "company": "Co"}))
    assert found == {"name": ["A customer with this name already exists at this company."]}


def test_a_lead_starts_in_the_first_stage_and_amounts_travel_as_strings(api):
    factories.stage(name="Later", order_index=2)
    first = factories.stage(name="First", order_index=1)
    made = api[REP].post("/leads", {"title": "Deal", "amount": 1500.5, "currency": "eur"})
    assert made.status_code == 201
    body = made.get_json()
    assert (body["stage_id"], body["amount"], body["currency"]) == (first.id, "1500.50", "EUR")
    assert made.headers["Location"] == f"/api/v1/leads/{body['id']}"


def test_pages_follow_the_cursor_newest_first_without_repeats(api, users):
    made = [factories.customer(owner_id=users[REP].id).id for _ in range(5)]
    first = api[REP].get("/customers?limit=2")
    page = first.get_json()
    assert [row["id"] for row in page["items"]] == made[::-1][:2]
    assert first.headers["Link"].endswith('rel="next"') and page["next"] in first.headers["Link"]
    seen = [row["id"] for row in page["items"]]
    while page["next"]:
        page = api[REP].get(f"/customers?limit=2&after={page['next']}").get_json()
        seen += [row["id"] for row in page["items"]]
    assert seen == made[::-1]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("after=%25%25", "after", "Not a cursor this API gave"),
        (f"after={encode(1)[:-2]}", "after", "Not a cursor this API gave"),
        ("limit=0", "limit", "1 to 200 rows"),
        ("limit=201", "limit", "1 to 200 rows"),
        ("limit=ten", "limit", "Not a valid integer."),
        ("colour=red", "colour", "Unknown field."),
        ("status=gone", "status", "Pick a status."),
        ("created_from=yesterday", "created_from", "Not a valid datetime."),
        ("owner_id=99999999999", "owner_id", "Not a valid id."),
        ("created_from=0001-01-01T00:00:00%2B01:00", "created_from", "years 1 and 9999"),
        ("q=!!!", "q", "Type words to search for"),
    ],
)
def test_bad_list_arguments_are_named_with_a_message(api, query, field, message):
    response = api[ADMIN].get(f"/customers?{query}")
    assert response.status_code == 422
    assert message in response.get_json()["errors"]["query"][field][0]


def test_filters_and_search_narrow_the_list(api, users):
    factories.customer(name="Blue Whale", status="active", industry="Retail")
    factories.customer(name="Red Panda", status="inactive", industry="Retail")
    factories.customer(name="Blue Jay", status="active", industry="Finance")

    def names(query: str) -> list[str]:
        return sorted(row["name"] for row in api[ADMIN].get(f"/customers?{query}").json["items"])

    assert names("status=active&industry=Retail") == ["Blue Whale"]
    assert names("q=blue") == ["Blue Jay", "Blue Whale"]
    assert names("q=blue&status=active&industry=Finance") == ["Blue Jay"]
    assert names(f"created_from={datetime(2999, 1, 1).isoformat()}Z") == []


def test_a_list_page_costs_the_same_statements_whatever_its_size(api, users, db_connection):
    for _ in range(30):
        factories.lead(owner_id=users[REP].id)

    def count(limit: int) -> int:
        with statements(db_connection) as seen:
            assert api[REP].get(f"/leads?limit={limit}").status_code == 200
        return len([sql for sql, _ in seen if sql.startswith("SELECT") and "api_tokens" not in sql])

    api[REP].get("/leads")  # the token's first use of the minute is written down
    # The token's owner, then the page: related rows are ids, never loaded one by one.
    assert count(2) == count(25) == 2


def test_an_update_needs_the_etag_of_the_version_it_changes(api, users, db_connection):
    number = factories.customer(owner_id=users[REP].id, name="Acme").id
    path = f"/customers/{number}"
    etag = api[REP].fresh_etag(path)
    missing = api[REP].patch(path, {"city": "Oslo"}, None)
    assert missing.status_code == 428 and "If-Match" in missing.get_json()["message"]
    assert api[REP].patch(path, {"city": "Oslo"}, "*").status_code == 428
    changed = api[REP].patch(path, {"city": "Oslo"}, etag)
    assert changed.status_code == 200 and changed.get_json()["city"] == "Oslo"
    assert changed.headers["ETag"] != etag
    stale = api[MANAGER].patch(path, {"city": "Rome"}, etag)
    assert stale.status_code == 412
    assert stale.headers["ETag"] == changed.headers["ETag"]
    city = db_connection.scalar(text("SELECT city FROM customers WHERE id = :id"), {"id": number})
    assert city == "Oslo"


def test_a_delete_needs_the_etag_and_is_audited_as_the_tokens_owner(api, users, db_connection):
    number = factories.task(user_id=users[REP].id).id
    path = f"/tasks/{number}"
    assert api[REP].delete(path, '"tasks-0-v9"').status_code == 412
    assert api[REP].delete(path, api[REP].fresh_etag(path)).status_code == 204
    assert api[REP].get(path).status_code == 404
    row = db_connection.execute(
        text(
            "SELECT user_id, user_agent FROM audit_logs WHERE table_name = 'tasks' "
            "AND record_id = :id AND action = 'DELETE'"
        ),
        {"id": number},
    ).one()
    assert row.user_id == users[REP].id
    assert row.user_agent.startswith("API token #")


def test_the_audit_trail_is_readable_through_the_api(api, users):
    made = api[REP].post("/customers", {"name": "Acme"}).get_json()
    rows = api[SUPPORT].get(f"/audit_logs?table=customers&record_id={made['id']}").json["items"]
    assert [(row["action"], row["user_id"]) for row in rows] == [("INSERT", users[REP].id)]
    assert rows[0]["new_values"]["name"] == "Acme"
    assert api[SUPPORT].get(f"/audit_logs/{rows[0]['id']}").json["id"] == rows[0]["id"]


def test_an_admin_makes_users_with_a_password_that_never_comes_back(api, db_connection):
    none = errors(api[ADMIN].post("/users", {"name": "N", "email": "n@example.com"}))
    assert none == {"password": ["Give the new user a password."]}
    weak = errors(api[ADMIN].post("/users", {"name": "N", "email": "n@x.com", "password": "a"}))
    assert "password" in weak
    made = api[ADMIN].post(
        "/users", {"name": "N", "email": "New@Example.com", "password": "correct horse 42"}
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["email"] == "new@example.com" and body["role"] == "user"
    assert "password" not in body and "password_hash" not in body
    again = errors(
        api[ADMIN].post(
            "/users", {"name": "M", "email": "new@example.com", "password": "correct horse 42"}
        )
    )
    assert again == {"email": ["Another user already has that email."]}


def test_the_last_admin_cannot_be_demoted_through_the_api(api, users):
    path = f"/users/{users[ADMIN].id}"
    refused = api[ADMIN].patch(path, {"role": "user"}, api[ADMIN].fresh_etag(path))
    assert refused.status_code == 409
    assert "last active admin" in refused.get_json()["errors"]["json"]["_schema"][0]


def test_a_stage_with_leads_is_not_deleted_but_an_unused_one_is(api):
    used = factories.stage(name="Used")
    factories.lead(stage_id=used.id)
    unused = factories.stage(name="Unused")
    path = f"/lead_stages/{used.id}"
    kept = api[ADMIN].delete(path, api[ADMIN].fresh_etag(path))
    assert kept.status_code == 409
    assert "is_active to false" in kept.get_json()["errors"]["json"]["_schema"][0]
    path = f"/lead_stages/{unused.id}"
    assert api[ADMIN].delete(path, api[ADMIN].fresh_etag(path)).status_code == 204


def test_an_id_too_large_for_the_database_is_simply_not_there(api):
    assert api[ADMIN].get(f"/customers/{2**40}").status_code == 404
