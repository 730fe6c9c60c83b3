"""The documented two-role setup: the app's role can work the CRM but not touch the audit trail."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import Connection, text

from crm import PROJECT_ROOT
from tests import factories
from tests.helpers import refused

ROOT = PROJECT_ROOT
# The README and the pages under docs/ it links to: the grants live in one of them.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HEADING = "## Production: database roles"
ROLE = f"crm_app_test_{os.getpid()}"


def documented_grants() -> list[str]:
    """The GRANT statements of the documentation's "Production: database roles", for ROLE."""
    texts = [path.read_text() for path in DOCUMENTS]
    sections = [text.split(HEADING, 1)[1] for text in texts if HEADING in text]
    assert len(sections) == 1, f"{HEADING!r} should be in exactly one of README.md and docs/"
    section = sections[0]
    block = section.split("```sql", 1)[1].split("```", 1)[0]
    grants = block.split("-- after", 1)[1].split("\n", 1)[1]
    grants = re.sub(r"--[^\n]*", "", grants).replace("crm_app", ROLE)
    return [statement.strip() for statement in grants.split(";") if statement.strip()]


@pytest.fixture
def as_app_role(db_connection: Connection) -> Connection:
    """The test's transaction, now acting as a role with only the documented grants."""
    stage = factories.stage(name="Role Stage").id
    other = factories.stage(name="Role Stage 2").id
    owner = factories.user().id
    db_connection.execute(text(f"CREATE ROLE {ROLE}"))
    for statement in documented_grants():
        db_connection.execute(text(statement))
    db_connection.execute(text(f"SET LOCAL ROLE {ROLE}"))
    db_connection.info.update(stage=stage, other=other, owner=owner)
    return db_connection


def test_the_app_role_works_the_crm(as_app_role: Connection):
    conn, ids = as_app_role, as_app_role.info
    customer = conn.scalar(
        text("INSERT INTO customers (name, owner_id) VALUES ('Role Co', :o) RETURNING id"),
        {"o": ids["owner"]},
    )
    lead = conn.scalar(
        text(
            "INSERT INTO leads (title, customer_id, stage_id, owner_id, amount) "
            "VALUES ('Role lead', :c, :s, :o, 10) RETURNING id"
        ),
        {"c": customer, "s": ids["stage"], "o": ids["owner"]},
    )
    conn.execute(
        text("UPDATE leads SET stage_id = :s WHERE id = :id"), {"s": ids["other"], "id": lead}
    )
    # A new close date moves the lead's stays in the dated histograms (0036), as the app's role.
    conn.execute(
        text("UPDATE leads SET expected_close_date = DATE '2030-01-31' WHERE id = :id"),
        {"id": lead},
    )
    conn.execute(
        text(
            "INSERT INTO csv_uploads (user_id, kind, filename, content) "
            "VALUES (:o, 'leads', 'a.csv', 'x')"
        ),
        {"o": ids["owner"]},
    )
    conn.execute(
        text("INSERT INTO audit_logs (table_name, record_id, action) VALUES ('users', 0, 'LOGIN')")
    )
    conn.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer})
    actions = conn.scalars(
        text(
            "SELECT action FROM audit_logs "
            "WHERE table_name = 'leads' AND record_id = :id ORDER BY id"
        ),
        {"id": lead},
    ).all()
    assert actions == ["INSERT", "UPDATE", "UPDATE", "DELETE"]  # the cascade is audited too
    # The as-of funnel makes its month checkpoints from a page view, as the app's role.
    moves = conn.scalar(text("SELECT count(*) FROM pipeline_flows WHERE owner_id = :owner"), ids)
    assert moves == 0  # in, moved, deleted: today's flows net to nothing, and are gone (0030)
    for table, owner in (("pipeline_flows", "owner_id, "), ("pipeline_flows_all", "")):
        conn.execute(
            text(
                f"INSERT INTO {table} ({owner}flow_day, stage_id, leads, amount, weighted) "
                f"VALUES ({':owner, ' if owner else ''}'2020-01-15', :stage, 1, 5, 0)"
            ),
            ids,
        )
    made = conn.scalar(text("SELECT crm_pipeline_checkpoint(DATE '2020-03-20')"))
    held = conn.scalar(
        text("SELECT leads FROM pipeline_checkpoints WHERE month = :m AND owner_id = :owner"),
        {"m": made, "owner": ids["owner"]},
    )
    assert (str(made), held) == ("2020-03-01", 1)


def test_the_app_role_signs_people_in_with_sessions_and_codes(as_app_role: Connection):
    conn, ids = as_app_role, as_app_role.info
    session = conn.scalar(
        text("INSERT INTO user_sessions (user_id, secret_hash) VALUES (:owner, 'x') RETURNING id"),
        ids,
    )
    conn.execute(
        text("UPDATE user_sessions SET last_seen_at = now() WHERE id = :id"), {"id": session}
    )
    conn.execute(text("INSERT INTO recovery_codes (user_id, code_hash) VALUES (:owner, 'y')"), ids)
    conn.execute(text("UPDATE recovery_codes SET used_at = now() WHERE user_id = :owner"), ids)
    conn.execute(
        text("UPDATE users SET totp_secret = 'z', password_hash = 'new' WHERE id = :owner"), ids
    )
    left = conn.scalar(text("SELECT count(*) FROM user_sessions WHERE user_id = :owner"), ids)
    assert left == 0  # the new password ended the session (trg_users_end_sessions)
    conn.execute(text("DELETE FROM recovery_codes WHERE user_id = :owner"), ids)


def test_the_app_role_makes_uses_and_revokes_api_tokens(as_app_role: Connection):
    conn, ids = as_app_role, as_app_role.info
    token = conn.scalar(
        text(
            "INSERT INTO api_tokens (user_id, name, scope, token_hash, prefix, expires_at) "
            "VALUES (:owner, 'script', 'read', 'h', 'crm_x', now() + interval '1 day') "
            "RETURNING id"
        ),
        ids,
    )
    conn.execute(text("UPDATE api_tokens SET last_used_at = now() WHERE id = :id"), {"id": token})
    conn.execute(
        text("UPDATE api_tokens SET revoked_at = now(), revoked_by = :owner WHERE id = :id"),
        {**ids, "id": token},
    )


def test_the_app_role_queues_and_works_jobs(as_app_role: Connection):
    conn = as_app_role
    job = conn.scalar(
        text(
            "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'crm.retention', 0, "
            "NULL, NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1]))"
        )
    )
    conn.execute(text("INSERT INTO job_runs (job_id, title) VALUES (:j, 'x')"), {"j": job})
    worker = conn.scalar(text("SELECT procrastinate_register_worker_v1()"))
    fetched = conn.execute(
        text("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['default']::varchar[], :w)"),
        {"w": worker},
    ).scalar()
    assert fetched == job
    conn.execute(text("SELECT procrastinate_finish_job_v1(:j, 'succeeded', false)"), {"j": job})
    conn.execute(text("UPDATE job_runs SET done = 1 WHERE job_id = :j"), {"j": job})
    conn.execute(text("SELECT procrastinate_unregister_worker_v1(:w)"), {"w": worker})


def test_the_app_role_cannot_touch_the_audit_trail(as_app_role: Connection):
    conn = as_app_role
    assert "permission denied" in refused(conn, "UPDATE audit_logs SET action = 'X'")
    assert "permission denied" in refused(conn, "DELETE FROM audit_logs")
    assert "must be owner" in refused(conn, "ALTER TABLE leads DISABLE TRIGGER trg_leads_audit")
    assert "permission denied" in refused(
        conn, "INSERT INTO retention_runs VALUES (txid_current())"
    )
    lead = conn.scalar(text("INSERT INTO leads (title) VALUES ('Hidden?') RETURNING id"))
    conn.execute(text("SELECT set_config('crm.retention', 'on', true)"))
    conn.execute(text("DELETE FROM leads WHERE id = :id"), {"id": lead})
    deleted = conn.scalar(
        text(
            "SELECT count(*) FROM audit_logs "
            "WHERE table_name = 'leads' AND record_id = :id AND action = 'DELETE'"
        ),
        {"id": lead},
    )
    assert deleted == 1


def test_the_app_role_reads_a_search_indexs_common_words(as_app_role: Connection):
    """Global search's common words come from the search index's statistics, which
    PostgreSQL shows only to the index's owner (pg_statistic only to a superuser);
    crm_common_lexemes (migration 0018) reads them for the app's role. Here, as in
    production, the function and the tables belong to a role that is not a superuser."""
    conn = as_app_role
    conn.execute(text("RESET ROLE"))
    owner = f"{ROLE}_owner"
    conn.execute(text(f"CREATE ROLE {owner}"))
    conn.execute(text(f"ALTER TABLE customers OWNER TO {owner}"))
    conn.execute(text(f"ALTER FUNCTION crm_common_lexemes(regclass) OWNER TO {owner}"))
    conn.execute(
        text(
            "INSERT INTO customers (name) "
            "SELECT 'Ann Smithson ' || g FROM generate_series(1, 200) g"
        )
    )
    conn.execute(text("ANALYZE customers"))
    conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
    assert (
        conn.scalar(text("SELECT count(*) FROM pg_stats WHERE tablename = 'idx_customers_search'"))
        == 0
    )
    words = dict(
        conn.execute(
            text("SELECT lexeme, frequency FROM crm_common_lexemes('idx_customers_search')")
        ).all()
    )
    assert words["smithson"] > 0.9 and words["ann"] > 0.9
