"""The pipeline aggregates drop a group once it sums to nothing.

The statement-level triggers (migration 0021's code) add and subtract each
change's sums, and a group that reached zero stayed as a row of zeros. Every
lead that moves along a new path leaves such rows behind, so they pile up with
use: after 12,000 single stage moves on the scale-1 bench database, 3,034 of
``pipeline_months``' 8,603 rows were zeros, and everyone's funnel read them all
(39.5 ms in process; 29.5 ms without them). The trigger now takes back the rows
its upsert left at zero (by their ``ctid``, returned by the upsert: no search),
and this migration deletes the zeros already there. A concurrent upsert of a
group being deleted waits for it and then inserts afresh (ON CONFLICT retries).

Revision ID: 0030_aggregates_without_zeros
Revises: 0029_stays_by_currency
Create Date: 2026-12-01
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0030_aggregates_without_zeros"
down_revision = "0029_stays_by_currency"
branch_labels = None
depends_on = None

ZERO = "leads = 0 AND amount = 0 AND weighted = 0"


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _apply(old: ModuleType, table: str, key: str) -> str:
    """The trigger's statements for one table: the upsert, then its rows left at zero."""

    def upsert(delta: str) -> str:
        return f"""
        WITH delta AS ({delta}),
             kept AS (
                INSERT INTO {table} AS p ({key}, leads, amount, weighted)
                SELECT {key}, sum(leads), sum(amount), sum(weighted) FROM delta GROUP BY {key}
                ON CONFLICT ({key}) DO UPDATE
                   SET leads = p.leads + EXCLUDED.leads,
                       amount = p.amount + EXCLUDED.amount,
                       weighted = p.weighted + EXCLUDED.weighted
                RETURNING p.ctid, p.leads, p.amount, p.weighted)
        SELECT array_agg(ctid) FILTER (WHERE {ZERO}) INTO zeros FROM kept;
        IF zeros IS NOT NULL THEN
            DELETE FROM {table} WHERE ctid = ANY (zeros) AND {ZERO};
        END IF;"""

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
    made = _migration("0028_pipeline_flows.py")
    old = _migration("0026_pipeline_days.py")._migration_0021()
    old.MONTHS["flow_day"] = "CAST(LOCALTIMESTAMP AS date) AS flow_day"
    keys = {**made.OLD_KEYS, **(made.FLOWS if flows else {})}
    return f"""
CREATE OR REPLACE FUNCTION crm_pipeline_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    zeros tid[];
BEGIN
    {"".join(_apply(old, table, key) for table, key in keys.items())}
    RETURN NULL;
END;
$$;
"""


def upgrade() -> None:
    op.execute(trigger_function())
    made = _migration("0028_pipeline_flows.py")
    for table in {**made.OLD_KEYS, **made.FLOWS}:
        op.execute(f"DELETE FROM {table} WHERE {ZERO}")


def downgrade() -> None:
    _migration("0028_pipeline_flows.py")._functions(flows=True)
