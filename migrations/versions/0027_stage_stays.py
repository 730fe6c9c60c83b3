"""``stage_stays`` and ``won_cycles``: how long deals sit in each stage, and take to win.

Issue 17, part 4. Medians and percentiles over millions of stage-history rows
cannot be worked out per page view, so the database keeps histograms by owner
(the lead's owner now, as every pipeline aggregate):

- ``stage_stays (owner_id, stage_id, days, stays)``: completed stays, a lead
  entering a stage and later leaving it, in whole days (from the history row it
  entered by to the one it left by);
- ``won_cycles (owner_id, days, leads)``: moves into Closed Won, in whole days
  since the lead was created.

Row triggers on ``leads`` keep them: a move adds one stay, from when the lead
entered the stage it left (``stage_entered_at``, or its creation: its history's
last row) to now (this move's row), and a win if it went to Closed Won; an UPDATE
that changes the owner or the creation date too takes the lead's stays out under
the old owner as they were before it and puts them back under the new one as they
are after it, from its history; a DELETE takes them out (BEFORE it, while the
lead's history is still there). The stage-history row of a move is written first
(triggers fire in name order: ``trg_leads_stage_history_update`` before
``trg_leads_stays``), so "before" leaves out the lead's newest row. The backfill
(``crm_rebuild_stage_stays()``, which the demo data load calls too) reads the whole
history with window functions. The app's role gets the grants it has on
``pipeline_stats``.

Revision ID: 0027_stage_stays
Revises: 0026_pipeline_days
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

from alembic import op

revision = "0027_stage_stays"
down_revision = "0026_pipeline_days"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE stage_stays (
    owner_id integer,
    stage_id integer,
    days integer NOT NULL,
    stays bigint NOT NULL
);
CREATE UNIQUE INDEX uk_stage_stays ON stage_stays (owner_id, stage_id, days) NULLS NOT DISTINCT;
CREATE TABLE won_cycles (
    owner_id integer,
    days integer NOT NULL,
    leads bigint NOT NULL
);
CREATE UNIQUE INDEX uk_won_cycles ON won_cycles (owner_id, days) NULLS NOT DISTINCT;
"""
DAYS = "floor(extract(epoch FROM ({later}) - ({earlier})) / 86400)::integer"
# A lead's completed stays and wins, from its history (the row ``skip`` left out).
FUNCTIONS = f"""
CREATE FUNCTION crm_lead_stays(lead integer, skip bigint)
RETURNS TABLE (stage_id integer, days integer)
LANGUAGE sql STABLE AS $$
    SELECT s.before_stage, {DAYS.format(later="s.changed_at", earlier="s.before_at")}
      FROM (SELECT h.changed_at,
                   lag(h.changed_at) OVER w AS before_at,
                   lag(h.to_stage_id) OVER w AS before_stage
              FROM lead_stage_history AS h
             WHERE h.lead_id = lead AND h.id IS DISTINCT FROM skip
            WINDOW w AS (ORDER BY h.changed_at, h.id)) AS s
     WHERE s.before_at IS NOT NULL AND s.before_stage IS NOT NULL
$$;
CREATE FUNCTION crm_lead_wins(lead integer, created timestamp, skip bigint)
RETURNS TABLE (days integer)
LANGUAGE sql STABLE AS $$
    SELECT greatest({DAYS.format(later="h.changed_at", earlier="created")}, 0)
      FROM lead_stage_history AS h
      JOIN lead_stages AS s ON s.id = h.to_stage_id AND s.name = 'Closed Won'
     WHERE h.lead_id = lead AND h.id IS DISTINCT FROM skip AND created IS NOT NULL
$$;
CREATE FUNCTION crm_lead_stays_apply(lead integer, owner integer, created timestamp,
                                     skip bigint, sign integer)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO stage_stays AS t (owner_id, stage_id, days, stays)
    SELECT owner, x.stage_id, x.days, sign * count(*)
      FROM crm_lead_stays(lead, skip) AS x GROUP BY x.stage_id, x.days
    ON CONFLICT (owner_id, stage_id, days) DO UPDATE SET stays = t.stays + EXCLUDED.stays;
    INSERT INTO won_cycles AS t (owner_id, days, leads)
    SELECT owner, x.days, sign * count(*)
      FROM crm_lead_wins(lead, created, skip) AS x GROUP BY x.days
    ON CONFLICT (owner_id, days) DO UPDATE SET leads = t.leads + EXCLUDED.leads;
$$;
CREATE FUNCTION crm_leads_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.created_at, NULL, -1);
        RETURN OLD;
    END IF;
    IF NEW.owner_id IS NOT DISTINCT FROM OLD.owner_id
       AND NEW.created_at IS NOT DISTINCT FROM OLD.created_at THEN
        -- Only the stage changed (most moves): one stay more, from when the lead entered
        -- the stage it left (its history's last row) to now (this move's row), and a win.
        IF COALESCE(OLD.stage_entered_at, OLD.created_at) IS NOT NULL
           AND EXISTS (SELECT 1 FROM lead_stages AS s WHERE s.id = OLD.stage_id) THEN
            INSERT INTO stage_stays AS t (owner_id, stage_id, days, stays)
            VALUES (NEW.owner_id, OLD.stage_id,
                    {
    DAYS.format(later="LOCALTIMESTAMP", earlier="COALESCE(OLD.stage_entered_at, OLD.created_at)")
}, 1)
            ON CONFLICT (owner_id, stage_id, days) DO UPDATE SET stays = t.stays + 1;
        END IF;
        IF NEW.created_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM lead_stages AS s WHERE s.id = NEW.stage_id AND s.name = 'Closed Won'
        ) THEN
            INSERT INTO won_cycles AS t (owner_id, days, leads)
            VALUES (NEW.owner_id,
                    greatest({DAYS.format(later="LOCALTIMESTAMP", earlier="NEW.created_at")}, 0),
                    1)
            ON CONFLICT (owner_id, days) DO UPDATE SET leads = t.leads + 1;
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.stage_id IS DISTINCT FROM OLD.stage_id THEN
        -- This move's history row, written by trg_leads_stage_history_update.
        SELECT max(h.id) INTO newest FROM lead_stage_history AS h WHERE h.lead_id = NEW.id;
    END IF;
    PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.created_at, newest, -1);
    PERFORM crm_lead_stays_apply(NEW.id, NEW.owner_id, NEW.created_at, NULL, 1);
    RETURN NULL;
END;
$$;
"""
TRIGGERS = (
    "CREATE TRIGGER trg_leads_stays AFTER UPDATE OF stage_id, owner_id, created_at ON leads "
    "FOR EACH ROW WHEN (OLD.stage_id IS DISTINCT FROM NEW.stage_id "
    "OR OLD.owner_id IS DISTINCT FROM NEW.owner_id "
    "OR OLD.created_at IS DISTINCT FROM NEW.created_at) "
    "EXECUTE FUNCTION crm_leads_stays()",
    # BEFORE: the lead's history goes with it (ON DELETE CASCADE) before any AFTER trigger.
    "CREATE TRIGGER trg_leads_stays_delete BEFORE DELETE ON leads "
    "FOR EACH ROW EXECUTE FUNCTION crm_leads_stays()",
)
BACKFILL = f"""
INSERT INTO stage_stays (owner_id, stage_id, days, stays)
SELECT l.owner_id, s.before_stage, {DAYS.format(later="s.changed_at", earlier="s.before_at")},
       count(*)
  FROM (SELECT h.lead_id, h.changed_at,
               lag(h.changed_at) OVER w AS before_at,
               lag(h.to_stage_id) OVER w AS before_stage
          FROM lead_stage_history AS h
        WINDOW w AS (PARTITION BY h.lead_id ORDER BY h.changed_at, h.id)) AS s
  JOIN leads AS l ON l.id = s.lead_id
 WHERE s.before_at IS NOT NULL AND s.before_stage IS NOT NULL
 GROUP BY 1, 2, 3;
INSERT INTO won_cycles (owner_id, days, leads)
SELECT l.owner_id, greatest({DAYS.format(later="h.changed_at", earlier="l.created_at")}, 0),
       count(*)
  FROM lead_stage_history AS h
  JOIN lead_stages AS s ON s.id = h.to_stage_id AND s.name = 'Closed Won'
  JOIN leads AS l ON l.id = h.lead_id
 WHERE l.created_at IS NOT NULL
 GROUP BY 1, 2;
"""
REBUILD = f"""
CREATE FUNCTION crm_rebuild_stage_stays() RETURNS void
LANGUAGE sql AS $$
    DELETE FROM stage_stays;
    DELETE FROM won_cycles;
    {BACKFILL}
$$
"""


def _copy_grants(table: str) -> str:
    """Migration 0023's grant copy: ``pipeline_stats``' privileges on ``table``."""
    spec = spec_from_file_location("_m0023", Path(__file__).with_name("0023_exchange_rates.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module._copy_grants("pipeline_stats", table))


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    op.execute(REBUILD)
    op.execute("SELECT crm_rebuild_stage_stays()")
    for statement in TRIGGERS:
        op.execute(statement)
    for table in ("stage_stays", "won_cycles"):
        op.execute(_copy_grants(table))
    op.execute("ANALYZE stage_stays, won_cycles")


def downgrade() -> None:
    op.execute("DROP TRIGGER trg_leads_stays_delete ON leads")
    op.execute("DROP TRIGGER trg_leads_stays ON leads")
    op.execute("DROP FUNCTION crm_rebuild_stage_stays()")
    op.execute("DROP FUNCTION crm_leads_stays()")
    op.execute("DROP FUNCTION crm_lead_stays_apply(integer, integer, timestamp, bigint, integer)")
    op.execute("DROP FUNCTION crm_lead_wins(integer, timestamp, bigint)")
    op.execute("DROP FUNCTION crm_lead_stays(integer, bigint)")
    op.execute("DROP TABLE won_cycles")
    op.execute("DROP TABLE stage_stays")
