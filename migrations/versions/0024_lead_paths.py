"""Each lead's path through the stages, on the lead, so the funnel can count it (issue 17, part 3).

Three columns on ``leads``, kept by a BEFORE trigger from every change of
``stage_id`` (any path: forms, board, bulk actions, import, raw SQL), as
``lead_stage_history`` records it:

- ``stages_passed``: the stages the lead was in before its current stay (sorted,
  distinct; empty for a lead that never moved). A lead "reached" a stage if it
  is in it or a later one now, or passed through one of them: a deal lost at
  Negotiation counts for every stage up to Negotiation.
- ``previous_stage_id``: the stage it left for the current one (NULL: never
  moved). For a lead in Closed Lost, where it was lost.
- ``stage_entered_at``: when it entered the current stage (NULL: at creation).

The trigger owns them: an INSERT starts them empty, an UPDATE that does not
change the stage keeps them, whatever it asks. (So the aggregates stay exact only
while it runs: a session that disables user triggers and writes these columns must
run ``crm_rebuild_pipeline_stats()`` after.) The audit trail leaves them out
(the stage change it records says the same). The pipeline aggregates gain
``stages_passed`` and ``previous_stage_id`` as dimensions (the triggers and the
rebuild are regenerated with 0021's code), so the funnel stays a read of a few
thousand rows.

Backfill: only leads that moved need a value (the defaults mean "never moved"):
from their stage history, in batches with a progress bar.

Revision ID: 0024_lead_paths
Revises: 0023_exchange_rates
Create Date: 2026-11-30
"""

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

import click
from alembic import op
from sqlalchemy import text

revision = "0024_lead_paths"
down_revision = "0023_exchange_rates"
branch_labels = None
depends_on = None

BATCH = 200_000
PATH = "stages_passed, previous_stage_id"
KEYS = {
    "pipeline_stats": f"owner_id, stage_id, currency, source, created_month, {PATH}",
    "forecast_stats": "owner_id, stage_id, currency, close_month, created_month",
    "pipeline_totals": f"owner_id, stage_id, currency, source, {PATH}",
    "pipeline_months": f"stage_id, currency, source, created_month, {PATH}",
    "forecast_months": "stage_id, currency, close_month, created_month",
}
OLD_KEYS = {
    "pipeline_stats": "owner_id, stage_id, currency, source, created_month",
    "pipeline_totals": "owner_id, stage_id, currency, source",
    "pipeline_months": "stage_id, currency, source, created_month",
}
PATH_FUNCTION = """
CREATE FUNCTION crm_lead_path() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    left_stage integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.stages_passed := '{}';
        NEW.previous_stage_id := NULL;
        NEW.stage_entered_at := NULL;
    ELSIF NEW.stage_id IS DISTINCT FROM OLD.stage_id THEN
        -- The stage left may be the one being deleted (ON DELETE SET NULL on leads):
        -- then it is NULL here, as in lead_stage_history.
        left_stage := (SELECT s.id FROM lead_stages AS s WHERE s.id = OLD.stage_id);
        NEW.stages_passed := CASE
            WHEN left_stage IS NULL OR left_stage = ANY (OLD.stages_passed)
                THEN OLD.stages_passed
            ELSE (SELECT array_agg(s ORDER BY s) FROM unnest(OLD.stages_passed || left_stage) s)
        END;
        NEW.previous_stage_id := left_stage;
        NEW.stage_entered_at := LOCALTIMESTAMP;  -- as lead_stage_history's changed_at
    ELSE
        NEW.stages_passed := OLD.stages_passed;
        NEW.previous_stage_id := OLD.previous_stage_id;
        NEW.stage_entered_at := OLD.stage_entered_at;
    END IF;
    RETURN NEW;
END;
$$
"""
PATH_TRIGGER = (
    "CREATE TRIGGER trg_leads_path BEFORE INSERT OR UPDATE ON leads "
    "FOR EACH ROW EXECUTE FUNCTION crm_lead_path()"
)
# Leads with a recorded move: the stages they left, the last one left and when.
BACKFILL = """
UPDATE leads AS l
   SET stages_passed = p.passed, previous_stage_id = p.previous, stage_entered_at = p.entered
  FROM (SELECT h.lead_id,
               COALESCE(array_agg(DISTINCT h.from_stage_id ORDER BY h.from_stage_id)
                        FILTER (WHERE h.from_stage_id IS NOT NULL), '{}') AS passed,
               (array_agg(h.from_stage_id ORDER BY h.changed_at DESC, h.id DESC))[1] AS previous,
               max(h.changed_at) AS entered
          FROM lead_stage_history AS h
         WHERE h.lead_id BETWEEN :lo AND :hi
         GROUP BY h.lead_id
        HAVING count(*) > 1) AS p
 WHERE l.id = p.lead_id
"""
HIDDEN = ("stages_passed", "previous_stage_id", "stage_entered_at")


def _migration_0021() -> ModuleType:
    """Migration 0021's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location("_m0021", Path(__file__).with_name("0021_pipeline_totals.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _aggregates(keys: dict[str, str]) -> None:
    """Regenerate the aggregate triggers and rebuild for ``keys``; rebuild the tables."""
    old = _migration_0021()
    old.KEYS.clear()
    old.KEYS.update(keys)
    trigger, rebuild = old._functions(list(keys))
    op.execute(trigger)
    op.execute(rebuild)
    for table in ("pipeline_stats", "pipeline_totals", "pipeline_months"):
        op.execute(f"DROP INDEX uk_{table}")
        op.execute(f"DELETE FROM {table}")
        op.execute(
            f"INSERT INTO {table} ({keys[table]}, leads, amount, weighted) "
            f"{old._sums('leads', keys[table])}"
        )
        op.execute(f"CREATE UNIQUE INDEX uk_{table} ON {table} ({keys[table]}) NULLS NOT DISTINCT")
        op.execute(f"ANALYZE {table}")


def _audit_trigger(hidden: tuple[str, ...]) -> None:
    arguments = ", ".join(f"'{column}'" for column in hidden)
    op.execute("DROP TRIGGER trg_leads_audit ON leads")
    op.execute(
        "CREATE TRIGGER trg_leads_audit AFTER INSERT OR UPDATE OR DELETE ON leads "
        f"FOR EACH ROW EXECUTE FUNCTION crm_audit({arguments})"
    )


def upgrade() -> None:
    op.execute(
        "ALTER TABLE leads ADD COLUMN stages_passed integer[] NOT NULL DEFAULT '{}', "
        "ADD COLUMN previous_stage_id integer, ADD COLUMN stage_entered_at timestamp"
    )
    conn = op.get_bind()
    low, high = conn.execute(text("SELECT min(id), max(id) FROM leads")).one()
    if low is not None:
        # The backfill is no one's edit: no audit rows, no version bump, no updated_at.
        op.execute("ALTER TABLE leads DISABLE TRIGGER USER")
        starts = range(low, high + 1, BATCH)
        with click.progressbar(
            starts, label="Lead paths from stage history", file=sys.stderr
        ) as bar:
            for start in bar:
                conn.execute(text(BACKFILL), {"lo": start, "hi": start + BATCH - 1})
        op.execute("ALTER TABLE leads ENABLE TRIGGER USER")
    op.execute(PATH_FUNCTION)
    op.execute(PATH_TRIGGER)
    _audit_trigger(HIDDEN)
    for table in ("pipeline_stats", "pipeline_totals", "pipeline_months"):
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN stages_passed integer[] NOT NULL DEFAULT '{{}}', "
            "ADD COLUMN previous_stage_id integer"
        )
    _aggregates(KEYS)


def downgrade() -> None:
    _aggregates({**KEYS, **OLD_KEYS})
    for table in ("pipeline_stats", "pipeline_totals", "pipeline_months"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN stages_passed, DROP COLUMN previous_stage_id")
    _audit_trigger(())
    op.execute("DROP TRIGGER trg_leads_path ON leads")
    op.execute("DROP FUNCTION crm_lead_path()")
    op.execute(
        "ALTER TABLE leads DROP COLUMN stages_passed, DROP COLUMN previous_stage_id, "
        "DROP COLUMN stage_entered_at"
    )
