"""``pipeline_days`` and ``pipeline_closing``: every owner's pipeline by the day.

A funnel filtered by creation date reads whole months from ``pipeline_months``
(migration 0023) and, until now, the partial months at either end from the leads
themselves: at scale 1 about 80,000 leads for a range that starts and ends mid-month,
77 ms. This table holds the same sums by creation day (no owner: a rep's partial
months are a short range of their own leads), so those edges are a few thousand
rows.

``pipeline_closing`` is the same by expected-close day and creation month (no
source, no owner): a funnel filtered by expected close date read every lead in the
range (for two months at scale 1, about 400,000 leads: 550 ms); it now reads the
range's days. With a source or an owner too, the leads are read as before.

Kept by the same statement-level triggers (regenerated with 0021's code), rebuilt
by ``crm_rebuild_pipeline_stats()``, given ``pipeline_stats``' grants.

Revision ID: 0026_pipeline_days
Revises: 0025_rotting_days
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0026_pipeline_days"
down_revision = "0025_rotting_days"
branch_labels = None
depends_on = None

PATH = "stages_passed, previous_stage_id"
KEYS = {
    "pipeline_stats": f"owner_id, stage_id, currency, source, created_month, {PATH}",
    "forecast_stats": "owner_id, stage_id, currency, close_month, created_month",
    "pipeline_totals": f"owner_id, stage_id, currency, source, {PATH}",
    "pipeline_months": f"stage_id, currency, source, created_month, {PATH}",
    "forecast_months": "stage_id, currency, close_month, created_month",
}
DAYS_KEY = f"stage_id, currency, source, created_day, {PATH}"
CLOSING_KEY = f"stage_id, currency, close_day, created_month, {PATH}"
NEW = {"pipeline_days": (DAYS_KEY, "created_day"), "pipeline_closing": (CLOSING_KEY, "close_day")}


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _migration_0021() -> ModuleType:
    """Migration 0021's generators, knowing the days this migration groups by."""
    module = _migration("0021_pipeline_totals.py")
    module.MONTHS["created_day"] = "CAST(date_trunc('day', created_at) AS date) AS created_day"
    module.MONTHS["close_day"] = "expected_close_date AS close_day"
    return module


def _functions(keys: dict[str, str]) -> ModuleType:
    old = _migration_0021()
    old.KEYS.clear()
    old.KEYS.update(keys)
    trigger, rebuild = old._functions(list(keys))
    op.execute(trigger)
    op.execute(rebuild)
    return old


def upgrade() -> None:
    for table, (key, day) in NEW.items():
        dimension = "source varchar(100)" if "source" in key else "created_month date"
        op.execute(
            f"""
            CREATE TABLE {table} (
                stage_id integer,
                currency varchar(3),
                {dimension},
                {day} date,
                stages_passed integer[] NOT NULL DEFAULT '{{}}',
                previous_stage_id integer,
                leads bigint NOT NULL,
                amount numeric NOT NULL,
                weighted numeric NOT NULL
            )
            """
        )
    old = _functions({**KEYS, **{table: key for table, (key, _day) in NEW.items()}})
    for table, (key, day) in NEW.items():
        op.execute(
            f"INSERT INTO {table} ({key}, leads, amount, weighted) {old._sums('leads', key)}"
        )
        op.execute(f"CREATE UNIQUE INDEX uk_{table} ON {table} ({key}) NULLS NOT DISTINCT")
        op.execute(f"CREATE INDEX idx_{table}_{day} ON {table} ({day})")
        op.execute(_migration("0023_exchange_rates.py")._copy_grants("pipeline_stats", table))
        op.execute(f"ANALYZE {table}")


def downgrade() -> None:
    _functions(KEYS)
    op.execute("DROP TABLE pipeline_closing")
    op.execute("DROP TABLE pipeline_days")
