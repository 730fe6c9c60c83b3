"""The pipeline aggregates: lead counts and sums, kept exact by the database.

``pipeline_stats`` per owner, stage, currency, source and creation month (the
funnel filtered by creation date, or converted to the base currency);
``pipeline_totals`` the same without the month (the home page's win rate and a
rep's open leads by stage); ``forecast_stats`` per owner,
stage, currency, expected-close month and creation month (the home page's
forecast); ``pipeline_months`` and ``forecast_months`` the same as those two
without the owner (every owner's pipeline, converted: migration 0023);
``pipeline_days`` like ``pipeline_months`` by creation day, ``pipeline_closing`` by
expected-close day and creation month (migration 0026), ``pipeline_closing_sources``
the same by source too (0037), ``pipeline_closing_days`` by creation day, close day and
source (0040).
Statement-level triggers on ``leads`` keep all nine (migrations 0012, 0021, 0023, 0026, 0037, 0040),
and ``pipeline_flows`` and ``pipeline_flows_all``, the same by day of change (0028),
and ``pipeline_flows_<date>``, every owner's by a date of the lead too (0035: ``flows_by_date``);
the app only reads them (and makes the flows' month checkpoints, through
``crm_pipeline_checkpoint()``: crm/sales/asof.py). Plain tables, not ORM classes: they
have no primary key (their unique keys have nullable columns, NULLS NOT DISTINCT).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, BigInteger, Column, Date, Index, Integer, Numeric, String, Table

from crm.extensions import db


def _aggregate(
    name: str, *dimensions: Column[Any], by_owner: bool = True, leading: int = 0
) -> Table:
    """An aggregate table: owner (if ``by_owner``), stage, currency, ``dimensions``, sums.

    ``leading``: how many of ``dimensions`` come first in the unique key (its read order).
    """
    owner = ("owner_id",) if by_owner else ()
    names = [d.name for d in dimensions]
    key = (*names[:leading], *owner, "stage_id", "currency", *names[leading:])
    return Table(
        name,
        db.metadata,
        *([Column("owner_id", Integer)] if by_owner else []),
        Column("stage_id", Integer),
        Column("currency", String(3)),
        *dimensions,
        Column("leads", BigInteger, nullable=False),
        Column("amount", Numeric, nullable=False),
        Column("weighted", Numeric, nullable=False),
        Index(f"uk_{name}", *key, unique=True, postgresql_nulls_not_distinct=True),
    )


def _path() -> tuple[Column[Any], Column[Any]]:
    """Migration 0024: the leads' paths (``leads.stages_passed``, ``previous_stage_id``)."""
    return (
        Column("stages_passed", ARRAY(Integer), nullable=False, server_default="{}"),
        Column("previous_stage_id", Integer),
    )


pipeline_stats = _aggregate(
    "pipeline_stats", Column("source", String(100)), Column("created_month", Date), *_path()
)
forecast_stats = _aggregate(
    "forecast_stats", Column("close_month", Date), Column("created_month", Date)
)
# Migration 0021: pipeline_stats without the month, for pages with no creation-date filter.
pipeline_totals = _aggregate("pipeline_totals", Column("source", String(100)), *_path())
# Migration 0023: every owner's sums by creation month, for conversion to the base
# currency at each month's rate without reading every owner's rows.
pipeline_months = _aggregate(
    "pipeline_months",
    Column("source", String(100)),
    Column("created_month", Date),
    *_path(),
    by_owner=False,
)
forecast_months = _aggregate(
    "forecast_months", Column("close_month", Date), Column("created_month", Date), by_owner=False
)
# Migration 0026: pipeline_months by creation day, for a creation range's partial months.
pipeline_days = _aggregate(
    "pipeline_days",
    Column("source", String(100)),
    Column("created_day", Date),
    *_path(),
    by_owner=False,
)
pipeline_closing = _aggregate(
    "pipeline_closing",
    Column("close_day", Date),
    Column("created_month", Date),
    *_path(),
    by_owner=False,
)
Index("idx_pipeline_days_created_day", pipeline_days.c.created_day)
Index("idx_pipeline_closing_close_day", pipeline_closing.c.close_day)
# Migration 0037: pipeline_closing by source too, read for a close range with a source.
pipeline_closing_sources = _aggregate(
    "pipeline_closing_sources",
    Column("source", String(100)),
    Column("close_day", Date),
    Column("created_month", Date),
    *_path(),
    by_owner=False,
)
Index(
    "idx_pipeline_closing_sources_source_close",
    pipeline_closing_sources.c.source,
    pipeline_closing_sources.c.close_day,
)
# Migration 0040: by creation day and close day, for a creation range's partial months
# with a close range; its key leads with the two days (the read's index).
pipeline_closing_days = _aggregate(
    "pipeline_closing_days",
    Column("created_day", Date),
    Column("close_day", Date),
    Column("source", String(100)),
    *_path(),
    by_owner=False,
    leading=2,
)


# Migration 0027: histograms of completed stays in a stage, and of days to win, by owner;
# 0029: by currency and source too, and the same for every owner.
def _histogram(name: str, count: str, *key: str) -> Table:
    """A histogram: ``key`` (of owner, stage, currency, source), days, and how many."""
    types: dict[str, Any] = {
        "owner_id": Integer, "stage_id": Integer, "currency": String(3), "source": String(100),
        "dated_by": String(7), "month": Date,
    }  # fmt: skip
    return Table(
        name,
        db.metadata,
        *(Column(column, types[column], nullable=column != "dated_by") for column in key),
        Column("days", Integer, nullable=False),
        Column(count, BigInteger, nullable=False),
        Index(f"uk_{name}", *key, "days", unique=True, postgresql_nulls_not_distinct=True),
    )


stage_stays = _histogram("stage_stays", "stays", "owner_id", "stage_id", "currency", "source")
stage_stays_all = _histogram("stage_stays_all", "stays", "stage_id", "currency", "source")
won_cycles = _histogram("won_cycles", "leads", "owner_id", "currency", "source")
won_cycles_all = _histogram("won_cycles_all", "leads", "currency", "source")
# Migration 0036: the same by the lead's creation month ("created") and expected-close
# month ("close"): each stay and win under both.
# Keyed by the months first (after the owner): a range reads its months' rows.
DATED = ("dated_by", "month")
stage_stays_dated = _histogram(
    "stage_stays_dated", "stays", "owner_id", *DATED, "stage_id", "currency", "source"
)
stage_stays_dated_all = _histogram(
    "stage_stays_dated_all", "stays", *DATED, "stage_id", "currency", "source"
)
won_cycles_dated = _histogram("won_cycles_dated", "leads", "owner_id", *DATED, "currency", "source")
won_cycles_dated_all = _histogram("won_cycles_dated_all", "leads", *DATED, "currency", "source")


def _lead_columns() -> list[Column[Any]]:
    """What a flow or a checkpoint (migration 0028) is about, and its sums."""
    return [
        Column("stage_id", Integer),
        Column("currency", String(3)),
        Column("source", String(100)),
        *_path(),
        Column("leads", BigInteger, nullable=False),
        Column("amount", Numeric, nullable=False),
        Column("weighted", Numeric, nullable=False),
    ]


_LEAD = ("stage_id", "currency", "source", "stages_passed", "previous_stage_id")
# Migration 0028: leads in (+) and out (-) of each path by day, and their sums by month.
pipeline_flows = Table(
    "pipeline_flows",
    db.metadata,
    Column("owner_id", Integer),
    Column("flow_day", Date, nullable=False),
    *_lead_columns(),
    Index(
        "uk_pipeline_flows", "owner_id", "flow_day", *_LEAD, unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)  # fmt: skip
Index("idx_pipeline_flows_flow_day", pipeline_flows.c.flow_day)  # a month's checkpoint
pipeline_flows_all = Table(
    "pipeline_flows_all",
    db.metadata,
    Column("flow_day", Date, nullable=False),
    *_lead_columns(),
    Index(
        "uk_pipeline_flows_all", "flow_day", *_LEAD, unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)  # fmt: skip
pipeline_checkpoints = Table(
    "pipeline_checkpoints",
    db.metadata,
    Column("month", Date, nullable=False),
    Column("owner_id", Integer),
    *_lead_columns(),
    Index(
        "uk_pipeline_checkpoints", "month", "owner_id", *_LEAD, unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)  # fmt: skip
pipeline_checkpoint_months = Table(
    "pipeline_checkpoint_months", db.metadata, Column("month", Date, primary_key=True)
)


# Migration 0035: every owner's flows and checkpoints by the leads' creation and
# expected-close months and days too (an as-of funnel with a date range).
def _by_date(name: str, first: str, by: str) -> Table:
    """A flow (``first`` "flow_day") or checkpoint (``first`` "month") table by ``by``."""
    return Table(
        name,
        db.metadata,
        Column(first, Date, nullable=False),
        Column(by, Date),
        *_lead_columns(),
        Index(f"uk_{name}", first, by, *_LEAD, unique=True, postgresql_nulls_not_distinct=True),
    )


LEAD_DATES = ("created_month", "created_day", "close_month", "close_day")
# date -> (its flows, its checkpoints)
flows_by_date = {
    by: (_by_date(f"pipeline_flows_{by}", "flow_day", by),
         _by_date(f"pipeline_checkpoints_{by}", "month", by))
    for by in LEAD_DATES
}  # fmt: skip
