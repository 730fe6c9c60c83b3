"""``pipeline_flows``: the pipeline day by day, so the funnel can stand on any past day.

Issue 17, part 5 (``?as_of=YYYY-MM-DD``). The pipeline on a day is every lead
that existed then, in the stage it was in then, with the path it had then.
Rebuilding that from 6.3M stage-history rows per page view takes seconds, so the
database keeps it as flows:

- ``pipeline_flows``: per day, owner, stage, currency, source and path, how many
  leads came in (+) and went out (-), with their amounts. A lead's move adds one
  to its new path and takes one from its old path, on the day of the move; a new
  lead adds one; a delete takes one; a change of owner, currency, source or
  amount moves the lead's sums between keys on that day. Kept by the same
  statement-level triggers as every pipeline aggregate (0021's code, the day
  being the transaction's date), so every path writes them.
- ``pipeline_flows_all``: the same without the owner (about 200 rows a day at
  scale 1), for every owner's funnel.
- ``pipeline_checkpoints``: the sum of every flow before the first of a month,
  by owner (about 10,000 rows a month at scale 1), so a day is that month's
  checkpoint plus at most a month of flows. ``crm_pipeline_checkpoint(day)``
  makes the missing ones up to the day's month (one statement per month, through
  ``idx_pipeline_flows_flow_day``; under an advisory lock, and not at all while
  another session holds it) and returns the newest there is; a month's
  checkpoint is made only once its first day is over, so no transaction still
  open from the month before can add a flow it left out.
  ``pipeline_checkpoint_months`` lists the months made (an empty month has no rows).

The flows are events: from this migration on, a lead deleted later still counts on
the days it existed, under the owner it had then, with the amount it had then,
and a lead inserted with an earlier creation date counts from the day it was
inserted. The flows of the rows already there come from their stage history
(``crm_rebuild_pipeline_flows()``, which ``crm_rebuild_pipeline_stats()`` calls
too): the leads there now, under their owner and at their amounts of today, so
a rebuild forgets what only the flows knew. About a minute at scale 1. The app's
role gets the grants it has on ``pipeline_stats``.

Revision ID: 0028_pipeline_flows
Revises: 0027_stage_stays
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0028_pipeline_flows"
down_revision = "0027_stage_stays"
branch_labels = None
depends_on = None

PATH = "stages_passed, previous_stage_id"
LEAD = f"stage_id, currency, source, {PATH}"  # what a flow or checkpoint is about
OLD_KEYS = {
    "pipeline_stats": f"owner_id, stage_id, currency, source, created_month, {PATH}",
    "forecast_stats": "owner_id, stage_id, currency, close_month, created_month",
    "pipeline_totals": f"owner_id, stage_id, currency, source, {PATH}",
    "pipeline_months": f"stage_id, currency, source, created_month, {PATH}",
    "forecast_months": "stage_id, currency, close_month, created_month",
    "pipeline_days": f"stage_id, currency, source, created_day, {PATH}",
    "pipeline_closing": f"stage_id, currency, close_day, created_month, {PATH}",
}
FLOWS = {
    "pipeline_flows": f"owner_id, flow_day, {LEAD}",
    "pipeline_flows_all": f"flow_day, {LEAD}",
}
COLUMNS = """
    stage_id integer,
    currency varchar(3),
    source varchar(100),
    stages_passed integer[] NOT NULL DEFAULT '{}',
    previous_stage_id integer,
    leads bigint NOT NULL,
    amount numeric NOT NULL,
    weighted numeric NOT NULL
"""
TABLES = f"""
CREATE TABLE pipeline_flows (owner_id integer, flow_day date NOT NULL, {COLUMNS});
CREATE UNIQUE INDEX uk_pipeline_flows ON pipeline_flows ({FLOWS["pipeline_flows"]})
    NULLS NOT DISTINCT;
CREATE INDEX idx_pipeline_flows_flow_day ON pipeline_flows (flow_day);
CREATE TABLE pipeline_flows_all (flow_day date NOT NULL, {COLUMNS});
CREATE UNIQUE INDEX uk_pipeline_flows_all ON pipeline_flows_all ({FLOWS["pipeline_flows_all"]})
    NULLS NOT DISTINCT;
CREATE TABLE pipeline_checkpoints (month date NOT NULL, owner_id integer, {COLUMNS});
CREATE UNIQUE INDEX uk_pipeline_checkpoints
    ON pipeline_checkpoints (month, owner_id, {LEAD}) NULLS NOT DISTINCT;
CREATE TABLE pipeline_checkpoint_months (month date PRIMARY KEY);
"""
SUMS = "sum(leads), sum(amount), sum(weighted)"
NONZERO = "HAVING sum(leads) <> 0 OR sum(amount) <> 0 OR sum(weighted) <> 0"
# Each stage-history row is a lead entering a path (stage, stages left so far, stage
# left for it) on its day, and leaving the path before it (the lead's previous row).
FROM_HISTORY = f"""
WITH h AS (
    SELECT lead_id, CAST(changed_at AS date) AS flow_day, to_stage_id AS stage_id,
           from_stage_id AS previous, row_number() OVER w AS k,
           array_agg(from_stage_id) OVER w AS froms
      FROM lead_stage_history
    WINDOW w AS (PARTITION BY lead_id ORDER BY changed_at, id)
), states AS (
    SELECT lead_id, flow_day, k, stage_id, previous,
           ARRAY(SELECT DISTINCT f FROM unnest(froms) AS f WHERE f IS NOT NULL ORDER BY f)
               AS passed
      FROM h
), paired AS (
    SELECT s.*, lag(stage_id) OVER p AS was_stage, lag(passed) OVER p AS was_passed,
           lag(previous) OVER p AS was_previous
      FROM states AS s
    WINDOW p AS (PARTITION BY lead_id ORDER BY k)
), moves AS (
    SELECT lead_id, flow_day, 1 AS sign, stage_id, passed, previous FROM paired
    UNION ALL
    SELECT lead_id, flow_day, -1, was_stage, was_passed, was_previous FROM paired WHERE k > 1
)
INSERT INTO pipeline_flows (owner_id, flow_day, {LEAD}, leads, amount, weighted)
SELECT l.owner_id, m.flow_day, m.stage_id, l.currency, l.source, m.passed, m.previous,
       sum(m.sign), sum(m.sign * COALESCE(l.amount, 0)),
       sum(m.sign * COALESCE(l.amount * COALESCE(l.probability, 0) / 100.0, 0))
  FROM moves AS m JOIN leads AS l ON l.id = m.lead_id
 GROUP BY 1, 2, 3, 4, 5, 6, 7
HAVING sum(m.sign) <> 0 OR sum(m.sign * COALESCE(l.amount, 0)) <> 0
"""
FUNCTIONS = f"""
CREATE FUNCTION crm_pipeline_checkpoint(wanted date) RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
    -- A month's checkpoint once its first day is over (see the module's docstring).
    newest date := CAST(date_trunc('month', LEAST(wanted, CURRENT_DATE - 1)) AS date);
    made date;
    later date;
BEGIN
    SELECT max(month) INTO made FROM pipeline_checkpoint_months WHERE month <= newest;
    -- One maker at a time; whoever finds another at work uses what is there.
    IF made = newest OR NOT pg_try_advisory_xact_lock(hashtext('crm_pipeline_checkpoint')) THEN
        RETURN made;
    END IF;
    SELECT max(month) INTO made FROM pipeline_checkpoint_months WHERE month <= newest;
    IF made IS NULL THEN  -- the first: the month of the first flow, nothing before it
        made := CAST(date_trunc('month', (SELECT min(flow_day) FROM pipeline_flows_all)) AS date);
        IF made IS NULL OR made > newest THEN
            RETURN NULL;
        END IF;
        INSERT INTO pipeline_checkpoint_months VALUES (made);
    END IF;
    WHILE made < newest LOOP
        later := CAST(made + interval '1 month' AS date);
        INSERT INTO pipeline_checkpoints (month, owner_id, {LEAD}, leads, amount, weighted)
        SELECT later, owner_id, {LEAD}, {SUMS}
          FROM (SELECT owner_id, {LEAD}, leads, amount, weighted
                  FROM pipeline_checkpoints WHERE month = made
                UNION ALL
                SELECT owner_id, {LEAD}, leads, amount, weighted
                  FROM pipeline_flows WHERE flow_day >= made AND flow_day < later) AS s
         GROUP BY owner_id, {LEAD}
        {NONZERO};
        INSERT INTO pipeline_checkpoint_months VALUES (later);
        made := later;
    END LOOP;
    RETURN made;
END;
$$;
CREATE FUNCTION crm_rebuild_pipeline_flows() RETURNS void
LANGUAGE sql SET work_mem = '256MB' AS $$
SELECT pg_advisory_xact_lock(hashtext('crm_pipeline_checkpoint'));  -- no checkpoint made meanwhile
DELETE FROM pipeline_checkpoint_months;
DELETE FROM pipeline_checkpoints;
DELETE FROM pipeline_flows_all;
DELETE FROM pipeline_flows;
{FROM_HISTORY};
INSERT INTO pipeline_flows_all (flow_day, {LEAD}, leads, amount, weighted)
SELECT flow_day, {LEAD}, {SUMS} FROM pipeline_flows GROUP BY flow_day, {LEAD} {NONZERO};
SELECT crm_pipeline_checkpoint(CURRENT_DATE);
$$;
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _functions(flows: bool) -> None:
    """The aggregate trigger over every table (with the flows or not), and the rebuild."""
    old = _migration("0026_pipeline_days.py")._migration_0021()
    old.MONTHS["flow_day"] = "CAST(LOCALTIMESTAMP AS date) AS flow_day"  # the move's day
    old.KEYS.clear()
    old.KEYS.update({**OLD_KEYS, **(FLOWS if flows else {})})
    trigger, _rebuild = old._functions(list(old.KEYS))
    _trigger, rebuild = old._functions(list(OLD_KEYS))  # flows come from the history
    if flows:
        body, end = rebuild.rsplit("$$;", 1)
        rebuild = f"{body}SELECT crm_rebuild_pipeline_flows();\n$$;{end}"
    op.execute(trigger)
    op.execute(rebuild)


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    _functions(flows=True)
    grants = _migration("0023_exchange_rates.py")._copy_grants
    for table in ("pipeline_flows", "pipeline_flows_all", "pipeline_checkpoints"):
        op.execute(grants("pipeline_stats", table))
    op.execute(grants("pipeline_stats", "pipeline_checkpoint_months"))
    op.execute("SELECT crm_rebuild_pipeline_flows()")
    op.execute("ANALYZE pipeline_flows, pipeline_flows_all, pipeline_checkpoints")


def downgrade() -> None:
    _functions(flows=False)
    op.execute("DROP FUNCTION crm_rebuild_pipeline_flows()")
    op.execute("DROP FUNCTION crm_pipeline_checkpoint(date)")
    op.execute(
        "DROP TABLE pipeline_checkpoint_months, pipeline_checkpoints, pipeline_flows_all, "
        "pipeline_flows"
    )
