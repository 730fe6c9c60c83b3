"""Database triggers: updated_at and the closed-stage ids of idx_leads_active."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from crm.models.lead import CLOSED_LOST, CLOSED_WON
from tests import factories

OLD = "2000-01-01 00:00:00"


@pytest.mark.parametrize("table", ["users", "customers", "leads", "tasks", "interactions"])
def test_raw_sql_update_moves_updated_at(db_connection: Connection, table: str):
    row_id = _row_with_old_stamp(db_connection, table)
    db_connection.execute(
        text(f"UPDATE {table} SET {_text_column(table)} = 'changed' WHERE id = :id"), {"id": row_id}
    )
    stamp = db_connection.execute(
        text(f"SELECT updated_at > TIMESTAMP '{OLD}' FROM {table} WHERE id = :id"), {"id": row_id}
    ).scalar_one()
    assert stamp is True


def test_update_that_changes_nothing_keeps_updated_at(db_connection: Connection):
    row_id = _row_with_old_stamp(db_connection, "customers")
    db_connection.execute(text("UPDATE customers SET name = name WHERE id = :id"), {"id": row_id})
    stamp = db_connection.execute(
        text("SELECT updated_at FROM customers WHERE id = :id"), {"id": row_id}
    ).scalar_one()
    assert str(stamp) == OLD


def _text_column(table: str) -> str:
    return {"users": "name", "customers": "notes", "interactions": "subject"}.get(
        table, "description"
    )


def _row_with_old_stamp(conn: Connection, table: str) -> int:
    builders = {
        "users": factories.user,
        "customers": factories.customer,
        "leads": factories.lead,
        "tasks": factories.task,
        "interactions": factories.interaction,
    }
    row_id = builders[table]().id
    # Setting the stamp is itself an update the trigger would overwrite; disable it.
    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER trg_{table}_updated_at"))
    conn.execute(text(f"UPDATE {table} SET updated_at = '{OLD}' WHERE id = :id"), {"id": row_id})
    conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER trg_{table}_updated_at"))
    return row_id


def active_index_predicate(conn: Connection) -> str:
    return conn.execute(
        text("SELECT pg_get_indexdef(CAST('idx_leads_active' AS regclass))")
    ).scalar_one()


def test_idx_leads_active_starts_with_the_spec_ids(db_connection: Connection):
    assert active_index_predicate(db_connection).endswith("WHERE (stage_id <> ALL (ARRAY[6, 7]))")


def test_idx_leads_active_follows_closed_stage_ids(db_connection: Connection):
    # Closed stages created first, so they do not get ids 6 and 7.
    won = factories.stage(name=CLOSED_WON, order_index=6)
    lost = factories.stage(name=CLOSED_LOST, order_index=7)
    for n in range(1, 6):
        factories.stage(name=f"Open {n}", order_index=n)
    assert (won.id, lost.id) != (6, 7)
    assert active_index_predicate(db_connection).endswith(
        f"WHERE (stage_id <> ALL (ARRAY[{won.id}, {lost.id}]))"
    )

    # Renaming a stage away from "Closed Lost" drops it from the predicate.
    db_connection.execute(
        text("UPDATE lead_stages SET name = 'Lost (old)' WHERE id = :id"), {"id": lost.id}
    )
    assert active_index_predicate(db_connection).endswith(f"WHERE (stage_id <> {won.id})")


def test_a_closed_stage_can_be_deleted_and_the_index_follows_at_commit(
    db_connection: Connection,
):
    """Deleting a closed stage used to fail (the rebuild met the pending events of the
    delete's ON DELETE SET NULL on leads); the index now follows when they are done."""
    won = factories.stage(name=CLOSED_WON, order_index=6)
    lost = factories.stage(name=CLOSED_LOST, order_index=7)
    factories.stage(name="Open", order_index=1)
    before = active_index_predicate(db_connection)
    assert before.endswith(f"WHERE (stage_id <> ALL (ARRAY[{won.id}, {lost.id}]))")
    db_connection.execute(text("DELETE FROM lead_stages WHERE id = :id"), {"id": lost.id})
    assert active_index_predicate(db_connection) == before  # for now: still correct
    db_connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # as at commit
    assert active_index_predicate(db_connection).endswith(f"WHERE (stage_id <> {won.id})")


def test_idx_leads_active_is_not_rebuilt_when_ids_are_unchanged(db_connection: Connection):
    factories.stage(name=CLOSED_WON)
    oid = _index_oid(db_connection)
    factories.stage(name="Another open stage")
    db_connection.execute(text("UPDATE lead_stages SET name = name || ''"))
    assert _index_oid(db_connection) == oid


def _index_oid(conn: Connection) -> int:
    return conn.execute(
        text("SELECT CAST(CAST('idx_leads_active' AS regclass) AS oid)")
    ).scalar_one()


def test_idx_leads_active_serves_active_lead_queries_after_rebuild(db_connection: Connection):
    open_stage = factories.stage(name="Open")
    won = factories.stage(name=CLOSED_WON)
    lost = factories.stage(name=CLOSED_LOST)
    first_owner = (
        db_connection.execute(
            text(
                "INSERT INTO users (email, password_hash, name) "
                "SELECT 'owner' || g || '@example.com', 'h', 'Owner ' || g "
                "FROM generate_series(1, 50) g "
                "RETURNING id"
            )
        )
        .scalars()
        .all()[0]
    )
    db_connection.execute(
        text(
            "INSERT INTO leads (title, owner_id, stage_id) "
            "SELECT 'L' || g, :first + (g % 50), (ARRAY[:open, :won, :lost])[1 + g % 3] "
            "FROM generate_series(1, 6000) g"
        ),
        {"first": first_owner, "open": open_stage.id, "won": won.id, "lost": lost.id},
    )
    db_connection.execute(text("ANALYZE leads"))
    plan = db_connection.execute(
        text(
            f"EXPLAIN SELECT id, stage_id FROM leads WHERE owner_id = {first_owner} "
            f"AND stage_id NOT IN ({won.id}, {lost.id})"
        )
    ).scalars()
    assert "idx_leads_active" in "\n".join(plan)
