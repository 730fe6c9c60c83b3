"""The database side of retention: leads.closed_at, the purge's refusals, audit skip rules."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Connection, text

from crm.models.lead import CLOSED_LOST, CLOSED_WON
from tests import factories
from tests.helpers import refused


def closed_at(conn: Connection, lead_id: int) -> datetime | None:
    return conn.scalar(text("SELECT closed_at FROM leads WHERE id = :id"), {"id": lead_id})


def move(conn: Connection, lead_id: int, **values: object) -> None:
    sets = ", ".join(f"{column} = :{column}" for column in values)
    conn.execute(text(f"UPDATE leads SET {sets} WHERE id = :id"), {"id": lead_id, **values})


def test_closed_at_follows_the_stage(db_connection: Connection):
    open_stage = factories.stage(name="Open")
    won = factories.stage(name=CLOSED_WON)
    lost = factories.stage(name=CLOSED_LOST)
    now = db_connection.scalar(text("SELECT CAST(CURRENT_TIMESTAMP AS timestamp)"))
    lead = factories.lead(stage_id=open_stage.id).id
    assert closed_at(db_connection, lead) is None

    move(db_connection, lead, stage_id=won.id)
    assert closed_at(db_connection, lead) == now
    # A correction of the date is kept, and edits elsewhere leave it alone.
    move(db_connection, lead, closed_at=datetime(2020, 5, 1))
    move(db_connection, lead, title="Renamed")
    assert closed_at(db_connection, lead) == datetime(2020, 5, 1)
    # Won -> Lost closes it again; reopening clears it; a stray date on an open lead is dropped.
    move(db_connection, lead, stage_id=lost.id)
    assert closed_at(db_connection, lead) == now
    move(db_connection, lead, stage_id=open_stage.id)
    assert closed_at(db_connection, lead) is None
    move(db_connection, lead, closed_at=datetime(2020, 5, 1))
    assert closed_at(db_connection, lead) is None


def test_a_closed_lead_inserted_keeps_its_own_closing_date(db_connection: Connection):
    won = factories.stage(name=CLOSED_WON)
    imported = factories.lead(stage_id=won.id, closed_at=datetime(2019, 3, 1)).id
    fresh = factories.lead(stage_id=won.id).id
    assert closed_at(db_connection, imported) == datetime(2019, 3, 1)
    assert closed_at(db_connection, fresh) is not None


@pytest.mark.parametrize(
    ("target", "years"), [("leads", 5), ("tasks", 3), ("interactions", 7), ("customers", 1)]
)
def test_the_purge_refuses_cutoffs_the_policy_does_not_allow(
    db_connection: Connection, target: str, years: int
):
    message = refused(
        db_connection,
        "SELECT crm_retention_purge(:t, CAST(now() - make_interval(years => :y) "
        "+ interval '1 day' AS timestamp), 10)",
        {"t": target, "y": years},
    )
    expected = "no retention rule for customers" if target == "customers" else "too recent"
    assert expected in message


def test_setting_the_retention_flag_by_hand_does_not_hide_deletes(db_connection: Connection):
    lead = factories.lead(title="Watched").id
    db_connection.execute(text("SELECT set_config('crm.retention', 'on', true)"))
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": lead})
    deleted = db_connection.scalar(
        text(
            "SELECT old_values->>'title' FROM audit_logs "
            "WHERE table_name = 'leads' AND record_id = :id AND action = 'DELETE'"
        ),
        {"id": lead},
    )
    assert deleted == "Watched"
