"""ON DELETE rules behave as the spec says, through raw SQL and through the ORM."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import Customer, Interaction, Lead, LeadStage, Task, User
from tests import factories


@dataclass
class Graph:
    owner: User
    other: User
    customer: Customer
    stage: LeadStage
    lead: Lead
    task: Task
    interaction: Interaction


@pytest.fixture
def graph() -> Graph:
    """One of everything, linked the way the spec's relationships allow."""
    owner, other = factories.user(), factories.user()
    customer = factories.customer(owner_id=owner.id)
    stage = factories.stage()
    lead = factories.lead(customer_id=customer.id, stage_id=stage.id, owner_id=owner.id)
    task = factories.task(
        user_id=owner.id, assigned_to=other.id, customer_id=customer.id, lead_id=lead.id
    )
    interaction = factories.interaction(customer_id=customer.id, lead_id=lead.id, user_id=other.id)
    db.session.expunge_all()  # the database decides from here on
    return Graph(owner, other, customer, stage, lead, task, interaction)


def exists(conn: Connection, table: str, row_id: int) -> bool:
    return (
        conn.execute(text(f"SELECT 1 FROM {table} WHERE id = :id"), {"id": row_id}).first()
        is not None
    )


def column(conn: Connection, table: str, name: str, row_id: int) -> object:
    return conn.execute(
        text(f"SELECT {name} FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()


def delete(conn: Connection, table: str, row_id: int) -> None:
    conn.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})


def test_deleting_customer_deletes_leads_and_interactions_and_clears_tasks(db_connection, graph):
    delete(db_connection, "customers", graph.customer.id)
    assert not exists(db_connection, "leads", graph.lead.id)
    assert not exists(db_connection, "interactions", graph.interaction.id)
    assert exists(db_connection, "tasks", graph.task.id)
    assert column(db_connection, "tasks", "customer_id", graph.task.id) is None
    # the task's lead went with the customer, so its lead is cleared too
    assert column(db_connection, "tasks", "lead_id", graph.task.id) is None


def test_deleting_user_clears_owners_and_deletes_their_tasks_and_interactions(db_connection, graph):
    delete(db_connection, "users", graph.owner.id)
    assert column(db_connection, "customers", "owner_id", graph.customer.id) is None
    assert column(db_connection, "leads", "owner_id", graph.lead.id) is None
    assert not exists(db_connection, "tasks", graph.task.id)  # tasks.user_id CASCADE
    assert exists(db_connection, "interactions", graph.interaction.id)  # logged by `other`

    delete(db_connection, "users", graph.other.id)
    assert not exists(db_connection, "interactions", graph.interaction.id)  # user_id CASCADE


def test_deleting_assignee_clears_assigned_to(db_connection, graph):
    delete(db_connection, "users", graph.other.id)
    assert exists(db_connection, "tasks", graph.task.id)
    assert column(db_connection, "tasks", "assigned_to", graph.task.id) is None


def test_deleting_lead_clears_tasks_and_interactions_lead(db_connection, graph):
    delete(db_connection, "leads", graph.lead.id)
    assert column(db_connection, "tasks", "lead_id", graph.task.id) is None
    assert column(db_connection, "interactions", "lead_id", graph.interaction.id) is None
    assert exists(db_connection, "tasks", graph.task.id)
    assert exists(db_connection, "interactions", graph.interaction.id)


def test_deleting_stage_clears_leads_stage(db_connection, graph):
    delete(db_connection, "lead_stages", graph.stage.id)
    assert exists(db_connection, "leads", graph.lead.id)
    assert column(db_connection, "leads", "stage_id", graph.lead.id) is None


def test_deleting_user_clears_audit_rows_user(db_connection, graph):
    row_id = db_connection.execute(
        text(
            "INSERT INTO audit_logs (table_name, record_id, action, user_id) "
            "VALUES ('customers', 1, 'UPDATE', :user) RETURNING id"
        ),
        {"user": graph.owner.id},
    ).scalar_one()
    delete(db_connection, "users", graph.owner.id)
    assert column(db_connection, "audit_logs", "user_id", row_id) is None


def test_orm_delete_of_loaded_customer_matches_database_rules(db_connection, graph):
    """With children loaded, the ORM does what the database would have done."""
    customer = db.session.get(Customer, graph.customer.id)
    assert [lead.id for lead in customer.leads] == [graph.lead.id]
    assert [task.id for task in customer.tasks] == [graph.task.id]
    db.session.delete(customer)
    db.session.flush()
    assert not exists(db_connection, "leads", graph.lead.id)
    assert not exists(db_connection, "interactions", graph.interaction.id)
    assert column(db_connection, "tasks", "customer_id", graph.task.id) is None


def test_relationships_navigate_both_ways(graph):
    lead = db.session.get(Lead, graph.lead.id)
    assert lead.customer.id == graph.customer.id
    assert lead.stage.leads == [lead]
    assert lead.owner.leads == [lead]
    assert lead.tasks[0].assignee.assigned_tasks == [lead.tasks[0]]
    assert lead.interactions[0].user.interactions == lead.interactions
    assert lead.customer.owner.customers == [lead.customer]
