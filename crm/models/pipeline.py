"""The pipeline aggregates: lead counts and sums, kept exact by the database.

``pipeline_stats`` per owner, stage, currency, source and creation month (the
funnel filtered by creation date); ``pipeline_totals`` the same without the month
(every other funnel, the board, the home page); ``forecast_stats`` per owner,
stage, currency and expected-close month (the home page's forecast).
Statement-level triggers on ``leads`` keep all three (migrations 0012 and 0021);
the app only reads them. Plain tables, not ORM classes: they
have no primary key (their unique keys have nullable columns, NULLS NOT DISTINCT).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Date, Index, Integer, Numeric, String, Table

from crm.extensions import db


def _aggregate(name: str, *dimensions: Column[Any]) -> Table:
    """An aggregate table: owner, stage, currency, ``dimensions``, then the sums."""
    key = ("owner_id", "stage_id", "currency", *(d.name for d in dimensions))
    return Table(
        name,
        db.metadata,
        Column("owner_id", Integer),
        Column("stage_id", Integer),
        Column("currency", String(3)),
        *dimensions,
        Column("leads", BigInteger, nullable=False),
        Column("amount", Numeric, nullable=False),
        Column("weighted", Numeric, nullable=False),
        Index(f"uk_{name}", *key, unique=True, postgresql_nulls_not_distinct=True),
    )


pipeline_stats = _aggregate(
    "pipeline_stats", Column("source", String(100)), Column("created_month", Date)
)
forecast_stats = _aggregate("forecast_stats", Column("close_month", Date))
# Migration 0021: pipeline_stats without the month, for pages with no creation-date filter.
pipeline_totals = _aggregate("pipeline_totals", Column("source", String(100)))
