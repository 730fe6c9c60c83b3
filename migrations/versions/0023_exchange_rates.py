"""``exchange_rates``, and the pipeline aggregates by creation month that conversion needs.

Issue 17, part 1: every amount on the funnel, board and home page is converted
to the base currency (``BASE_CURRENCY``) at the rate valid on the amount's date,
the day its lead was created. A rate is "1 unit of ``currency`` is ``rate`` units
of the base currency, from ``valid_from`` until the currency's next rate".
Admins keep the table in its own view; it is audited like every table
(``crm_audit()``), versioned for optimistic locking, and TRUNCATE is refused.

Conversion needs every sum split by creation month, for every page:

- ``pipeline_months``: ``pipeline_stats`` without the owner (stage, currency,
  source, creation month): every owner's funnel reads about 7,000 rows at scale
  1 instead of ``pipeline_stats``'s 143,000.
- ``forecast_stats`` gains ``created_month`` (a rep's forecast, by owner), and
  ``forecast_months`` is the same without the owner (everyone's forecast).

The statement-level triggers of migrations 0012 and 0021 keep all five exact
(the trigger and rebuild functions are regenerated with 0021's code), and the
app's role gets on the new tables the grants it has on ``pipeline_stats``; on
``exchange_rates`` and its sequence, the grants it has on ``lead_stages``.

Revision ID: 0023_exchange_rates
Revises: 0022_lead_stage_history
Create Date: 2026-11-30
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0023_exchange_rates"
down_revision = "0022_lead_stage_history"
branch_labels = None
depends_on = None


def _migration_0021() -> ModuleType:
    """Migration 0021's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location("_m0021", Path(__file__).with_name("0021_pipeline_totals.py"))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NEW_KEYS = {
    "pipeline_stats": "owner_id, stage_id, currency, source, created_month",
    "forecast_stats": "owner_id, stage_id, currency, close_month, created_month",
    "pipeline_totals": "owner_id, stage_id, currency, source",
    "pipeline_months": "stage_id, currency, source, created_month",
    "forecast_months": "stage_id, currency, close_month, created_month",
}
OLD_FORECAST_KEY = "owner_id, stage_id, currency, close_month"

RATES = """
CREATE TABLE exchange_rates (
    id serial PRIMARY KEY,
    currency varchar(3) NOT NULL,
    rate numeric(18, 8) NOT NULL,
    valid_from date NOT NULL,
    created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp DEFAULT CURRENT_TIMESTAMP,
    version integer NOT NULL DEFAULT 1,
    CONSTRAINT chk_exchange_rates_currency CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT chk_exchange_rates_rate CHECK (rate > 0),
    CONSTRAINT uq_exchange_rates_currency_valid_from UNIQUE (currency, valid_from)
)
"""
RATE_TRIGGERS = (
    "CREATE TRIGGER trg_exchange_rates_updated_at BEFORE UPDATE ON exchange_rates "
    "FOR EACH ROW EXECUTE FUNCTION crm_touch_updated_at()",
    "CREATE TRIGGER trg_exchange_rates_version BEFORE UPDATE ON exchange_rates "
    "FOR EACH ROW EXECUTE FUNCTION crm_bump_version()",
    "CREATE TRIGGER trg_exchange_rates_audit AFTER INSERT OR UPDATE OR DELETE ON exchange_rates "
    "FOR EACH ROW EXECUTE FUNCTION crm_audit()",
    "CREATE TRIGGER trg_exchange_rates_no_truncate BEFORE TRUNCATE ON exchange_rates "
    "FOR EACH STATEMENT EXECUTE FUNCTION crm_refuse_truncate()",
)


def _aggregate(table: str, month_column: str) -> str:
    key = NEW_KEYS[table]
    dimension = "source varchar(100)" if "source" in key else "close_month date"
    return f"""
        CREATE TABLE {table} (
            stage_id integer,
            currency varchar(3),
            {dimension},
            {month_column} date,
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        );
        CREATE UNIQUE INDEX uk_{table} ON {table} ({key}) NULLS NOT DISTINCT;
    """


def _copy_grants(source: str, target: str, sequences: tuple[str, str] | None = None) -> str:
    """Give every role ``source``'s privileges on ``target`` (and one sequence's on another)."""
    names = f"'{source}'" + (f", '{sequences[0]}'" if sequences else "")
    sequence = (
        f"ELSE EXECUTE format('GRANT %s ON SEQUENCE {sequences[1]} TO %I', "
        "g.privilege_type, g.rolname);"
        if sequences
        else ""
    )
    return f"""
DO $$
DECLARE g record;
BEGIN
    FOR g IN SELECT DISTINCT c.relname AS source, a.privilege_type, r.rolname
               FROM pg_class AS c
               CROSS JOIN LATERAL aclexplode(c.relacl) AS a
               JOIN pg_roles AS r ON r.oid = a.grantee
              WHERE c.relnamespace = current_schema()::regnamespace
                AND c.relname IN ({names}) AND a.grantee <> c.relowner
    LOOP
        IF g.source = '{source}' THEN
            EXECUTE format('GRANT %s ON {target} TO %I', g.privilege_type, g.rolname);
        {sequence}
        END IF;
    END LOOP;
END $$
"""


def upgrade() -> None:
    op.execute(RATES)
    for statement in RATE_TRIGGERS:
        op.execute(statement)
    op.execute(
        _copy_grants(
            "lead_stages", "exchange_rates", ("lead_stages_id_seq", "exchange_rates_id_seq")
        )
    )
    op.execute(_aggregate("pipeline_months", "created_month"))
    op.execute(_aggregate("forecast_months", "created_month"))
    for table in ("pipeline_months", "forecast_months"):
        op.execute(_copy_grants("pipeline_stats", table))
    op.execute("DROP INDEX uk_forecast_stats")
    op.execute("ALTER TABLE forecast_stats ADD COLUMN created_month date")
    old = _migration_0021()
    old.KEYS.clear()
    old.KEYS.update(NEW_KEYS)
    trigger, rebuild = old._functions(list(NEW_KEYS))
    op.execute(trigger)
    op.execute(rebuild)
    for table in ("forecast_stats", "pipeline_months", "forecast_months"):
        op.execute(f"DELETE FROM {table}")
        op.execute(
            f"INSERT INTO {table} ({NEW_KEYS[table]}, leads, amount, weighted) "
            f"{old._sums('leads', NEW_KEYS[table])}"
        )
    op.execute(
        f"CREATE UNIQUE INDEX uk_forecast_stats ON forecast_stats ({NEW_KEYS['forecast_stats']}) "
        "NULLS NOT DISTINCT"
    )
    op.execute("ANALYZE exchange_rates, forecast_stats, pipeline_months, forecast_months")


def downgrade() -> None:
    old = _migration_0021()  # its own KEYS: 0021's three tables, forecast_stats by owner
    assert old.KEYS["forecast_stats"] == OLD_FORECAST_KEY
    trigger, rebuild = old._functions(list(old.KEYS))
    op.execute(trigger)
    op.execute(rebuild)
    op.execute("DROP INDEX uk_forecast_stats")
    op.execute("ALTER TABLE forecast_stats DROP COLUMN created_month")
    op.execute("DELETE FROM forecast_stats")
    op.execute(
        f"INSERT INTO forecast_stats ({OLD_FORECAST_KEY}, leads, amount, weighted) "
        f"{old._sums('leads', OLD_FORECAST_KEY)}"
    )
    op.execute(
        f"CREATE UNIQUE INDEX uk_forecast_stats ON forecast_stats ({OLD_FORECAST_KEY}) "
        "NULLS NOT DISTINCT"
    )
    op.execute("DROP TABLE forecast_months")
    op.execute("DROP TABLE pipeline_months")
    op.execute("DROP TABLE exchange_rates")
