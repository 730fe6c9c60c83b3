"""``lead_stage_history``: every stage a lead entered, when and by whom (issue 17, part 2).

A database trigger writes it, so no path can skip it: the forms, the board, bulk
actions, the CSV import and raw SQL alike. A new lead enters its first stage
when it is created (one row per INSERT statement's leads, from its transition
table); a change of ``stage_id`` adds a row (a row trigger that fires only when
the stage really changes). Who: the transaction's ``crm.user_id``, as the audit
trail takes it (crm/audit/context.py). When: the transaction's time, as the audit
trail's (UTC in the app's sessions, as every column here).

The history of the rows already there comes from the audit trail: each recorded
change of ``stage_id``, then one creation row per lead, into the stage it left
at its first recorded change (or the one it is in, if it never changed), at its
creation time, by whoever the audit trail says created it. Stages or users no
longer there become NULL. It goes in batches, with a progress bar.

A lead's history goes with the lead (ON DELETE CASCADE), so retention and every
delete remove it. The triggers run as whoever changes a lead, so the roles that
may write the audit trail (docs/operations.md: the app's role, SELECT and INSERT)
get the same on this table and its sequence: copied here.

Revision ID: 0022_lead_stage_history
Revises: 0021_pipeline_totals
Create Date: 2026-11-30
"""

import sys

import click
from alembic import op
from sqlalchemy import text

revision = "0022_lead_stage_history"
down_revision = "0021_pipeline_totals"
branch_labels = None
depends_on = None

BATCH = 200_000
WHO = "CAST(NULLIF(current_setting('crm.user_id', true), '') AS integer)"
# The transaction's time in the session's zone, as every CURRENT_TIMESTAMP default and the
# audit trail take it (the app's sessions are UTC: crm/__init__.py).
NOW = "LOCALTIMESTAMP"

TABLE = """
CREATE TABLE lead_stage_history (
    id bigserial PRIMARY KEY,
    lead_id integer NOT NULL
        CONSTRAINT fk_lead_stage_history_lead REFERENCES leads (id) ON DELETE CASCADE,
    from_stage_id integer
        CONSTRAINT fk_lead_stage_history_from REFERENCES lead_stages (id) ON DELETE SET NULL,
    to_stage_id integer
        CONSTRAINT fk_lead_stage_history_to REFERENCES lead_stages (id) ON DELETE SET NULL,
    changed_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
    changed_by integer
        CONSTRAINT fk_lead_stage_history_user REFERENCES users (id) ON DELETE SET NULL
)
"""
INDEXES = (
    # A lead's timeline, in order; the cascade from leads finds a lead's rows here.
    "CREATE INDEX idx_lead_stage_history_lead ON lead_stage_history (lead_id, changed_at, id)",
    # The pipeline as of a date, and time in stage, read by when.
    "CREATE INDEX idx_lead_stage_history_changed_at ON lead_stage_history (changed_at)",
    # ON DELETE SET NULL from lead_stages and users looks rows up by these.
    "CREATE INDEX idx_lead_stage_history_to_stage ON lead_stage_history (to_stage_id)",
    "CREATE INDEX idx_lead_stage_history_from_stage ON lead_stage_history (from_stage_id)",
    "CREATE INDEX idx_lead_stage_history_changed_by ON lead_stage_history (changed_by)",
)
FUNCTIONS = (
    f"""
CREATE FUNCTION crm_lead_stage_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at, changed_by)
    SELECT n.id, NULL, n.stage_id, COALESCE(n.created_at, {NOW}), {WHO}
      FROM new_rows AS n;
    RETURN NULL;
END;
$$
""",
    f"""
CREATE FUNCTION crm_lead_stage_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The stage left may be the one being deleted (ON DELETE SET NULL on leads moves
    -- its leads to no stage): then it is NULL here too, as in the rows it had.
    INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at, changed_by)
    VALUES (NEW.id, (SELECT s.id FROM lead_stages AS s WHERE s.id = OLD.stage_id),
            NEW.stage_id, {NOW}, {WHO});
    RETURN NULL;
END;
$$
""",
)
TRIGGERS = (
    "CREATE TRIGGER trg_leads_stage_history_insert AFTER INSERT ON leads "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION crm_lead_stage_history_insert()",
    # WHEN: tested in C for every updated row; the function runs only for a real change.
    "CREATE TRIGGER trg_leads_stage_history_update AFTER UPDATE OF stage_id ON leads "
    "FOR EACH ROW WHEN (OLD.stage_id IS DISTINCT FROM NEW.stage_id) "
    "EXECUTE FUNCTION crm_lead_stage_history_update()",
)
# Whoever may write the audit trail (the app's role) may write this, and its sequence.
COPY_GRANTS = """
DO $$
DECLARE g record;
BEGIN
    FOR g IN SELECT DISTINCT c.relname AS source, a.privilege_type, r.rolname
               FROM pg_class AS c
               CROSS JOIN LATERAL aclexplode(c.relacl) AS a
               JOIN pg_roles AS r ON r.oid = a.grantee
              WHERE c.relnamespace = current_schema()::regnamespace
                AND c.relname IN ('audit_logs', 'audit_logs_id_seq')
                AND a.grantee <> c.relowner
    LOOP
        IF g.source = 'audit_logs' AND g.privilege_type IN ('SELECT', 'INSERT') THEN
            EXECUTE format('GRANT %s ON lead_stage_history TO %I', g.privilege_type, g.rolname);
        ELSIF g.source = 'audit_logs_id_seq' AND g.privilege_type IN ('SELECT', 'USAGE') THEN
            EXECUTE format('GRANT %s ON SEQUENCE lead_stage_history_id_seq TO %I',
                           g.privilege_type, g.rolname);
        END IF;
    END LOOP;
END $$
"""
# Recorded stage changes of leads still there; stages and users gone become NULL.
CHANGES = """
INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at, changed_by)
SELECT a.record_id, f.id, t.id, a.created_at, u.id
  FROM audit_logs AS a
  JOIN leads AS l ON l.id = a.record_id
  LEFT JOIN lead_stages AS f ON f.id = CAST(a.old_values ->> 'stage_id' AS integer)
  LEFT JOIN lead_stages AS t ON t.id = CAST(a.new_values ->> 'stage_id' AS integer)
  LEFT JOIN users AS u ON u.id = a.user_id
 WHERE a.table_name = 'leads' AND a.action = 'UPDATE' AND a.new_values ? 'stage_id'
   AND a.id BETWEEN :lo AND :hi
 ORDER BY a.id  -- ids in the trail's order: two moves in one transaction share a time
"""
# One creation row per lead: into the stage it left at its first recorded change.
CREATIONS = f"""
INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at, changed_by)
SELECT l.id, NULL,
       CASE WHEN first.lead_id IS NULL THEN l.stage_id ELSE first.from_stage_id END,
       COALESCE(l.created_at, {NOW}), maker.id
  FROM leads AS l
  LEFT JOIN LATERAL (
        SELECT h.lead_id, h.from_stage_id FROM lead_stage_history AS h
         WHERE h.lead_id = l.id ORDER BY h.changed_at, h.id LIMIT 1
       ) AS first ON true
  LEFT JOIN LATERAL (
        SELECT u.id FROM audit_logs AS a JOIN users AS u ON u.id = a.user_id
         WHERE a.table_name = 'leads' AND a.record_id = l.id AND a.action = 'INSERT'
         ORDER BY a.id LIMIT 1
       ) AS maker ON true
 WHERE l.id BETWEEN :lo AND :hi
"""


def _in_batches(label: str, table: str, statement: str) -> None:
    """Run ``statement`` over ``table``'s id range in batches, with a progress bar."""
    conn = op.get_bind()
    low, high = conn.execute(text(f"SELECT min(id), max(id) FROM {table}")).one()
    if low is None:
        return
    starts = range(low, high + 1, BATCH)
    with click.progressbar(starts, label=label, file=sys.stderr) as bar:
        for start in bar:
            conn.execute(text(statement), {"lo": start, "hi": start + BATCH - 1})


def upgrade() -> None:
    op.execute(TABLE)
    # The backfill goes before the indexes but for the one the creation rows need.
    op.execute(INDEXES[0])
    _in_batches("Stage history from the audit trail", "audit_logs", CHANGES)
    _in_batches("Stage history: each lead's first stage", "leads", CREATIONS)
    for statement in INDEXES[1:]:
        op.execute(statement)
    for statement in FUNCTIONS + TRIGGERS:
        op.execute(statement)
    op.execute(COPY_GRANTS)
    op.execute("ANALYZE lead_stage_history")


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_leads_stage_history_update ON leads")
    op.execute("DROP TRIGGER trg_leads_stage_history_insert ON leads")
    op.execute("DROP FUNCTION crm_lead_stage_history_update()")
    op.execute("DROP FUNCTION crm_lead_stage_history_insert()")
    op.execute("DROP TABLE lead_stage_history")
