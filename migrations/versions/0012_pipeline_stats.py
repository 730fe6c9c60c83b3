"""Pipeline aggregates kept exact by the database, for the funnel and the home page.

``pipeline_stats`` holds, per (owner, stage, currency, source, creation month),
how many leads
there are, their total amount and their weighted amount (amount × probability
/ 100). Statement-level triggers on ``leads`` (with transition tables, so a bulk
stage move is one upsert per group, not one per lead) add and subtract every
insert, update and delete; an update that touches none of those columns costs
nothing. A funnel over 2,000,000 leads then reads a few hundred rows instead of
grouping the leads (about 500 ms).

``forecast_stats`` is the same per (owner, stage, currency, expected-close
month), for the home page's forecast by month; the same triggers keep it.

A funnel filtered by creation date reads whole months from ``pipeline_stats``
and groups only the leads of the partial months at either end, through the
covering index ``idx_leads_created_pipeline`` (index-only).

Revision ID: 0012_pipeline_stats
Revises: 0011_search_indexes
Create Date: 2026-11-25
"""

from alembic import op

revision = "0012_pipeline_stats"
down_revision = "0011_search_indexes"
branch_labels = None
depends_on = None

KEY = "owner_id, stage_id, currency, source, created_month"
MONTH_KEY = "owner_id, stage_id, currency, close_month"
MONTHS = {
    "created_month": "CAST(date_trunc('month', created_at) AS date) AS created_month",
    "close_month": "CAST(date_trunc('month', expected_close_date) AS date) AS close_month",
}


def _sums(rows: str, sign: str = "", where: str = "", key: str = KEY) -> str:
    """One group's contribution per key: lead count, amount, weighted amount."""
    columns = key
    for name, expression in MONTHS.items():
        columns = columns.replace(name, expression)
    groups = ", ".join(str(n + 1) for n in range(key.count(",") + 1))
    return (
        f"SELECT {columns}, {sign}count(*) AS leads, {sign}COALESCE(sum(amount), 0) AS amount, "
        f"{sign}COALESCE(sum(amount * COALESCE(probability, 0) / 100.0), 0) AS weighted "
        f"FROM {rows} {where} GROUP BY {groups}"
    )


def _upsert(table: str, key: str) -> str:
    return f"""
    INSERT INTO {table} AS p ({key}, leads, amount, weighted)
    SELECT {key}, sum(leads), sum(amount), sum(weighted) FROM delta GROUP BY {key}
    ON CONFLICT ({key}) DO UPDATE
       SET leads = p.leads + EXCLUDED.leads,
           amount = p.amount + EXCLUDED.amount,
           weighted = p.weighted + EXCLUDED.weighted
"""


# Leads whose pipeline columns an UPDATE changed (others cost nothing).
CHANGED = (
    "WHERE id IN (SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "WHERE (o.owner_id, o.stage_id, o.currency, o.source, o.amount, o.probability, "
    "o.expected_close_date, o.created_at) IS DISTINCT FROM (n.owner_id, n.stage_id, "
    "n.currency, n.source, n.amount, n.probability, n.expected_close_date, n.created_at))"
)


def _apply(key: str, table: str) -> str:
    """The trigger's statements for one aggregate table."""
    return f"""
    IF TG_OP = 'INSERT' THEN
        WITH delta AS ({_sums("new_rows", key=key)}) {_upsert(table, key)};
    ELSIF TG_OP = 'DELETE' THEN
        WITH delta AS ({_sums("old_rows", "-", key=key)}) {_upsert(table, key)};
    ELSE
        WITH delta AS ({_sums("new_rows", "", CHANGED, key)}
                       UNION ALL {_sums("old_rows", "-", CHANGED, key)}) {_upsert(table, key)};
    END IF;"""


FUNCTION = f"""
CREATE FUNCTION crm_pipeline_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_apply(KEY, "pipeline_stats")}
    {_apply(MONTH_KEY, "forecast_stats")}
    RETURN NULL;
END;
$$;
"""

REBUILD = f"""
CREATE FUNCTION crm_rebuild_pipeline_stats() RETURNS void
LANGUAGE sql AS $$
    DELETE FROM pipeline_stats;
    INSERT INTO pipeline_stats ({KEY}, leads, amount, weighted) {_sums("leads")};
    DELETE FROM forecast_stats;
    INSERT INTO forecast_stats ({MONTH_KEY}, leads, amount, weighted)
        {_sums("leads", key=MONTH_KEY)};
$$;
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pipeline_stats (
            owner_id integer,
            stage_id integer,
            currency varchar(3),
            source varchar(100),
            created_month date,
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        )
        """
    )
    op.execute(
        f"CREATE UNIQUE INDEX uk_pipeline_stats ON pipeline_stats ({KEY}) NULLS NOT DISTINCT"
    )
    op.execute(
        """
        CREATE TABLE forecast_stats (
            owner_id integer,
            stage_id integer,
            currency varchar(3),
            close_month date,
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        )
        """
    )
    op.execute(
        f"CREATE UNIQUE INDEX uk_forecast_stats ON forecast_stats ({MONTH_KEY}) NULLS NOT DISTINCT"
    )
    op.execute(FUNCTION)
    op.execute(REBUILD)
    for event, tables in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER trg_leads_pipeline_{event.lower()} AFTER {event} ON leads "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION crm_pipeline_stats()"
        )
    op.execute("SELECT crm_rebuild_pipeline_stats()")
    op.execute(
        "CREATE INDEX idx_leads_created_pipeline ON leads (created_at) "
        "INCLUDE (stage_id, owner_id, currency, source, amount, probability)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX idx_leads_created_pipeline")
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER trg_leads_pipeline_{event} ON leads")
    op.execute("DROP FUNCTION crm_rebuild_pipeline_stats()")
    op.execute("DROP FUNCTION crm_pipeline_stats()")
    op.execute("DROP TABLE forecast_stats")
    op.execute("DROP TABLE pipeline_stats")
