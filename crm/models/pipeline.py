"""``pipeline_stats``: lead counts and sums per owner, stage, currency, source, month.

Kept exact by statement-level triggers on ``leads`` (migration 0012); the app
only reads it. A plain table, not an ORM class: it has no primary key (its
unique key has nullable columns, NULLS NOT DISTINCT).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Index, Integer, Numeric, String, Table

from crm.extensions import db

pipeline_stats = Table(
    "pipeline_stats",
    db.metadata,
    Column("owner_id", Integer),
    Column("stage_id", Integer),
    Column("currency", String(3)),
    Column("source", String(100)),
    Column("created_month", Date),
    Column("leads", BigInteger, nullable=False),
    Column("amount", Numeric, nullable=False),
    Column("weighted", Numeric, nullable=False),
    Index(
        "uk_pipeline_stats",
        "owner_id",
        "stage_id",
        "currency",
        "source",
        "created_month",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)

# The same per expected-close month instead of source: the home page's forecast.
forecast_stats = Table(
    "forecast_stats",
    db.metadata,
    Column("owner_id", Integer),
    Column("stage_id", Integer),
    Column("currency", String(3)),
    Column("close_month", Date),
    Column("leads", BigInteger, nullable=False),
    Column("amount", Numeric, nullable=False),
    Column("weighted", Numeric, nullable=False),
    Index(
        "uk_forecast_stats",
        "owner_id",
        "stage_id",
        "currency",
        "close_month",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
)
