"""Days in stage and to win by the leads' creation and expected-close months too.

Issue 17, part 4: the funnel's days in each stage and its velocity's median days to
win followed the owner, currency and source filters, not the creation or
expected-close ranges (migrations 0027, 0029 keep them without those dates). Now
``stage_stays_dated`` and ``won_cycles_dated`` (by owner) and ``..._dated_all`` (every
owner) keep the same histograms by ``dated_by`` and ``month``: each stay and win
once under the lead's creation month (``dated_by`` 'created') and once under its
expected-close month ('close'; none for a lead without one). So a range reads the
months it touches (crm/sales/timing.py).

The same row triggers keep them, in the same statements as the undated ones: a move
adds its stay (from the history row before it: not from ``stage_entered_at`` or the
creation date, which an edit may have moved) and win under the lead's months; a change
of owner, currency, source or creation date takes the lead's stays out as they were and
puts them back as they are; a new expected-close month alone moves only the lead's
'close' rows (``crm_lead_close_move``); a delete takes them out; a lead inserted as
Closed Won (with a creation date) counts its win, of no days, as a rebuild does (no
trigger counted it before); and a stage renamed to or from 'Closed Won' rebuilds them
all. ``crm_rebuild_stage_stays()``
rebuilds them from the history too. The new tables get ``pipeline_stats``' grants.

Revision ID: 0036_stays_by_lead_dates
Revises: 0035_flows_by_lead_dates
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0036_stays_by_lead_dates"
down_revision = "0035_flows_by_lead_dates"
branch_labels = None
depends_on = None

DATED = "dated_by, month"
# table -> its key (each sums ``stays`` or ``leads``); the dated ones by owner, then all.
# The dated keys lead with the months, after the owner: a range reads its months' rows.
STAYS = {
    "stage_stays": "owner_id, stage_id, currency, source, days",
    "stage_stays_all": "stage_id, currency, source, days",
    "stage_stays_dated": f"owner_id, {DATED}, stage_id, currency, source, days",
    "stage_stays_dated_all": f"{DATED}, stage_id, currency, source, days",
}
WINS = {
    "won_cycles": "owner_id, currency, source, days",
    "won_cycles_all": "currency, source, days",
    "won_cycles_dated": f"owner_id, {DATED}, currency, source, days",
    "won_cycles_dated_all": f"{DATED}, currency, source, days",
}
TYPES = {
    "owner_id": "integer", "stage_id": "integer", "currency": "varchar(3)",
    "source": "varchar(100)", "dated_by": "varchar(7) NOT NULL", "month": "date",
    "days": "integer NOT NULL",
}  # fmt: skip
TABLES = "".join(
    f"CREATE TABLE {table} ("
    + ", ".join(f"{c} {TYPES[c]}" for c in key.split(", "))
    + f", {count} bigint NOT NULL);\n"
    f"CREATE UNIQUE INDEX uk_{table} ON {table} ({key}) NULLS NOT DISTINCT;\n"
    for tables, count in ((STAYS, "stays"), (WINS, "leads"))
    for table, key in tables.items()
    if "dated" in table
)
DAYS = "floor(extract(epoch FROM ({later}) - ({earlier})) / 86400)::integer"
# Every stay under its creation month (a lead may have no creation date: NULL, as in the
# undated tables), and under its expected-close month when it has one.
KEPT = "(d.month IS NOT NULL OR d.dated_by = 'created')"


def _months(created: str, close: str) -> str:
    """The months a stay or win counts under: creation, and expected close if any."""
    return (
        f"LATERAL (VALUES ('created', CAST(date_trunc('month', {created}) AS date)), "
        f"('close', CAST(date_trunc('month', {close}) AS date))) AS d (dated_by, month)"
    )


def _into(table: str, columns: str, count: str, select: str) -> str:
    """Add ``select``'s rows (``columns``, then the count) into ``table``."""
    return (
        f"INSERT INTO {table} AS t ({columns}, {count}) {select} "
        f"ON CONFLICT ({columns}) DO UPDATE SET {count} = t.{count} + EXCLUDED.{count}"
    )


def _upsert(tables: dict[str, str], count: str, rows: str, months: str, extra: str = "") -> str:
    """Add ``rows`` (the by-owner key, the count, then ``extra``, columns ``months`` may
    name) into the four tables of ``tables``."""
    (owner, key), (every, every_key), (dated, dated_key), (dated_all, dated_all_key) = (
        tables.items()
    )

    def into(table: str, columns: str, source: str) -> str:
        return _into(
            table, columns, count, f"SELECT {columns}, sum(n) FROM {source} GROUP BY {columns}"
        )

    by_month = f"s CROSS JOIN {months} WHERE {KEPT}"
    return f"""
    WITH s ({key}, n{extra}) AS ({rows}),
         o AS ({into(owner, key, "s")}),
         a AS ({into(every, every_key, "s")}),
         d AS ({into(dated, dated_key, by_month)})
    {into(dated_all, dated_all_key, by_month)}"""


# A move's stay: from the history row before the move's own (``moved``) to it.
MOVE_STAY = DAYS.format(later="moved", earlier="since")
MOVE_WIN = f"greatest({DAYS.format(later='moved', earlier='NEW.created_at')}, 0)"
LEAD_MONTHS = _months("created", "closing")
NEW_MONTHS = _months("NEW.created_at", "NEW.expected_close_date")
APPLY_STAYS = _upsert(
    STAYS,
    "stays",
    "SELECT owner, x.stage_id, cur, src, x.days, sign * count(*) "
    "FROM crm_lead_stays(lead, skip) AS x GROUP BY x.stage_id, x.days",
    LEAD_MONTHS,
)
APPLY_WINS = _upsert(
    WINS,
    "leads",
    "SELECT owner, cur, src, x.days, sign * count(*) "
    "FROM crm_lead_wins(lead, created, skip) AS x GROUP BY x.days",
    LEAD_MONTHS,
)
# A move: the stay it ends, and a win if it won (one row each, under the lead now).
ONE_STAY = _upsert(
    STAYS,
    "stays",
    f"SELECT NEW.owner_id, left_stage, NEW.currency, NEW.source, {MOVE_STAY}, 1",
    NEW_MONTHS,
)
ONE_WIN = _upsert(
    WINS, "leads", f"SELECT NEW.owner_id, NEW.currency, NEW.source, {MOVE_WIN}, 1", NEW_MONTHS
)
# A lead inserted as won (an import): its win, of no days (its history starts at its
# creation), as a rebuild counts it.
INSERT_WINS = _upsert(
    WINS,
    "leads",
    "SELECT n.owner_id, n.currency, n.source, 0, 1, n.created_at, n.expected_close_date "
    "FROM new_rows AS n JOIN lead_stages AS g ON g.id = n.stage_id AND g.name = 'Closed Won' "
    "WHERE n.created_at IS NOT NULL",
    LEAD_MONTHS,
    ", created, closing",
)
# A new expected-close month: the lead's stays and wins leave the old month's 'close' rows
# for the new month's, and nothing else moves (within a month, the two cancel out).
CLOSE_MONTHS = (
    "(VALUES (CAST(date_trunc('month', was) AS date), -1), "
    "(CAST(date_trunc('month', closing) AS date), 1)) AS m (month, sign)"
)
STAYS_COLUMNS = "dated_by, month, stage_id, currency, source, days"
WINS_COLUMNS = "dated_by, month, currency, source, days"
CLOSE_MOVE = f"""
    WITH s AS (SELECT m.month, x.stage_id, x.days, sum(m.sign) AS n
                 FROM crm_lead_stays(lead, NULL) AS x CROSS JOIN {CLOSE_MONTHS}
                WHERE m.month IS NOT NULL GROUP BY m.month, x.stage_id, x.days
               HAVING sum(m.sign) <> 0),
         d AS ({_into("stage_stays_dated", f"owner_id, {STAYS_COLUMNS}", "stays",
                      "SELECT owner, 'close', month, stage_id, cur, src, days, n FROM s")})
    {_into("stage_stays_dated_all", STAYS_COLUMNS, "stays",
           "SELECT 'close', month, stage_id, cur, src, days, n FROM s")};
    WITH s AS (SELECT m.month, x.days, sum(m.sign) AS n
                 FROM crm_lead_wins(lead, created, NULL) AS x CROSS JOIN {CLOSE_MONTHS}
                WHERE m.month IS NOT NULL GROUP BY m.month, x.days HAVING sum(m.sign) <> 0),
         d AS ({_into("won_cycles_dated", f"owner_id, {WINS_COLUMNS}", "leads",
                      "SELECT owner, 'close', month, cur, src, days, n FROM s")})
    {_into("won_cycles_dated_all", WINS_COLUMNS, "leads",
           "SELECT 'close', month, cur, src, days, n FROM s")};"""  # fmt: skip
LEAD = "lead integer, owner integer, cur varchar, src varchar, created timestamp"
FUNCTIONS = f"""
CREATE FUNCTION crm_lead_stays_apply({LEAD}, closing date, skip bigint, sign integer)
RETURNS void
LANGUAGE sql AS $$
    {APPLY_STAYS};
    {APPLY_WINS};
$$;
CREATE FUNCTION crm_lead_close_move({LEAD}, was date, closing date) RETURNS void
LANGUAGE sql AS $$
    {CLOSE_MOVE}
$$;
CREATE FUNCTION crm_leads_stays_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {INSERT_WINS};
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION crm_leads_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
    moved timestamp;
    since timestamp;
    left_stage integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.currency, OLD.source,
                                     OLD.created_at, OLD.expected_close_date, NULL, -1);
        RETURN OLD;
    END IF;
    IF (NEW.owner_id, NEW.created_at, NEW.currency, NEW.source, NEW.stage_id)
       IS NOT DISTINCT FROM
       (OLD.owner_id, OLD.created_at, OLD.currency, OLD.source, OLD.stage_id) THEN
        -- Only the expected-close date changed (a bulk re-dating is many of these): the
        -- lead's stays and wins change close month, if the month changed; nothing else.
        IF date_trunc('month', NEW.expected_close_date)
           IS DISTINCT FROM date_trunc('month', OLD.expected_close_date) THEN
            PERFORM crm_lead_close_move(NEW.id, NEW.owner_id, NEW.currency, NEW.source,
                                        NEW.created_at, OLD.expected_close_date,
                                        NEW.expected_close_date);
        END IF;
        RETURN NULL;
    END IF;
    IF (NEW.owner_id, NEW.created_at, NEW.currency, NEW.source, NEW.expected_close_date)
       IS NOT DISTINCT FROM
       (OLD.owner_id, OLD.created_at, OLD.currency, OLD.source, OLD.expected_close_date) THEN
        -- Only the stage changed (most moves): one stay more, from the history row before
        -- this move's (written by trg_leads_stage_history_update) to it, and a win; as a
        -- rebuild counts them, whatever the lead's creation date or stage_entered_at say.
        SELECT h.id, h.changed_at INTO newest, moved
          FROM lead_stage_history AS h WHERE h.lead_id = NEW.id ORDER BY h.id DESC LIMIT 1;
        IF EXISTS (SELECT 1 FROM lead_stage_history AS h
                    WHERE h.lead_id = NEW.id AND (h.changed_at, h.id) > (moved, newest)) THEN
            -- The move sorts before another row (a creation date in the future): the
            -- stays around it change too, so the lead's are taken out and put back.
            PERFORM crm_lead_stays_apply(OLD.id, OLD.owner_id, OLD.currency, OLD.source,
                                         OLD.created_at, OLD.expected_close_date, newest, -1);
            PERFORM crm_lead_stays_apply(NEW.id, NEW.owner_id, NEW.currency, NEW.source,
                                         NEW.created_at, NEW.expected_close_date, NULL, 1);
            RETURN NULL;
        END IF;
        SELECT h.changed_at, h.to_stage_id INTO since, left_stage
          FROM lead_stage_history AS h
         WHERE h.lead_id = NEW.id AND (h.changed_at, h.id) < (moved, newest)
         ORDER BY h.changed_at DESC, h.id DESC LIMIT 1;
        IF left_stage IS NOT NULL THEN
            {ONE_STAY};
        END IF;
        IF NEW.created_at IS NOT NULL AND moved IS NOT NULL AND EXISTS (
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
                                 OLD.created_at, OLD.expected_close_date, newest, -1);
    PERFORM crm_lead_stays_apply(NEW.id, NEW.owner_id, NEW.currency, NEW.source,
                                 NEW.created_at, NEW.expected_close_date, NULL, 1);
    RETURN NULL;
END;
$$;
"""
WATCHED = ("stage_id", "owner_id", "created_at", "currency", "source", "expected_close_date")


def trigger(watched: tuple[str, ...]) -> str:
    """The row trigger on an UPDATE of any of ``watched``."""
    return (
        f"CREATE TRIGGER trg_leads_stays AFTER UPDATE OF {', '.join(watched)} ON leads "
        "FOR EACH ROW WHEN ("
        + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in watched)
        + ") EXECUTE FUNCTION crm_leads_stays()"
    )


INSERT_TRIGGER = (
    "CREATE TRIGGER trg_leads_stays_insert AFTER INSERT ON leads "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION crm_leads_stays_insert()"
)
# Which stage is 'Closed Won' decides every win counted: a stage renamed to or from it
# rebuilds the histograms (rare; 35 s at scale 1). Deleting a closed stage that leads
# ever entered fails anyway (idx_leads_active's sync, 0003, cannot rebuild the index
# while the delete's ON DELETE SET NULL on leads is pending), so no delete trigger.
WON_STAGE = (
    """
CREATE FUNCTION crm_lead_stages_stays() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM crm_rebuild_stage_stays();
    RETURN NULL;
END;
$$
""",
    "CREATE TRIGGER trg_lead_stages_stays_rename AFTER UPDATE OF name ON lead_stages "
    "FOR EACH ROW WHEN ((OLD.name = 'Closed Won') IS DISTINCT FROM (NEW.name = 'Closed Won')) "
    "EXECUTE FUNCTION crm_lead_stages_stays()",
)


STAY_DAYS = DAYS.format(later="s.changed_at", earlier="s.before_at")
WIN_DAYS = f"greatest({DAYS.format(later='h.changed_at', earlier='l.created_at')}, 0)"
ROW_MONTHS = _months("l.created_at", "l.expected_close_date")


# Each table filled in its key's order: a range of it (an owner's months) shares pages
# (unordered, a big book's year of stays was on 11,146 pages: 22 ms instead of 4).
REBUILD = f"""
CREATE OR REPLACE FUNCTION crm_rebuild_stage_stays() RETURNS void
LANGUAGE sql SET work_mem = '256MB' AS $$
    DELETE FROM stage_stays;
    DELETE FROM stage_stays_all;
    DELETE FROM stage_stays_dated;
    DELETE FROM stage_stays_dated_all;
    DELETE FROM won_cycles;
    DELETE FROM won_cycles_all;
    DELETE FROM won_cycles_dated;
    DELETE FROM won_cycles_dated_all;
    INSERT INTO stage_stays_dated
           (owner_id, stage_id, currency, source, dated_by, month, days, stays)
    SELECT l.owner_id, s.before_stage, l.currency, l.source, d.dated_by, d.month, {STAY_DAYS},
           count(*)
      FROM (SELECT h.lead_id, h.changed_at,
                   lag(h.changed_at) OVER w AS before_at,
                   lag(h.to_stage_id) OVER w AS before_stage
              FROM lead_stage_history AS h
            WINDOW w AS (PARTITION BY h.lead_id ORDER BY h.changed_at, h.id)) AS s
      JOIN leads AS l ON l.id = s.lead_id
     CROSS JOIN {ROW_MONTHS}
     WHERE s.before_at IS NOT NULL AND s.before_stage IS NOT NULL AND {KEPT}
     GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 5, 6, 2, 3, 4, 7;
    INSERT INTO stage_stays ({STAYS["stage_stays"]}, stays)
    SELECT {STAYS["stage_stays"]}, sum(stays) FROM stage_stays_dated
     WHERE dated_by = 'created' GROUP BY {STAYS["stage_stays"]} ORDER BY {STAYS["stage_stays"]};
    INSERT INTO stage_stays_all ({STAYS["stage_stays_all"]}, stays)
    SELECT {STAYS["stage_stays_all"]}, sum(stays) FROM stage_stays
     GROUP BY {STAYS["stage_stays_all"]} ORDER BY {STAYS["stage_stays_all"]};
    INSERT INTO stage_stays_dated_all ({STAYS["stage_stays_dated_all"]}, stays)
    SELECT {STAYS["stage_stays_dated_all"]}, sum(stays) FROM stage_stays_dated
     GROUP BY {STAYS["stage_stays_dated_all"]} ORDER BY {STAYS["stage_stays_dated_all"]};
    INSERT INTO won_cycles_dated (owner_id, currency, source, dated_by, month, days, leads)
    SELECT l.owner_id, l.currency, l.source, d.dated_by, d.month, {WIN_DAYS}, count(*)
      FROM lead_stage_history AS h
      JOIN lead_stages AS s ON s.id = h.to_stage_id AND s.name = 'Closed Won'
      JOIN leads AS l ON l.id = h.lead_id
     CROSS JOIN {ROW_MONTHS}
     WHERE l.created_at IS NOT NULL AND {KEPT}
     GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 4, 5, 2, 3, 6;
    INSERT INTO won_cycles ({WINS["won_cycles"]}, leads)
    SELECT {WINS["won_cycles"]}, sum(leads) FROM won_cycles_dated
     WHERE dated_by = 'created' GROUP BY {WINS["won_cycles"]} ORDER BY {WINS["won_cycles"]};
    INSERT INTO won_cycles_all ({WINS["won_cycles_all"]}, leads)
    SELECT {WINS["won_cycles_all"]}, sum(leads) FROM won_cycles
     GROUP BY {WINS["won_cycles_all"]} ORDER BY {WINS["won_cycles_all"]};
    INSERT INTO won_cycles_dated_all ({WINS["won_cycles_dated_all"]}, leads)
    SELECT {WINS["won_cycles_dated_all"]}, sum(leads) FROM won_cycles_dated
     GROUP BY {WINS["won_cycles_dated_all"]} ORDER BY {WINS["won_cycles_dated_all"]};
$$
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_APPLY = "integer, integer, varchar, varchar, timestamp, bigint, integer"
NEW_APPLY = "integer, integer, varchar, varchar, timestamp, date, bigint, integer"
CLOSE_APPLY = "integer, integer, varchar, varchar, timestamp, date, date"


def upgrade() -> None:
    op.execute("DROP TRIGGER trg_leads_stays ON leads")
    op.execute(f"DROP FUNCTION crm_lead_stays_apply({OLD_APPLY})")
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    op.execute(REBUILD)
    op.execute(trigger(WATCHED))
    op.execute(INSERT_TRIGGER)
    for statement in WON_STAGE:
        op.execute(statement)
    grants = _migration("0023_exchange_rates.py")._copy_grants
    for table in ("stage_stays_dated", "stage_stays_dated_all"):
        op.execute(grants("pipeline_stats", table))
    for table in ("won_cycles_dated", "won_cycles_dated_all"):
        op.execute(grants("pipeline_stats", table))
    op.execute("SELECT crm_rebuild_stage_stays()")
    op.execute(
        "ANALYZE stage_stays, stage_stays_all, stage_stays_dated, stage_stays_dated_all, "
        "won_cycles, won_cycles_all, won_cycles_dated, won_cycles_dated_all"
    )


def downgrade() -> None:
    old = _migration("0029_stays_by_currency.py")
    op.execute("DROP TRIGGER trg_leads_stays ON leads")
    op.execute("DROP TRIGGER trg_leads_stays_insert ON leads")
    op.execute("DROP TRIGGER trg_lead_stages_stays_rename ON lead_stages")
    op.execute("DROP FUNCTION crm_lead_stages_stays()")
    op.execute("DROP FUNCTION crm_leads_stays_insert()")
    op.execute(f"DROP FUNCTION crm_lead_close_move({CLOSE_APPLY})")
    op.execute(f"DROP FUNCTION crm_lead_stays_apply({NEW_APPLY})")
    op.execute(
        "DROP TABLE stage_stays_dated, stage_stays_dated_all, won_cycles_dated, "
        "won_cycles_dated_all"
    )
    op.execute(old.FUNCTIONS)
    op.execute(old.REBUILD)
    op.execute(old.TRIGGER)
    op.execute("SELECT crm_rebuild_stage_stays()")
