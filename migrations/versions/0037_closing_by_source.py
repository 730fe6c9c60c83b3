"""``pipeline_closing_sources``: every owner's leads by expected-close day and source.

Issue 17, part 6 (every filter at 40 ms): with an expected-close range and a source,
everyone's funnel and board read the range's leads, because ``pipeline_closing``
(migration 0026) has no source: 222 and 173 ms at scale 1 for the next 60 days
(574,682 leads). This table is ``pipeline_closing`` with the lead's source, kept by
the same statement-level trigger (one more upsert, rows left at zero removed as 0030
does) and rebuilt by ``crm_rebuild_pipeline_stats()``. The funnel reads it only when
a source is picked: a source column in ``pipeline_closing`` itself was tried and
doubled the rows a plain close range reads (20 → 68 ms). Filled from the leads;
grants copied from ``pipeline_stats``.

Revision ID: 0037_closing_by_source
Revises: 0036_stays_by_lead_dates
Create Date: 2026-12-02
"""

from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0037_closing_by_source"
down_revision = "0036_stays_by_lead_dates"
branch_labels = None
depends_on = None

TABLE = "pipeline_closing_sources"
KEY = "stage_id, currency, source, close_day, created_month, stages_passed, previous_stage_id"
END = "    RETURN NULL;\nEND;\n$$;"


def _migration(name: str) -> ModuleType:
    """An earlier migration's module (its SQL generators), loaded afresh: a file never edited."""
    spec = spec_from_file_location(f"_m{name[:4]}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trigger_function(flows: bool = True) -> str:
    """0035's ``crm_pipeline_stats()`` with this table's upsert too."""
    function = _migration("0035_flows_by_lead_dates.py").trigger_function(flows)
    old = _migration("0026_pipeline_days.py")._migration_0021()
    upsert = _migration("0030_aggregates_without_zeros.py")._apply(old, TABLE, KEY)
    assert function.count(END) == 1  # 0035 is never edited, but say so if it were
    return function.replace(END, f"{upsert}\n{END}")


def rebuild_function(with_table: bool) -> str:
    """``crm_rebuild_pipeline_stats()`` as 0028 makes it, over this table too (or not).

    This table is filled in the order the funnel reads it (a source's close days), so
    a range of it shares pages after a rebuild (the demo load runs one) as after this
    migration.
    """
    made = _migration("0028_pipeline_flows.py")
    old = _migration("0026_pipeline_days.py")._migration_0021()
    keys = {**made.OLD_KEYS, **({TABLE: KEY} if with_table else {})}
    old.KEYS.clear()
    old.KEYS.update(keys)
    _trigger, rebuild = old._functions(list(keys))
    filled = f"{old._sums('leads', KEY)};"
    if with_table:
        assert rebuild.count(filled) == 1
        rebuild = rebuild.replace(filled, f"{filled[:-1]} ORDER BY source, close_day;")
    body, end = rebuild.rsplit("$$;", 1)
    return f"{body}SELECT crm_rebuild_pipeline_flows();\n$$;{end}"


def _functions(with_table: bool) -> None:
    """The rebuild and the trigger, with this table or not (as 0035 left them)."""
    op.execute(rebuild_function(with_table))
    dated = _migration("0035_flows_by_lead_dates.py").trigger_function()
    op.execute(trigger_function() if with_table else dated)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE {TABLE} (
            stage_id integer,
            currency varchar(3),
            source varchar(100),
            close_day date,
            created_month date,
            stages_passed integer[] NOT NULL DEFAULT '{{}}',
            previous_stage_id integer,
            leads bigint NOT NULL,
            amount numeric NOT NULL,
            weighted numeric NOT NULL
        )
        """
    )
    old = _migration("0026_pipeline_days.py")._migration_0021()
    op.execute("SET LOCAL work_mem = '256MB'")
    op.execute(
        f"INSERT INTO {TABLE} ({KEY}, leads, amount, weighted) {old._sums('leads', KEY)} "
        "ORDER BY source, close_day"  # as the rebuild fills it
    )
    op.execute(f"CREATE UNIQUE INDEX uk_{TABLE} ON {TABLE} ({KEY}) NULLS NOT DISTINCT")
    # A source's close range: the funnel's only read of it.
    op.execute(f"CREATE INDEX idx_{TABLE}_source_close ON {TABLE} (source, close_day)")
    _functions(with_table=True)
    op.execute(_migration("0023_exchange_rates.py")._copy_grants("pipeline_stats", TABLE))
    op.execute(f"ANALYZE {TABLE}")


def downgrade() -> None:
    _functions(with_table=False)
    op.execute(f"DROP TABLE {TABLE}")
