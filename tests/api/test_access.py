"""The API keeps the pages' role matrix and row rules (issue 20, part 1)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, func, select, text

from crm.api.resources import SERVED
from crm.extensions import db
from crm.models import AuditLog, UserRole
from crm.security import policy
from crm.security.policy import Action
from tests import factories

ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT

# (role, method, path) -> the status the role matrix gives (docs/DESIGN.md "Roles").
MATRIX = [
    (SUPPORT, "POST", "/customers", 403),
    (SUPPORT, "GET", "/customers", 200),
    (REP, "DELETE", "/customers/{customer}", 403),
    (REP, "DELETE", "/leads/{lead}", 403),
    (REP, "DELETE", "/tasks/{task}", 428),  # allowed: asks for If-Match first
    (MANAGER, "DELETE", "/customers/{customer}", 428),
    (REP, "GET", "/users", 403),
    (MANAGER, "GET", "/users", 200),
    (MANAGER, "POST", "/users", 403),
    (ADMIN, "DELETE", "/users/{rep}", 405),  # users are deactivated, never deleted
    (REP, "GET", "/audit_logs", 403),
    (SUPPORT, "GET", "/audit_logs", 200),
    (REP, "GET", "/pipeline", 200),
    (SUPPORT, "GET", "/pipeline", 403),
    (REP, "GET", "/lead_stages", 200),
    (MANAGER, "POST", "/lead_stages", 403),
]


@pytest.mark.parametrize(("role", "method", "path", "status"), MATRIX)
def test_each_role_gets_what_the_matrix_gives_it(api, users, role, method, path, status):
    customer = factories.customer(owner_id=users[REP].id)
    lead = factories.lead(customer_id=customer.id, owner_id=users[REP].id)
    task = factories.task(user_id=users[REP].id)
    address = path.format(customer=customer.id, lead=lead.id, task=task.id, rep=users[REP].id)
    body = {"name": "X"} if method == "POST" else None
    response = api[role](method, address, json=body)
    assert response.status_code == status, response.get_json()
    if status == 403:
        assert response.get_json()["message"]


def test_a_rep_lists_only_their_own_rows_and_gets_404_for_anyone_elses(api, users):
    mine = factories.customer(owner_id=users[REP].id, name="Mine")
    theirs = factories.customer(owner_id=users[MANAGER].id, name="Theirs")
    listed = api[REP].get("/customers").get_json()["items"]
    assert [row["name"] for row in listed] == ["Mine"]
    assert api[REP].get(f"/customers/{mine.id}").status_code == 200
    missing = api[REP].get(f"/customers/{theirs.id}")
    assert missing.status_code == 404
    # The same answer as for an id nobody has: the rule does not reveal the row.
    assert missing.get_json()["message"] == f"No customers record {theirs.id} that you can read."
    assert api[REP].patch(f"/customers/{theirs.id}", {"city": "X"}, '"x"').status_code == 404


def test_a_reps_tasks_are_theirs_and_those_assigned_to_them(api, users):
    own = factories.task(user_id=users[REP].id, title="Own")
    given = factories.task(user_id=users[MANAGER].id, assigned_to=users[REP].id, title="Given")
    factories.task(user_id=users[MANAGER].id, title="Other")
    titles = [row["title"] for row in api[REP].get("/tasks").get_json()["items"]]
    assert titles == ["Given", "Own"]  # newest first, each once
    assert {own.id, given.id} == {row["id"] for row in api[REP].get("/tasks").get_json()["items"]}


def test_a_reps_interactions_include_those_on_their_customers(api, users):
    customer = factories.customer(owner_id=users[REP].id)
    on_mine = factories.interaction(user_id=users[MANAGER].id, customer_id=customer.id)
    logged = factories.interaction(user_id=users[REP].id)
    factories.interaction(user_id=users[MANAGER].id)
    ids = [row["id"] for row in api[REP].get("/interactions").get_json()["items"]]
    assert ids == [logged.id, on_mine.id]


def test_a_rep_cannot_give_a_record_to_someone_else(api, users):
    answer = api[REP].post("/customers", {"name": "Acme", "owner_id": users[MANAGER].id})
    assert answer.status_code == 422
    assert "Sales reps cannot give a record" in answer.get_json()["errors"]["json"]["owner_id"][0]
    made = api[REP].post("/customers", {"name": "Acme"})
    assert made.status_code == 201 and made.get_json()["owner_id"] == users[REP].id


def test_a_manager_can_choose_the_owner_and_defaults_to_themselves(api, users):
    assert (
        api[MANAGER].post("/customers", {"name": "A"}).get_json()["owner_id"] == users[MANAGER].id
    )
    given = api[MANAGER].post("/customers", {"name": "B", "owner_id": users[REP].id})
    assert given.get_json()["owner_id"] == users[REP].id


def test_a_related_row_the_caller_cannot_read_is_refused_by_field(api, users):
    theirs = factories.customer(owner_id=users[MANAGER].id)
    answer = api[REP].post("/leads", {"title": "Deal", "customer_id": theirs.id})
    assert answer.status_code == 422
    assert answer.get_json()["errors"]["json"] == {
        "customer_id": ["Pick one from the list: that record is not available to you."]
    }
    assigned = api[REP].post("/tasks", {"title": "T", "assigned_to": users[MANAGER].id})
    assert assigned.status_code == 422  # a rep's user picker offers only themselves


def test_a_read_only_token_reads_but_never_writes(client, users, db_connection: Connection):
    from tests.api.conftest import Caller

    reader = Caller(client, users[ADMIN], scope="read")
    assert reader.get("/customers").status_code == 200
    refused = reader.post("/customers", {"name": "Nope"})
    assert refused.status_code == 403 and "read-only" in refused.get_json()["message"]
    assert db_connection.scalar(text("SELECT count(*) FROM customers")) == 0


def test_the_pipeline_of_a_rep_is_their_own_whatever_owner_they_ask_for(api, users):
    stage = factories.stage(name="New", order_index=1)
    factories.lead(stage_id=stage.id, owner_id=users[REP].id)
    factories.lead(stage_id=stage.id, owner_id=users[MANAGER].id)
    factories.lead(stage_id=stage.id, owner_id=users[MANAGER].id)
    asked = api[REP].get(f"/pipeline?owner_id={users[MANAGER].id}").get_json()
    assert asked["steps"][0]["here"]["leads"] == 1
    assert api[MANAGER].get("/pipeline").get_json()["steps"][0]["here"]["leads"] == 3


RESOURCES = {kind.name: kind.resource for kind in SERVED}


def _endpoints() -> list[tuple[str, str, str, Action]]:
    """Every record endpoint: (kind, method, path with {id}, the action it needs)."""
    found = []
    for kind in SERVED:
        found += [(kind.name, "GET", f"/{kind.name}", Action.READ)]
        found += [(kind.name, "GET", f"/{kind.name}/{{id}}", Action.READ)]
        if kind.into is not None:
            found += [(kind.name, "POST", f"/{kind.name}", Action.CREATE)]
            found += [(kind.name, "PATCH", f"/{kind.name}/{{id}}", Action.UPDATE)]
            if kind.deletes:
                found += [(kind.name, "DELETE", f"/{kind.name}/{{id}}", Action.DELETE)]
    return found


@pytest.mark.parametrize("role", list(UserRole))
def test_every_endpoint_answers_each_role_as_the_matrix_says(api, users, role):
    """A role without the action: 403 before anything else; with it: never a 403."""
    rows = {
        "customers": factories.customer(owner_id=users[role].id).id,
        "leads": factories.lead(owner_id=users[role].id).id,
        "tasks": factories.task(user_id=users[role].id).id,
        "interactions": factories.interaction(user_id=users[role].id).id,
        "lead_stages": factories.stage().id,
        "users": users[role].id,
    }
    rows["audit_logs"] = db.session.scalar(select(func.max(AuditLog.id)))
    wrong = []
    for kind, method, path, action in _endpoints():
        body = {} if method in ("POST", "PATCH") else None
        answer = api[role](method, path.format(id=rows[kind]), json=body)
        allowed = policy.allowed(users[role], RESOURCES[kind], action)
        if (answer.status_code == 403) == allowed:
            wrong.append((method, path, answer.status_code))
    assert wrong == []
