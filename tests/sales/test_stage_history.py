"""Stage history (migration 0022): every stage a lead entered, by any path, and the backfill."""

from __future__ import annotations

import flask_migrate
import pytest
from flask import Flask
from sqlalchemy import Connection, select, text

from crm.extensions import db
from crm.models import Lead, LeadStage, LeadStageHistory, UserRole
from tests import factories
from tests.helpers import Browser, role_before_migration

ADMIN, REP = UserRole.ADMIN, UserRole.USER


def history(lead_id: int) -> list[tuple[int | None, int | None, int | None]]:
    """(from, to, by) of a lead's rows, oldest first."""
    rows = db.session.execute(
        select(
            LeadStageHistory.from_stage_id,
            LeadStageHistory.to_stage_id,
            LeadStageHistory.changed_by,
        )
        .where(LeadStageHistory.lead_id == lead_id)
        .order_by(LeadStageHistory.changed_at, LeadStageHistory.id)
    )
    return [tuple(row) for row in rows]


@pytest.fixture
def stages() -> dict[str, int]:
    return {name: factories.stage(name=name, order_index=n).id for n, name in enumerate("ABC")}


def test_a_new_lead_enters_its_stage_at_its_creation_time(db_connection: Connection, stages):
    lead = factories.lead(stage_id=stages["A"])
    assert history(lead.id) == [(None, stages["A"], None)]
    changed_at = db.session.scalar(
        select(LeadStageHistory.changed_at).where(LeadStageHistory.lead_id == lead.id)
    )
    assert changed_at == db.session.get(Lead, lead.id).created_at


def test_raw_sql_moves_are_recorded_with_the_transactions_actor_and_no_move_is_not(
    db_connection: Connection, users, stages
):
    lead = factories.lead(stage_id=stages["A"])
    db_connection.execute(
        text("SELECT set_config('crm.user_id', :u, true)"), {"u": str(users[REP].id)}
    )
    db_connection.execute(
        text("UPDATE leads SET title = 'Renamed' WHERE id = :id"), {"id": lead.id}
    )
    db_connection.execute(
        text("UPDATE leads SET stage_id = stage_id WHERE id = :id"), {"id": lead.id}
    )  # the same stage again: no move
    for stage in ("C", "B"):  # forwards, then backwards
        db_connection.execute(
            text("UPDATE leads SET stage_id = :s WHERE id = :id"),
            {"s": stages[stage], "id": lead.id},
        )
    rep = users[REP].id
    assert history(lead.id) == [
        (None, stages["A"], None),
        (stages["A"], stages["C"], rep),
        (stages["C"], stages["B"], rep),
    ]


def test_one_insert_of_many_leads_gives_each_its_row(db_connection: Connection, stages):
    db_connection.execute(
        text(
            "INSERT INTO leads (title, stage_id) "
            "SELECT 'Bulk ' || g, :s FROM generate_series(1, 50) g"
        ),
        {"s": stages["B"]},
    )
    counted = db_connection.execute(
        text(
            "SELECT count(*) FROM lead_stage_history h JOIN leads l ON l.id = h.lead_id "
            "WHERE l.title LIKE 'Bulk %' AND h.to_stage_id = :s AND h.from_stage_id IS NULL"
        ),
        {"s": stages["B"]},
    ).scalar_one()
    assert counted == 50


def test_the_board_and_the_bulk_action_record_who_moved_the_lead(browser: Browser, users, stages):
    admin = users[ADMIN]
    leads = [factories.lead(stage_id=stages["A"], owner_id=admin.id) for _ in range(3)]
    browser.login_as(admin)
    moved = browser.post("/admin/pipeline/move", {"lead": leads[0].id, "stage": stages["B"]})
    assert moved.status_code == 302
    done = browser.post(
        "/admin/leads/action/",
        {"action": "move_stage", "rowid": [leads[1].id, leads[2].id], "confirmed": "yes",
         "stage_id": str(stages["C"])},
    )  # fmt: skip
    assert done.status_code == 302
    assert history(leads[0].id)[-1] == (stages["A"], stages["B"], admin.id)
    assert [history(lead.id)[-1] for lead in leads[1:]] == [
        (stages["A"], stages["C"], admin.id)
    ] * 2


def test_a_lead_made_in_the_form_enters_its_stage_by_its_maker(browser: Browser, users, stages):
    browser.login_as(users[REP])
    made = browser.post("/admin/leads/new/", {"title": "Form lead", "stage": stages["B"]})
    assert made.status_code == 302
    lead = db.session.scalar(select(Lead).where(Lead.title == "Form lead"))
    assert history(lead.id) == [(None, stages["B"], users[REP].id)]


def test_deleting_a_stage_records_its_leads_leaving_it(db_connection: Connection, stages):
    """ON DELETE SET NULL moves the stage's leads to no stage: a row, with the stage gone."""
    lead = factories.lead(stage_id=stages["C"])
    db_connection.execute(text("DELETE FROM lead_stages WHERE id = :id"), {"id": stages["C"]})
    assert history(lead.id) == [(None, None, None), (None, None, None)]
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage_id is None


def test_a_leads_history_goes_with_it(db_connection: Connection, stages):
    lead = factories.lead(stage_id=stages["A"])
    db_connection.execute(text("DELETE FROM leads WHERE id = :id"), {"id": lead.id})
    assert history(lead.id) == []


def test_a_stage_a_lead_passed_through_is_deactivated_not_deleted(browser: Browser, users, stages):
    lead = factories.lead(stage_id=stages["A"])
    lead.stage_id = stages["B"]
    db.session.flush()  # A is now only in the lead's history
    browser.login_as(users[ADMIN])
    browser.post("/admin/lead-stages/delete/", {"id": stages["A"]})
    page = browser.get("/admin/lead-stages/").get_data(as_text=True)
    assert "is in leads&#39; stage history, so it was deactivated" in page
    assert db.session.get(LeadStage, stages["A"]).is_active is False
    assert history(lead.id)[0] == (None, stages["A"], None)


@pytest.mark.own_database
def test_the_migration_rebuilds_history_from_the_audit_trail(scratch_app: Flask):
    """Recorded changes become rows; every lead gets its creation row, into the stage it
    left first (or the one it is in), by whoever created it; the app's role may write it."""
    with (
        scratch_app.app_context(),
        role_before_migration(
            "0021_pipeline_totals",
            "crm_app_history",
            "GRANT SELECT, INSERT ON audit_logs TO {role}",
            "GRANT USAGE, SELECT ON SEQUENCE audit_logs_id_seq TO {role}",
        ) as role,
    ):
        with db.engine.begin() as conn:
            maker = conn.execute(
                text("INSERT INTO users (email, password_hash, name) VALUES ('m@x.io', 'h', 'M') "
                     "RETURNING id")
            ).scalar_one()  # fmt: skip
            a, b, c = (
                conn.execute(
                    text(
                        "INSERT INTO lead_stages (name, order_index) VALUES (:n, :o) RETURNING id"
                    ),
                    {"n": name, "o": n},
                ).scalar_one()
                for n, name in enumerate("ABC")
            )
            conn.execute(text("SELECT set_config('crm.user_id', :u, true)"), {"u": str(maker)})
            moved, still, gone = (
                conn.execute(
                    text("INSERT INTO leads (title, stage_id) VALUES (:t, :s) RETURNING id"),
                    {"t": title, "s": a},
                ).scalar_one()
                for title in ("Moved", "Still", "Gone")
            )
        with db.engine.begin() as conn:  # a later transaction, by nobody in particular
            for stage in (c, b):
                for lead in (moved, gone):
                    conn.execute(
                        text("UPDATE leads SET stage_id = :s WHERE id = :id"),
                        {"s": stage, "id": lead},
                    )
            conn.execute(text("DELETE FROM leads WHERE id = :id"), {"id": gone})  # no history
        flask_migrate.upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT lead_id, from_stage_id, to_stage_id, changed_by "
                    "FROM lead_stage_history ORDER BY lead_id, changed_at, id"
                )
            ).all()
            may = [
                conn.scalar(
                    text("SELECT has_table_privilege(:r, 'lead_stage_history', :p)"),
                    {"r": role, "p": privilege},
                )
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE")
            ]
            may.append(
                conn.scalar(
                    text("SELECT has_sequence_privilege(:r, 'lead_stage_history_id_seq', 'USAGE')"),
                    {"r": role},
                )
            )
            # Migration 0024's backfill: the paths of the leads that moved, from this history.
            paths = conn.execute(
                text(
                    "SELECT id, stages_passed, previous_stage_id, stage_entered_at IS NOT NULL "
                    "FROM leads ORDER BY id"
                )
            ).all()
        assert [tuple(row) for row in rows] == [
            (moved, None, a, maker),
            (moved, a, c, None),
            (moved, c, b, None),
            (still, None, a, maker),
        ]
        assert may == [True, True, False, False, True]  # and the id sequence
        assert [tuple(row) for row in paths] == [
            (moved, sorted([a, c]), c, True),  # passed A and C, left C for B
            (still, [], None, False),  # never moved: the defaults
        ]
