"""Days in stage and to win by currency and source too, and for every owner at once.

Issue 17, part 4: the funnel's days in each stage, and the median days to win its
velocity divides by, followed the owner filter only (migration 0027 kept them by
owner). They now follow the currency and source filters as well:

- ``stage_stays`` and ``won_cycles`` gain the lead's ``currency`` and ``source``
  (89,395 and 21,056 rows at scale 1, a rep's own a few thousand);
- ``stage_stays_all`` and ``won_cycles_all`` are the same without the owner
  (2,782 and 1,107 rows at scale 1), so everyone's funnel reads a few thousand rows, not
  every owner's.

The same row triggers keep all four: a move adds its stay and its win under the
lead's owner, currency and source; a change of any of those (or of the creation
date) takes the lead's stays out as they were and puts them back as they are; a
delete takes them out. ``crm_rebuild_stage_stays()`` rebuilds them from the
history. The new tables get ``pipeline_stats``' grants.

Revision ID: 0029_stays_by_currency
Revises: 0028_pipeline_flows
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0029_stays_by_currency"
down_revision = "0028_pipeline_flows"
branch_labels = None
depends_on = None

# table -> its key (each sums ``stays`` or ``leads``)
STAYS = {
    "stage_stays": "owner_id, stage_id, currency, source, days",
    "stage_stays_all": "stage_id, currency, source, days",
}
WINS = {
    "won_cycles": "owner_id, currency, source, days",
    "won_cycles_all": "currency, source, days",
}
TABLES = """
ALTER TABLE stage_stays ADD COLUMN currency varchar(3), ADD COLUMN source varchar(100);
ALTER TABLE won_cycles ADD COLUMN currency varchar(3), ADD COLUMN source varchar(100);
DROP INDEX uk_stage_stays;
DROP INDEX uk_won_cycles;
CREATE TABLE stage_stays_all (
    stage_id integer, currency varchar(3), source varchar(100),
    days integer NOT NULL, stays bigint NOT NULL
);
CREATE TABLE won_cycles_all (
    currency varchar(3), source varchar(100), days integer NOT NULL, leads bigint NOT NULL
);
""" + "".join(
    f"CREATE UNIQUE INDEX uk_{table} ON {table} ({key}) NULLS NOT DISTINCT;\n"
    for table, key in {**STAYS, **WINS}.items()
)
DAYS = "floor(extract(epoch FROM ({later}) - ({earlier})) / 86400)::integer"


def _upsert(tables: dict[str, str], count: str, rows: str) -> str:
    """Add ``rows`` (the first table's key, then the count) into both tables of ``tables``."""
    (by_owner, key), (every, every_key) = tables.items()
    return f"""
    WITH s ({key}, n) AS ({rows}),
         o AS (INSERT INTO {by_owner} AS t ({key}, {count}) SELECT * FROM s
               ON CONFLICT ({key}) DO UPDATE SET {count} = t.{count} + EXCLUDED.{count})
    INSERT INTO {every} AS t ({every_key}, {count})
    SELECT {every_key}, sum(n) FROM s GROUP BY {every_key}
    ON CONFLICT ({every_key}) DO UPDATE SET {count} = t.{count} + EXCLUDED.{count}"""


def _one(tables: dict[str, str], count: str, values: tuple[str, ...]) -> str:
    """One more for ``values`` (the first table's key) in both tables: two plain upserts."""
    (by_owner, key), (every, every_key) = tables.items()
    return f"""
    INSERT INTO {by_owner} AS t ({key}, {count}) VALUES ({", ".join(values)}, 1)
    ON CONFLICT ({key}) DO UPDATE SET {count} = t.{count} + 1;
    INSERT INTO {every} AS t ({every_key}, {count}) VALUES ({", ".join(values[1:])}, 1)
    ON CONFLICT ({every_key}) DO UPDATE SET {count} = t.{count} + 1"""


STAY_NOW = DAYS.format(
    later="LOCALTIMESTAMP", earlier="COALESCE(OLD.stage_entered_at, OLD.created_at)"
)
WIN_NOW = f"greatest({DAYS.format(later='LOCALTIMESTAMP', earlier='NEW.created_at')}, 0)"
# A lead's stays and wins from its history, in or out (``sign``), under its owner, currency, source.
APPLY_STAYS = _upsert(
    STAYS,
    "stays",
    "SELECT owner, x.stage_id, cur, src, x.days, sign * count(*) "
    "FROM crm_lead_stays(lead, skip) AS x GROUP BY x.stage_id, x.days",
)
APPLY_WINS = _upsert(
    WINS,
    "leads",
    "SELECT owner, cur, src, x.days, sign * count(*) "
    "FROM crm_lead_wins(lead, created, skip) AS x GROUP BY x.days",
)
# A move: the stay it ends, and a win if it won.
ONE_STAY = _one(
    STAYS, "stays", ("NEW.owner_id", "OLD.stage_id", "NEW.currency", "NEW.source", STAY_NOW)
)
ONE_WIN = _one(WINS, "leads", ("NEW.owner_id", "NEW.currency", "NEW.source", WIN_NOW))
FUNCTIONS = f"""
CREATE FUNCTION crm_lead_stays_apply(lead integer, owner integer, cur varchar, src varchar,
                                     created timestamp, skip bigint, sign integer)
RETURNS void
LANGUAGE sql AS $$
    {APPLY_STAYS};
    {APPLY_WINS};
$$;
CREATE OR REPLACE FUNCTION crm_leads_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.currency, OLD.source,
                                     OLD.created_at, NULL, -1);
        RETURN OLD;
    END IF;
    IF (NEW.owner_id, NEW.created_at, NEW.currency, NEW.source)
       IS NOT DISTINCT FROM (OLD.owner_id, OLD.created_at, OLD.currency, OLD.source) THEN
        -- Only the stage changed (most moves): one stay more, from when the lead entered
        -- the stage it left (its history's last row) to now (this move's row), and a win.
        IF COALESCE(OLD.stage_entered_at, OLD.created_at) IS NOT NULL
           AND EXISTS (SELECT 1 FROM lead_stages AS s WHERE s.id = OLD.stage_id) THEN
            {ONE_STAY};
        END IF;
        IF NEW.created_at IS NOT NULL AND EXISTS (
            SELECT 1 FROM lead_stages AS s WHERE s.id = NEW.stage_id AND s.name = 'Closed Won'
        ) THEN
            {ONE_WIN};
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.stage_id IS DISTINCT FROM OLD.stage_id THEN
        -- This move's history row, written by trg_leads_stage_history_update.
        SELECT max(h.id) INTO newest FROM lead_stage_history AS h WHERE h.lead_id = NEW.id;
    END IF;
    PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.currency, OLD.source,
                                 OLD.created_at, newest, -1);
    PERFORM crm_lead_stays_apply(NEW.id, NEW.owner_id, NEW.currency, NEW.source,
                                 NEW.created_at, NULL, 1);
    RETURN NULL;
END;
$$;
"""
WATCHED = ("stage_id", "owner_id", "created_at", "currency", "source")
TRIGGER = (
    f"CREATE TRIGGER trg_leads_stays AFTER UPDATE OF {', '.join(WATCHED)} ON leads "
    "FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in WATCHED)
    + ") EXECUTE FUNCTION crm_leads_stays()"
)
STAY_DAYS = DAYS.format(later="s.changed_at", earlier="s.before_at")
WIN_DAYS = f"greatest({DAYS.format(later='h.changed_at', earlier='l.created_at')}, 0)"
REBUILD = f"""
CREATE OR REPLACE FUNCTION crm_rebuild_stage_stays() RETURNS void
LANGUAGE sql SET work_mem = '256MB' AS $$
    DELETE FROM stage_stays;
    DELETE FROM stage_stays_all;
    DELETE FROM won_cycles;
    DELETE FROM won_cycles_all;
    INSERT INTO stage_stays ({STAYS["stage_stays"]}, stays)
    SELECT l.owner_id, s.before_stage, l.currency, l.source, {STAY_DAYS}, count(*)
      FROM (SELECT h.lead_id, h.changed_at,
                   lag(h.changed_at) OVER w AS before_at,
                   lag(h.to_stage_id) OVER w AS before_stage
              FROM lead_stage_history AS h
            WINDOW w AS (PARTITION BY h.lead_id ORDER BY h.changed_at, h.id)) AS s
      JOIN leads AS l ON l.id = s.lead_id
     WHERE s.before_at IS NOT NULL AND s.before_stage IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5;
    INSERT INTO stage_stays_all ({STAYS["stage_stays_all"]}, stays)
    SELECT {STAYS["stage_stays_all"]}, sum(stays) FROM stage_stays
     GROUP BY {STAYS["stage_stays_all"]};
    INSERT INTO won_cycles ({WINS["won_cycles"]}, leads)
    SELECT l.owner_id, l.currency, l.source, {WIN_DAYS}, count(*)
      FROM lead_stage_history AS h
      JOIN lead_stages AS s ON s.id = h.to_stage_id AND s.name = 'Closed Won'
      JOIN leads AS l ON l.id = h.lead_id
     WHERE l.created_at IS NOT NULL
     GROUP BY 1, 2, 3, 4;
    INSERT INTO won_cycles_all ({WINS["won_cycles_all"]}, leads)
    SELECT {WINS["won_cycles_all"]}, sum(leads) FROM won_cycles
     GROUP BY {WINS["won_cycles_all"]};
$$
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    op.execute("DROP TRIGGER trg_leads_stays ON leads")
    op.execute("DROP FUNCTION crm_lead_stays_apply(integer, integer, timestamp, bigint, integer)")
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    op.execute(REBUILD)
    op.execute(TRIGGER)
    op.execute("SELECT crm_rebuild_stage_stays()")
    grants = _migration("0023_exchange_rates.py")._copy_grants
    for table in ("stage_stays_all", "won_cycles_all"):
        op.execute(grants("pipeline_stats", table))
    op.execute("ANALYZE stage_stays, stage_stays_all, won_cycles, won_cycles_all")


def downgrade() -> None:
    old = _migration("0027_stage_stays.py")
    op.execute("DROP TRIGGER trg_leads_stays_delete ON leads")
    op.execute("DROP TRIGGER trg_leads_stays ON leads")
    op.execute("DROP FUNCTION crm_rebuild_stage_stays()")
    op.execute("DROP FUNCTION crm_leads_stays()")
    op.execute(
        "DROP FUNCTION crm_lead_stays_apply(integer, integer, varchar, varchar, timestamp, "
        "bigint, integer)"
    )
    op.execute("DROP FUNCTION crm_lead_wins(integer, timestamp, bigint)")
    op.execute("DROP FUNCTION crm_lead_stays(integer, bigint)")
    op.execute("DROP TABLE stage_stays_all, won_cycles_all")
    op.execute("DROP INDEX uk_stage_stays")
    op.execute("DROP INDEX uk_won_cycles")
    op.execute("DELETE FROM stage_stays")
    op.execute("DELETE FROM won_cycles")
    op.execute("ALTER TABLE stage_stays DROP COLUMN currency, DROP COLUMN source")
    op.execute("ALTER TABLE won_cycles DROP COLUMN currency, DROP COLUMN source")
    op.execute(
        "CREATE UNIQUE INDEX uk_stage_stays ON stage_stays (owner_id, stage_id, days) "
        "NULLS NOT DISTINCT"
    )
    op.execute(
        "CREATE UNIQUE INDEX uk_won_cycles ON won_cycles (owner_id, days) NULLS NOT DISTINCT"
    )
    op.execute(old.FUNCTIONS)
    op.execute(old.REBUILD)
    for statement in old.TRIGGERS:
        op.execute(statement)
    op.execute("SELECT crm_rebuild_stage_stays()")
