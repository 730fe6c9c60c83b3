"""The retention policy: when a lead closed, and a purge that writes one summary row.

- ``leads.closed_at``: when the lead entered Closed Won or Closed Lost, kept by
  ``trg_leads_closed_at`` (set on entering a closed stage, cleared on leaving
  one; an insert may bring its own, for imports of old deals). Existing closed
  leads take their ``updated_at``, the latest moment they can have closed; the
  backfill runs with the table's triggers off so it writes no audit rows and
  moves no ``updated_at``. The policy keeps leads five years after closure.
- ``idx_leads_closed_at`` and ``idx_tasks_completed_at`` (partial: only rows
  that have the date) let the purge find old rows without reading the tables.
- ``crm_retention_purge(target, cutoff, batch)`` deletes one batch of leads,
  tasks or interactions older than the policy keeps them, refusing cutoffs
  newer than the policy (5, 3, 7 years). It runs as its owner (SECURITY
  DEFINER), so the app's role may call it without owning the tables.
- ``crm_audit()`` writes nothing for the purge's deletes, nor for the
  ``lead_id`` they set to NULL: `flask crm retention` writes one summary row
  instead, since per-row rows would keep the deleted data in ``audit_logs`` for
  ten more years. The purge marks its transaction in ``retention_runs``, a table
  only the owner may write, and the trigger skips only marked transactions (the
  ``crm.retention`` setting merely saves the look-up the rest of the time), so
  the app's role cannot switch auditing off by setting anything itself.

Revision ID: 0013_retention
Revises: 0012_pipeline_stats
Create Date: 2026-11-25
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0013_retention"
down_revision = "0012_pipeline_stats"
branch_labels = None
depends_on = None

CLOSED = "SELECT id FROM lead_stages WHERE name IN ('Closed Won', 'Closed Lost')"

CLOSED_AT = f"""
CREATE FUNCTION crm_lead_closed_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.stage_id IS NULL OR NEW.stage_id NOT IN ({CLOSED}) THEN
        NEW.closed_at := NULL;
    ELSIF TG_OP = 'INSERT' THEN
        NEW.closed_at := COALESCE(NEW.closed_at, CURRENT_TIMESTAMP);
    ELSIF NEW.stage_id IS DISTINCT FROM OLD.stage_id THEN
        NEW.closed_at := CURRENT_TIMESTAMP;  -- closed now (Won <-> Lost closes it again)
    ELSE
        NEW.closed_at := COALESCE(NEW.closed_at, OLD.closed_at, CURRENT_TIMESTAMP);
    END IF;
    RETURN NEW;
END;
$$;
"""

PURGE = """
CREATE FUNCTION crm_retention_purge(target text, cutoff timestamp, batch integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    kept interval := CASE target WHEN 'leads' THEN interval '5 years'
                                 WHEN 'tasks' THEN interval '3 years'
                                 WHEN 'interactions' THEN interval '7 years' END;
    deleted integer;
BEGIN
    IF kept IS NULL THEN
        RAISE EXCEPTION 'no retention rule for %', target;
    END IF;
    IF cutoff > CAST(now() - kept AS timestamp) THEN
        RAISE EXCEPTION '% are kept for %; % is too recent a cutoff', target, kept, cutoff;
    END IF;
    INSERT INTO retention_runs VALUES (txid_current()) ON CONFLICT DO NOTHING;
    PERFORM set_config('crm.retention', 'on', true);
    IF target = 'leads' THEN
        DELETE FROM leads WHERE id IN (
            SELECT id FROM leads WHERE closed_at < cutoff LIMIT batch);
    ELSIF target = 'tasks' THEN
        DELETE FROM tasks WHERE id IN (
            SELECT id FROM tasks
             WHERE completed_at < cutoff AND status IN ('completed', 'cancelled') LIMIT batch);
    ELSE
        DELETE FROM interactions WHERE id IN (
            SELECT id FROM interactions
             WHERE interaction_date < cutoff
                OR (interaction_date IS NULL AND created_at < cutoff)
             LIMIT batch);
    END IF;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('crm.retention', 'off', true);
    DELETE FROM retention_runs WHERE xid = txid_current();
    RETURN deleted;
END;
$$;
"""

RUNNING = """
CREATE FUNCTION crm_retention_running() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM retention_runs WHERE xid = txid_current())
$$;
"""

SKIP = """BEGIN
    IF current_setting('crm.retention', true) = 'on' THEN
        IF crm_retention_running() THEN
            RETURN NULL;  -- crm_retention_purge(): one summary row instead of one per row
        END IF;
    END IF;
"""


def _audit_function() -> str:
    """0010's crm_audit() source, so this revision changes only what it adds."""
    path = Path(__file__).with_name("0010_audit_trail.py")
    spec = importlib.util.spec_from_file_location("audit_trail_0010", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AUDIT_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute("ALTER TABLE leads ADD COLUMN closed_at TIMESTAMP")
    op.execute("ALTER TABLE leads DISABLE TRIGGER USER")
    op.execute(f"UPDATE leads SET closed_at = updated_at WHERE stage_id IN ({CLOSED})")
    op.execute("ALTER TABLE leads ENABLE TRIGGER USER")
    op.execute(CLOSED_AT)
    op.execute(
        "CREATE TRIGGER trg_leads_closed_at BEFORE INSERT OR UPDATE OF stage_id, closed_at "
        "ON leads FOR EACH ROW EXECUTE FUNCTION crm_lead_closed_at()"
    )
    op.execute("CREATE INDEX idx_leads_closed_at ON leads (closed_at) WHERE closed_at IS NOT NULL")
    op.execute(
        "CREATE INDEX idx_tasks_completed_at ON tasks (completed_at) WHERE completed_at IS NOT NULL"
    )
    op.execute("CREATE TABLE retention_runs (xid BIGINT PRIMARY KEY)")
    op.execute("REVOKE ALL ON retention_runs FROM PUBLIC")
    op.execute(RUNNING)
    op.execute(PURGE)
    op.execute(_audit_function().replace("BEGIN\n", SKIP, 1))


def downgrade() -> None:
    op.execute(_audit_function())
    op.execute("DROP FUNCTION crm_retention_purge(text, timestamp, integer)")
    op.execute("DROP FUNCTION crm_retention_running()")
    op.execute("DROP TABLE retention_runs")
    op.execute("DROP INDEX idx_tasks_completed_at")
    op.execute("DROP INDEX idx_leads_closed_at")
    op.execute("DROP TRIGGER trg_leads_closed_at ON leads")
    op.execute("DROP FUNCTION crm_lead_closed_at()")
    op.execute("ALTER TABLE leads DROP COLUMN closed_at")
