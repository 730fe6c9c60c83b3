"""Every owner's as-of flows by the leads' dates too: a date range reads sums, not leads.

Issue 17, part 5: everyone's funnel as of a past day with a creation or expected-close
range rebuilt the range's leads that have moved since, one by one from their history
(at scale 1: 660 ms for a 3½-month creation range as of a month ago, 67,000 leads;
505 ms for a 2-month close range). Now, kept by the same statement-level trigger as
every pipeline aggregate (a change of a lead's close date moves its sums on that day):

- ``pipeline_flows_<date>`` for ``created_month``, ``created_day``, ``close_month``
  and ``close_day``: ``pipeline_flows_all`` by that date of the lead too (about 0.4M
  rows by month and 2.2M by day at scale 1);
- ``pipeline_checkpoints_<date>``: the sum of those flows before the first of each
  month, made with ``pipeline_checkpoints`` by ``crm_pipeline_checkpoint()`` (the
  same loop, under the same lock; stored in date order, so a range's rows share pages).

So a range's whole months, as of a day, are a checkpoint plus at most a month of
daily rows, and so are the days of its partial months at either end (at most 31
each; crm/sales/asof.py). ``crm_rebuild_pipeline_flows()`` rebuilds them from the
stage history with the other flows. This migration fills them from the stage history
of the leads there now (a lead deleted before it is not in them, and the leads'
close dates are today's, as after any rebuild) and remakes every checkpoint from the
flows (about four minutes at scale 1). The app's role gets ``pipeline_stats``' grants.

Revision ID: 0035_flows_by_lead_dates
Revises: 0034_notifications
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0035_flows_by_lead_dates"
down_revision = "0034_notifications"
branch_labels = None
depends_on = None

LEAD = "stage_id, currency, source, stages_passed, previous_stage_id"
# The date the new flows and checkpoints are by, and how a lead's is read.
BY = {
    "created_month": "CAST(date_trunc('month', l.created_at) AS date)",
    "created_day": "CAST(date_trunc('day', l.created_at) AS date)",
    "close_month": "CAST(date_trunc('month', l.expected_close_date) AS date)",
    "close_day": "l.expected_close_date",
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
SUMS = "sum(leads), sum(amount), sum(weighted)"
NONZERO = "HAVING sum(leads) <> 0 OR sum(amount) <> 0 OR sum(weighted) <> 0"


def flow_key(by: str) -> str:
    """The key of ``pipeline_flows_<by>``."""
    return f"flow_day, {by}, {LEAD}"


def _tables(column: str) -> str:
    flows, points = f"pipeline_flows_{column}", f"pipeline_checkpoints_{column}"
    return f"""
CREATE TABLE {flows} (flow_day date NOT NULL, {column} date, {COLUMNS});
CREATE UNIQUE INDEX uk_{flows} ON {flows} ({flow_key(column)}) NULLS NOT DISTINCT;
CREATE TABLE {points} (month date NOT NULL, {column} date, {COLUMNS});
CREATE UNIQUE INDEX uk_{points} ON {points} (month, {column}, {LEAD}) NULLS NOT DISTINCT;
"""


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_history(by: str) -> str:
    """0028's flows from the stage history, by creation month or day instead of owner."""
    sql = _migration("0028_pipeline_flows.py").FROM_HISTORY
    swaps = {
        "INSERT INTO pipeline_flows (owner_id, flow_day,": (
            f"INSERT INTO pipeline_flows_{by} ({by}, flow_day,"
        ),
        "SELECT l.owner_id, m.flow_day,": f"SELECT {BY[by]}, m.flow_day,",
    }
    for old, new in swaps.items():
        assert old in sql, old  # 0028 is never edited, but say so if it were
        sql = sql.replace(old, new)
    # Stored in the order they are read (a day's flows, by creation date), as the
    # trigger's day-by-day inserts would have them: a range's rows share pages.
    return f"{sql.rstrip()}\n ORDER BY 2, 1"


def _checkpoint_step(by: str) -> str:
    """The checkpoint loop's extra statement: this month's by the lead's date ``by``."""
    column, flows, points = by, f"pipeline_flows_{by}", f"pipeline_checkpoints_{by}"
    return f"""
        INSERT INTO {points} (month, {column}, {LEAD}, leads, amount, weighted)
        SELECT later, {column}, {LEAD}, {SUMS}
          FROM (SELECT {column}, {LEAD}, leads, amount, weighted
                  FROM {points} WHERE month = made
                UNION ALL
                SELECT {column}, {LEAD}, leads, amount, weighted
                  FROM {flows} WHERE flow_day >= made AND flow_day < later) AS s
         GROUP BY {column}, {LEAD}
        {NONZERO}
         ORDER BY {column};"""


def functions(dated: bool) -> str:
    """0028's checkpoint maker and flow rebuild, with the flows by the leads' dates or not."""
    sql = _migration("0028_pipeline_flows.py").FUNCTIONS.replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )
    if not dated:
        return sql
    marker = "        INSERT INTO pipeline_checkpoint_months VALUES (later);"
    rebuild = "DELETE FROM pipeline_flows;\n"
    assert marker in sql and rebuild in sql
    steps = "".join(_checkpoint_step(by) for by in BY)
    sql = sql.replace(marker, f"{steps}\n{marker}")
    remade = "".join(
        f"DELETE FROM pipeline_checkpoints_{by};\nDELETE FROM pipeline_flows_{by};\n"
        f"{from_history(by)};\n"
        for by in BY
    )
    return sql.replace(rebuild, rebuild + remade)


ZERO = "leads = 0 AND amount = 0 AND weighted = 0"


def _flows() -> dict[str, str]:
    """Every flow table (0028's two and this migration's) -> its key."""
    made = _migration("0028_pipeline_flows.py")
    return {**made.FLOWS, **{f"pipeline_flows_{by}": flow_key(by) for by in BY}}


def _flows_apply(old: ModuleType) -> str:
    """Every flow table in one statement: the changed leads read once, six upserts.

    0030's code writes one statement per table; a stage move's trigger ran six for the
    flows alone. Rows left at zero are taken back, as 0030 does.
    """
    tables = _flows()
    key = f"flow_day, owner_id, {', '.join(BY)}, {LEAD}"

    def upsert(delta: str) -> str:
        kept = []
        for n, (table, own) in enumerate(tables.items(), 1):
            kept.append(f"""
             k{n} AS (
                INSERT INTO {table} AS p ({own}, leads, amount, weighted)
                SELECT {own}, sum(leads), sum(amount), sum(weighted) FROM delta GROUP BY {own}
                ON CONFLICT ({own}) DO UPDATE
                   SET leads = p.leads + EXCLUDED.leads,
                       amount = p.amount + EXCLUDED.amount,
                       weighted = p.weighted + EXCLUDED.weighted
                RETURNING {n} AS n, p.ctid, p.leads, p.amount, p.weighted)""")
        numbers = range(1, len(tables) + 1)
        every = " UNION ALL ".join(f"SELECT * FROM k{n}" for n in numbers)
        found = ", ".join(f"array_agg(ctid) FILTER (WHERE n = {n} AND {ZERO})" for n in numbers)
        into = ", ".join(f"zeros{n}" for n in numbers)
        deletes = "".join(
            f"""
        IF zeros{n} IS NOT NULL THEN
            DELETE FROM {table} WHERE ctid = ANY (zeros{n}) AND {ZERO};
        END IF;"""
            for n, table in enumerate(tables, 1)
        )
        return f"""
        WITH delta AS ({delta}),{",".join(kept)}
        SELECT {found} INTO {into} FROM ({every}) AS k;{deletes}"""

    changed = (
        f"{old._sums('new_rows', key, '', old.CHANGED)} "
        f"UNION ALL {old._sums('old_rows', key, '-', old.CHANGED)}"
    )
    return f"""
    IF TG_OP = 'INSERT' THEN {upsert(old._sums("new_rows", key))}
    ELSIF TG_OP = 'DELETE' THEN {upsert(old._sums("old_rows", key, "-"))}
    ELSE {upsert(changed)}
    END IF;"""


def trigger_function(flows: bool = True) -> str:
    """``crm_pipeline_stats()`` over every aggregate (without the as-of flows: for the bench)."""
    zeros = _migration("0030_aggregates_without_zeros.py")
    made = _migration("0028_pipeline_flows.py")
    old = _migration("0026_pipeline_days.py")._migration_0021()
    old.MONTHS["flow_day"] = "CAST(LOCALTIMESTAMP AS date) AS flow_day"
    found = "".join(f"zeros{n} tid[];\n    " for n in range(1, len(_flows()) + 1))
    return f"""
CREATE OR REPLACE FUNCTION crm_pipeline_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    zeros tid[];
    {found}
BEGIN
    {"".join(zeros._apply(old, table, key) for table, key in made.OLD_KEYS.items())}
    {_flows_apply(old) if flows else ""}
    RETURN NULL;
END;
$$;
"""


def upgrade() -> None:
    for by in BY:
        op.execute(_tables(by))
    op.execute(trigger_function())
    op.execute(functions(dated=True))
    grants = _migration("0023_exchange_rates.py")._copy_grants
    op.execute("SET LOCAL work_mem = '256MB'")
    for by in BY:
        for table in (f"pipeline_flows_{by}", f"pipeline_checkpoints_{by}"):
            op.execute(grants("pipeline_stats", table))
        op.execute(from_history(by))
    # Every checkpoint again, from the flows (those of the other tables come out the same).
    op.execute("SELECT pg_advisory_xact_lock(hashtext('crm_pipeline_checkpoint'))")
    op.execute("DELETE FROM pipeline_checkpoint_months")
    op.execute("DELETE FROM pipeline_checkpoints")
    op.execute("SELECT crm_pipeline_checkpoint(CURRENT_DATE)")
    op.execute(
        "ANALYZE pipeline_checkpoints, "
        + ", ".join(f"pipeline_flows_{by}, pipeline_checkpoints_{by}" for by in BY)
    )


def downgrade() -> None:
    op.execute(_migration("0030_aggregates_without_zeros.py").trigger_function())
    op.execute(functions(dated=False))
    op.execute(
        "DROP TABLE " + ", ".join(f"pipeline_checkpoints_{by}, pipeline_flows_{by}" for by in BY)
    )
