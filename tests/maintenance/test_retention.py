"""`flask crm retention`: the spec's retention policy, on a database of its own (real commits)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import URL

from crm.extensions import db
from crm.maintenance.retention import cutoff
from tests.helpers import app_on_new_database

pytestmark = pytest.mark.own_database

AS_OF = "2026-01-15"  # cutoffs: leads 2021-01-15, tasks 2023-01-15, interactions 2019-01-15,
# audit rows 2016-01-15 (midnight)

# (title, stage, closed_at); stage NULL = open. Titles ending "due" must go.
LEADS = [
    ("closed a day too long ago due", "Closed Won", "2021-01-14 23:59"),
    ("lost long ago due", "Closed Lost", "2019-06-01 10:00"),
    ("closed exactly five years ago", "Closed Won", "2021-01-15 00:00"),
    ("closed recently", "Closed Lost", "2024-03-01 09:00"),
    ("open since 2010", "Qualified", None),
]
# (title, status, completed_at)
TASKS = [
    ("completed long ago due", "completed", "2023-01-14 12:00"),
    ("cancelled long ago due", "cancelled", "2020-05-05 08:00"),
    ("reopened, still pending", "pending", "2020-05-05 08:00"),
    ("completed at the boundary", "completed", "2023-01-15 00:00"),
    ("never done", "in_progress", None),
]
# (subject, interaction_date, created_at)
INTERACTIONS = [
    ("old call due", "2019-01-14 09:00", "2019-01-14 09:00"),
    ("undated and old due", None, "2018-03-03 03:00"),
    ("newer call", "2019-02-01 09:00", "2019-02-01 09:00"),
    ("undated and new", None, "2025-01-01 00:00"),
]
AUDIT_DATES = {"2016-01-14 23:00": "due", "2016-01-15 00:00": "kept"}


@pytest.fixture
def policy_app(server_url: URL) -> Iterator[Flask]:
    """A database with rows on either side of each cutoff (committed, as the purge commits)."""
    with app_on_new_database(server_url, "retention") as application:
        assert application.test_cli_runner().invoke(args=["crm", "seed"]).exit_code == 0
        with application.app_context(), db.engine.begin() as conn:
            owner = conn.scalar(text("SELECT id FROM users WHERE email = 'user@crm.com'"))
            conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": owner})
            customer = conn.scalar(
                text(
                    "INSERT INTO customers (name, company, owner_id, created_at) "
                    "VALUES ('Old Customer', 'Old Co', :o, '2000-01-01') RETURNING id"
                ),
                {"o": owner},
            )
            for title, stage, closed in LEADS:
                conn.execute(
                    text(
                        "INSERT INTO leads (title, customer_id, owner_id, stage_id, closed_at, "
                        "created_at) VALUES (:t, :c, :o, "
                        "(SELECT id FROM lead_stages WHERE name = :s), :closed, '2010-01-01')"
                    ),
                    {"t": title, "c": customer, "o": owner, "s": stage, "closed": closed},
                )
            first_lead = conn.scalar(text("SELECT min(id) FROM leads"))
            for title, status, done in TASKS:
                conn.execute(
                    text(
                        "INSERT INTO tasks (title, status, completed_at, user_id, lead_id) "
                        "VALUES (:t, CAST(:s AS task_status), :d, :o, :lead)"
                    ),
                    {"t": title, "s": status, "d": done, "o": owner, "lead": first_lead},
                )
            for subject, when, created in INTERACTIONS:
                conn.execute(
                    text(
                        "INSERT INTO interactions (type, subject, customer_id, user_id, "
                        "interaction_date, created_at) VALUES ('call', :s, :c, :o, :w, :cr)"
                    ),
                    {"s": subject, "c": customer, "o": owner, "w": when, "cr": created},
                )
            for created, kind in AUDIT_DATES.items():
                conn.execute(
                    text(
                        "INSERT INTO audit_logs (table_name, record_id, action, new_values, "
                        "created_at) VALUES ('customers', 1, 'INSERT', "
                        "jsonb_build_object('kind', CAST(:k AS text)), :cr)"
                    ),
                    {"k": kind, "cr": created},
                )
        yield application


def titles(app: Flask) -> dict[str, set[str]]:
    with app.app_context(), db.engine.connect() as conn:
        return {
            "leads": set(conn.scalars(text("SELECT title FROM leads"))),
            "tasks": set(conn.scalars(text("SELECT title FROM tasks"))),
            "interactions": set(conn.scalars(text("SELECT subject FROM interactions"))),
            "audit": set(
                conn.scalars(
                    text("SELECT new_values->>'kind' FROM audit_logs WHERE new_values ? 'kind'")
                )
            ),
            "customers": set(conn.scalars(text("SELECT name FROM customers"))),
            "users": set(conn.scalars(text("SELECT email FROM users"))),
        }


def test_dry_run_counts_per_table_and_deletes_nothing(policy_app: Flask):
    before = titles(policy_app)
    result = policy_app.test_cli_runner().invoke(args=["crm", "retention", "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    assert lines["tasks"].split()[1] == "2" and "before 2023-01-15" in lines["tasks"]
    assert lines["interactions"].split()[1] == "2" and "before 2019-01-15" in lines["interactions"]
    assert lines["leads"].split()[1] == "2" and "before 2021-01-15" in lines["leads"]
    assert lines["audit_logs"].split()[1] == "1" and "before 2016-01-15" in lines["audit_logs"]
    assert "kept indefinitely" in lines["customers"] and lines["users"].split()[1] == "0"
    assert "Dry run: nothing was deleted" in result.output
    assert titles(policy_app) == before


def test_apply_deletes_exactly_the_rows_past_their_time(policy_app: Flask):
    before = titles(policy_app)
    result = policy_app.test_cli_runner().invoke(
        args=["crm", "retention", "--as-of", AS_OF, "--apply", "--batch", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "Deleted 2 tasks, 2 interactions, 2 leads, 1 audit_logs" in result.output
    after = titles(policy_app)
    for kind in ("leads", "tasks", "interactions"):
        assert after[kind] == {title for title in before[kind] if not title.endswith("due")}
    assert after["audit"] == {"kept"}
    assert after["customers"] == before["customers"]  # kept indefinitely
    assert after["users"] == before["users"]  # the inactive rep too


def test_apply_writes_one_summary_row_and_no_row_per_deletion(policy_app: Flask):
    with policy_app.app_context(), db.engine.connect() as conn:
        first_audit = conn.scalar(text("SELECT max(id) FROM audit_logs"))
    result = policy_app.test_cli_runner().invoke(
        args=["crm", "retention", "--as-of", AS_OF, "--apply", "--batch", "1"]
    )
    assert result.exit_code == 0, result.output
    with policy_app.app_context(), db.engine.connect() as conn:
        written = conn.execute(
            text(
                "SELECT table_name, action, new_values, old_values, user_agent "
                "FROM audit_logs WHERE id > :id ORDER BY id"
            ),
            {"id": first_audit},
        ).all()
    summaries = [row for row in written if row.action == "PURGE"]
    assert len(summaries) == 1
    (summary,) = summaries
    assert summary.table_name == "retention" and summary.user_agent == "cli: crm retention"
    assert summary.new_values == {
        "as_of": AS_OF,
        "cutoffs": {
            "tasks": "2023-01-15T00:00:00",
            "interactions": "2019-01-15T00:00:00",
            "leads": "2021-01-15T00:00:00",
            "audit_logs": "2016-01-15T00:00:00",
        },
        "deleted": {"tasks": 2, "interactions": 2, "leads": 2, "audit_logs": 1},
    }
    assert written == summaries  # no row per deleted row, nor per lead_id set to NULL
    with policy_app.app_context(), db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM tasks WHERE lead_id IS NOT NULL")) == 0


def test_a_future_date_is_refused_with_apply_and_counted_without(policy_app: Flask):
    runner = policy_app.test_cli_runner()
    before = titles(policy_app)
    refused = runner.invoke(args=["crm", "retention", "--as-of", "2099-01-01", "--apply"])
    assert refused.exit_code == 2 and "2099-01-01 is in the future" in refused.output
    assert titles(policy_app) == before
    later = runner.invoke(args=["crm", "retention", "--as-of", "2099-01-01"])
    assert later.exit_code == 0 and "Dry run" in later.output
    assert titles(policy_app) == before


@pytest.mark.parametrize("value", ["15/01/2026", "2026-02-30", "soon"])
def test_a_bad_date_says_how_to_write_one(policy_app: Flask, value: str):
    result = policy_app.test_cli_runner().invoke(args=["crm", "retention", "--as-of", value])
    assert result.exit_code == 2
    assert f"{value!r} is not a date; write it as YYYY-MM-DD" in result.output


def test_cutoff_counts_whole_years_back_from_midnight():
    assert cutoff(date(2026, 1, 15), 5) == datetime(2021, 1, 15)
    assert cutoff(date(2024, 2, 29), 3) == datetime(2021, 2, 28)
