"""``pipeline_closing_days``: every owner's leads by creation day and expected-close day.

Issue 17, part 6 (every filter at 40 ms): with both a creation range that starts or
ends mid-month and an expected-close range, everyone's funnel and board read the
leads of the close range (``pipeline_closing`` has whole creation months only): 216
and 175 ms at scale 1 for the bench's ranges (574,682 leads due in the next 60 days).
This table holds the same sums by creation *day* and close day (and source), so the
partial months at the ends of a creation range read only their rectangle: 4,603 and
10,076 rows with and without the source for the bench's bigger end (18 days, 18,505
leads), 3 to 6 ms. Its unique key leads with the two days, so it is also the read's
index (no second index to keep up on every write). Kept by the same statement-level
trigger (one more upsert, rows left at zero removed as 0030 does) and rebuilt by
``crm_rebuild_pipeline_stats()``. Filled from the leads; grants copied from
``pipeline_stats``.

Revision ID: 0040_closing_by_creation_day
Revises: 0039_closed_stage_delete
Create Date: 2026-12-02
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0040_closing_by_creation_day"
down_revision = "0039_closed_stage_delete"
branch_labels = None
depends_on = None

TABLE = "pipeline_closing_days"
KEY = "created_day, close_day, stage_id, currency, source, stages_passed, previous_stage_id"
END = "    RETURN NULL;\nEND;\n$$;"
FLOWS = "SELECT crm_rebuild_pipeline_flows();\n$$;"


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fill() -> str:
    """This table's sums from the leads, in its key's order (a range shares pages)."""
    old = _migration("0026_pipeline_days.py")._migration_0021()
    return f"INSERT INTO {TABLE} ({KEY}, leads, amount, weighted) {old._sums('leads', KEY)} " + (
        "ORDER BY created_day, close_day"
    )


def trigger_function(flows: bool = True) -> str:
    """0037's ``crm_pipeline_stats()`` with this table's upsert too.

    ``flows``: with the as-of flows (as installed), or without (bench/audit_writes.py).
    """
    function = _migration("0037_closing_by_source.py").trigger_function(flows)
    old = _migration("0026_pipeline_days.py")._migration_0021()
    upsert = _migration("0030_aggregates_without_zeros.py")._apply(old, TABLE, KEY)
    assert function.count(END) == 1  # 0037 is never edited, but say so if it were
    return function.replace(END, f"{upsert}\n{END}")


def rebuild_function() -> str:
    """0037's ``crm_rebuild_pipeline_stats()`` with this table emptied and filled too."""
    rebuild = _migration("0037_closing_by_source.py").rebuild_function(with_table=True)
    assert rebuild.count(FLOWS) == 1
    return rebuild.replace(FLOWS, f"DELETE FROM {TABLE}; {_fill()};\n{FLOWS}")


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
            stage_id integer,
            currency varchar(3),
            source varchar(100),
            created_day date,
            close_day date,
            stages_passed integer[] NOT NULL DEFAULT '{{}}',
            previous_stage_id integer,
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        )
        """
    )
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute(_fill())
    # The upsert's key, and the funnel's read: a creation day's close range.
    op.execute(f"CREATE UNIQUE INDEX uk_{TABLE} ON {TABLE} ({KEY}) NULLS NOT DISTINCT")
    op.execute(rebuild_function())
    op.execute(trigger_function())
    op.execute(_migration("0023_exchange_rates.py")._copy_grants("pipeline_stats", TABLE))
    op.execute(f"ANALYZE {TABLE}")


def downgrade() -> None:
    op.execute(_migration("0037_closing_by_source.py").rebuild_function(with_table=True))
    op.execute(_migration("0037_closing_by_source.py").trigger_function())
    op.execute(f"DROP TABLE {TABLE}")
