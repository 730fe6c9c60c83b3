"""`flask crm demo-data`: deterministic, consistent, one transaction, clear refusals."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import text

from crm.extensions import db
from crm.maintenance import demo_data
from crm.maintenance.rates import DEMO_MONTHS
from tests import introspect

SCALE = "0.0005"  # 500 customers, 1,000 leads, 500 tasks, 1,500 interactions, 2,500 audit rows


@pytest.fixture
def seeded(cli: FlaskCliRunner) -> FlaskCliRunner:
    assert cli.invoke(args=["crm", "seed"]).exit_code == 0
    return cli


def counts() -> dict[str, int]:
    tables = ("users", "customers", "leads", "tasks", "interactions", "audit_logs")
    return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def fingerprint() -> str:
    """A digest of the generated rows in load order: what people read, not the ids."""
    return db.session.execute(
        text(
            """
            SELECT md5(string_agg(concat_ws('|', c.name, c.company, c.email, c.industry,
                                            c.status, u.email), ',' ORDER BY c.id))
              || md5((SELECT string_agg(concat_ws('|', l.title, l.amount, l.currency, s.name,
                                                  lc.name, lu.email), ',' ORDER BY l.id)
                      FROM leads l JOIN lead_stages s ON s.id = l.stage_id
                      JOIN customers lc ON lc.id = l.customer_id
                      JOIN users lu ON lu.id = l.owner_id))
            FROM customers c JOIN users u ON u.id = c.owner_id
            WHERE u.email LIKE '%@demo.crm.example'
            """
        )
    ).scalar_one()


def test_loads_the_scaled_volumes_with_progress(seeded: FlaskCliRunner):
    seed_audit_rows = counts()["audit_logs"]  # the seed's own inserts are audited
    assert seed_audit_rows == 4 + 7 + 3 + 6  # users, stages, sample customers, rates
    result = seeded.invoke(args=["crm", "demo-data", "--scale", SCALE])
    assert result.exit_code == 0, result.output
    assert "Loading demo data" in result.output
    assert (
        "500 customers, 1,000 leads, 500 tasks, 1,500 interactions, 2,500 audit rows"
        in result.output
    )
    assert counts() == {
        "users": 4 + 10,
        "customers": 3 + 500,
        "leads": 1000,
        "tasks": 500,
        "interactions": 1500,
        # The load's INSERTs write none; its monthly exchange rates (36 months of
        # six currencies) are audited as an admin's would be.
        "audit_logs": seed_audit_rows + 2500 + DEMO_MONTHS * 6,
    }


def test_demo_tasks_send_no_assignment_notices(seeded: FlaskCliRunner):
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    assigned = db.session.scalar(text("SELECT count(*) FROM tasks WHERE assigned_to IS NOT NULL"))
    assert assigned > 0
    assert db.session.scalar(text("SELECT count(*) FROM notifications")) == 0


def test_same_scale_gives_the_same_data(seeded: FlaskCliRunner):
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    first = fingerprint()
    replaced = seeded.invoke(args=["crm", "demo-data", "--scale", SCALE, "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert len(first) == 64
    assert fingerprint() == first


def test_relationships_are_consistent(seeded: FlaskCliRunner):
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    mismatched = db.session.execute(
        text(
            """
            SELECT
              (SELECT count(*) FROM leads l JOIN customers c ON c.id = l.customer_id
                WHERE l.owner_id IS DISTINCT FROM c.owner_id),
              (SELECT count(*) FROM tasks t JOIN leads l ON l.id = t.lead_id
                WHERE t.customer_id IS DISTINCT FROM l.customer_id),
              (SELECT count(*) FROM interactions i JOIN leads l ON l.id = i.lead_id
                WHERE i.customer_id IS DISTINCT FROM l.customer_id),
              (SELECT count(DISTINCT stage_id) FROM leads),
              (SELECT count(DISTINCT currency) FROM leads),
              (SELECT count(DISTINCT source) FROM leads)
            """
        )
    ).one()
    assert tuple(mismatched[:3]) == (0, 0, 0)
    assert mismatched[3] == 7  # every stage
    assert mismatched[4] >= 4 and mismatched[5] >= 6  # several currencies and sources


def test_indexes_and_keys_are_back_after_the_load(seeded: FlaskCliRunner, db_connection):
    before = (introspect.indexes(db_connection), introspect.constraints(db_connection, "f"))
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    assert (introspect.indexes(db_connection), introspect.constraints(db_connection, "f")) == before


def test_second_load_is_refused_and_if_missing_is_quiet(seeded: FlaskCliRunner):
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    again = seeded.invoke(args=["crm", "demo-data", "--scale", SCALE])
    assert again.exit_code == 1
    assert "already loaded" in again.output
    quiet = seeded.invoke(args=["crm", "demo-data", "--scale", SCALE, "--if-missing"])
    assert quiet.exit_code == 0
    assert "nothing to do" in quiet.output
    bigger = seeded.invoke(args=["crm", "demo-data", "--scale", "0.05", "--if-missing"])
    assert bigger.exit_code == 0
    assert "would load 50,000" in bigger.output
    assert "`.venv/bin/flask crm demo-data --scale 0.05 --replace`" in bigger.output


def test_dates_are_around_the_day_of_loading(seeded: FlaskCliRunner, db_connection):
    """Open tasks fall due around today (a few overdue), open deals close ahead."""
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    overdue, upcoming, open_tasks = db_connection.execute(
        text(
            "SELECT count(*) FILTER (WHERE due_date < now() - interval '11 days'), "
            "count(*) FILTER (WHERE due_date > now()), count(*) FROM tasks "
            "WHERE status IN ('pending', 'in_progress')"
        )
    ).one()
    assert open_tasks and overdue == 0 and upcoming > open_tasks / 2
    stale = db_connection.scalar(
        text(
            "SELECT count(*) FROM leads l JOIN lead_stages s ON s.id = l.stage_id "
            "WHERE s.name NOT IN ('Closed Won', 'Closed Lost') "
            "AND l.expected_close_date < current_date - 21"
        )
    )
    assert stale == 0
    future = db_connection.scalar(text("SELECT count(*) FROM tasks WHERE completed_at > now()"))
    assert future == 0


def test_the_readmes_rep_login_gets_a_book(seeded: FlaskCliRunner, db_connection):
    assert seeded.invoke(args=["crm", "demo-data", "--scale", SCALE]).exit_code == 0
    owned = db_connection.execute(
        text(
            "SELECT (SELECT count(*) FROM customers c WHERE c.owner_id = u.id), "
            "(SELECT count(*) FROM leads l WHERE l.owner_id = u.id) "
            "FROM users u WHERE u.email = 'user@crm.com'"
        )
    ).one()
    assert owned[0] > 20 and owned[1] > 20


@pytest.mark.parametrize("scale", ["0", "-1", "abc", "25"])
def test_bad_scales_are_explained(seeded: FlaskCliRunner, scale: str):
    result = seeded.invoke(args=["crm", "demo-data", "--scale", scale])
    assert result.exit_code == 2
    assert "Invalid value for '--scale'" in result.output
    assert counts()["customers"] == 3


def test_needs_the_seed_first(cli: FlaskCliRunner):
    result = cli.invoke(args=["crm", "demo-data", "--scale", SCALE])
    assert result.exit_code == 1
    assert "run `flask crm seed` first" in result.output
    assert counts()["customers"] == 0


def test_refused_in_production(app: Flask, seeded: FlaskCliRunner, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_DEMO_PASSWORDS", False)
    result = seeded.invoke(args=["crm", "demo-data", "--scale", SCALE])
    assert result.exit_code == 1
    assert "not production" in result.output


def test_volumes_at_scale_one_match_the_issue():
    volumes = demo_data.Volumes.for_scale(1)
    assert (volumes.users, volumes.customers, volumes.leads, volumes.tasks) == (
        50, 1_000_000, 2_000_000, 1_000_000,
    )  # fmt: skip
    assert (volumes.interactions, volumes.audit_logs) == (3_000_000, 5_000_000)


def test_the_pipeline_aggregates_match_the_loaded_leads(seeded: FlaskCliRunner):
    """The load switches the aggregate trigger off and rebuilds once; --replace too."""
    for args in (["--scale", SCALE], ["--scale", SCALE, "--replace"]):
        assert seeded.invoke(args=["crm", "demo-data", *args]).exit_code == 0
        kept = db.session.execute(text("SELECT sum(leads), sum(amount) FROM pipeline_stats")).one()
        plain = db.session.execute(text("SELECT count(*), sum(amount) FROM leads")).one()
        forecast = db.session.execute(text("SELECT sum(leads) FROM forecast_stats")).scalar()
        assert (int(kept[0]), kept[1]) == (plain[0], plain[1]) and int(forecast) == plain[0]
        totals = db.session.execute(text("SELECT sum(leads), sum(amount) FROM pipeline_totals"))
        assert tuple(totals.one()) == (plain[0], plain[1])
