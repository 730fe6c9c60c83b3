"""``pipeline_totals``: the pipeline per owner, stage, currency and source, all months.

``pipeline_stats`` (migration 0012) splits every group by creation month, so a
date-filtered funnel reads whole months from it. At scale 1 its three years of
months made it 142,822 rows, and a funnel, board or home page with no date
filter summed 63,000 of them (25 to 50 ms) for seven numbers. This table holds
the same sums without the month (5,922 rows at scale 1), and those pages
read it whenever no creation date is asked for.

The same statement-level triggers keep it exact (one more upsert per statement
on ``leads``, grouped as before), and ``crm_rebuild_pipeline_stats()`` rebuilds
it with the others. The triggers run as whoever changes a lead, so the app's
own role (README "Production: database roles") needs the grants it has on
``pipeline_stats`` on this table too, or every change to a lead would fail: this
migration copies them.

Revision ID: 0021_pipeline_totals
Revises: 0020_open_tasks_due_date
Create Date: 2026-11-30
"""

from alembic import op

revision = "0021_pipeline_totals"
down_revision = "0020_open_tasks_due_date"
branch_labels = None
depends_on = None

# Migration 0012's aggregates, and the new one: table -> its key.
KEYS = {
    "pipeline_stats": "owner_id, stage_id, currency, source, created_month",
    "forecast_stats": "owner_id, stage_id, currency, close_month",
    "pipeline_totals": "owner_id, stage_id, currency, source",
}
MONTHS = {
    "created_month": "CAST(date_trunc('month', created_at) AS date) AS created_month",
    "close_month": "CAST(date_trunc('month', expected_close_date) AS date) AS close_month",
}
# Leads whose pipeline columns an UPDATE changed (others cost nothing), as in 0012.
CHANGED = (
    "WHERE id IN (SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id "
    "WHERE (o.owner_id, o.stage_id, o.currency, o.source, o.amount, o.probability, "
    "o.expected_close_date, o.created_at) IS DISTINCT FROM (n.owner_id, n.stage_id, "
    "n.currency, n.source, n.amount, n.probability, n.expected_close_date, n.created_at))"
)


def _sums(rows: str, key: str, sign: str = "", where: str = "") -> str:
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


def _apply(table: str, key: str) -> str:
    """The trigger's statements for one aggregate table."""
    upsert = f"""
    INSERT INTO {table} AS p ({key}, leads, amount, weighted)
    SELECT {key}, sum(leads), sum(amount), sum(weighted) FROM delta GROUP BY {key}
    ON CONFLICT ({key}) DO UPDATE
       SET leads = p.leads + EXCLUDED.leads,
           amount = p.amount + EXCLUDED.amount,
           weighted = p.weighted + EXCLUDED.weighted"""
    return f"""
    IF TG_OP = 'INSERT' THEN
        WITH delta AS ({_sums("new_rows", key)}) {upsert};
    ELSIF TG_OP = 'DELETE' THEN
        WITH delta AS ({_sums("old_rows", key, "-")}) {upsert};
    ELSE
        WITH delta AS ({_sums("new_rows", key, "", CHANGED)}
                       UNION ALL {_sums("old_rows", key, "-", CHANGED)}) {upsert};
    END IF;"""


def _functions(tables: list[str]) -> tuple[str, str]:
    """The trigger function and the rebuild function, over ``tables``."""
    trigger = f"""
CREATE OR REPLACE FUNCTION crm_pipeline_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {"".join(_apply(table, KEYS[table]) for table in tables)}
    RETURN NULL;
END;
$$;
"""
    rebuild = "".join(
        f"DELETE FROM {table}; "
        f"INSERT INTO {table} ({KEYS[table]}, leads, amount, weighted) "
        f"{_sums('leads', KEYS[table])};\n"
        for table in tables
    )
    return trigger, (
        "CREATE OR REPLACE FUNCTION crm_rebuild_pipeline_stats() RETURNS void "
        f"LANGUAGE sql AS $$\n{rebuild}$$;"
    )


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE pipeline_totals (
            owner_id integer,
            stage_id integer,
            currency varchar(3),
            source varchar(100),
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        )
        """
    )
    op.execute(
        f"CREATE UNIQUE INDEX uk_pipeline_totals ON pipeline_totals "
        f"({KEYS['pipeline_totals']}) NULLS NOT DISTINCT"
    )
    # Whoever may write pipeline_stats (the app's role) may write this too.
    op.execute(
        """
        DO $$
        DECLARE g record;
        BEGIN
            FOR g IN SELECT grantee, privilege_type FROM information_schema.role_table_grants
                     WHERE table_schema = current_schema() AND table_name = 'pipeline_stats'
                       AND grantee <> current_user
            LOOP
                EXECUTE format('GRANT %s ON pipeline_totals TO %I', g.privilege_type, g.grantee);
            END LOOP;
        END $$;
        """
    )
    for statement in _functions(list(KEYS)):
        op.execute(statement)
    op.execute(
        f"INSERT INTO pipeline_totals ({KEYS['pipeline_totals']}, leads, amount, weighted) "
        f"{_sums('leads', KEYS['pipeline_totals'])}"
    )


def downgrade() -> None:
    for statement in _functions(["pipeline_stats", "forecast_stats"]):
        op.execute(statement)
    op.execute("DROP TABLE pipeline_totals")
