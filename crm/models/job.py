"""Jobs (migration 0032): procrastinate's job rows, and what the app keeps per job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.dialects.postgresql import ENUM, JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model, db

# The library's table, as far as the app reads it (its own schema owns it; autogenerate
# leaves procrastinate_* alone: migrations/env.py).
JOB_STATUS = ENUM(
    "todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted",
    name="procrastinate_job_status",
    create_type=False,
)  # fmt: skip
procrastinate_jobs = Table(
    "procrastinate_jobs",
    db.metadata,
    Column("id", BigInteger, primary_key=True),
    Column("queue_name", String(128)),
    Column("task_name", String(128)),
    Column("status", JOB_STATUS),
    Column("scheduled_at", TIMESTAMP(timezone=True)),
    Column("attempts", Integer),
    Column("args", JSONB),
)
procrastinate_events = Table(
    "procrastinate_events",
    db.metadata,
    Column("id", BigInteger, primary_key=True),
    Column("job_id", BigInteger, ForeignKey("procrastinate_jobs.id")),
    Column("at", TIMESTAMP(timezone=True)),
)


class JobRun(Model):
    """What the app keeps about one started job: who, what, how far, result, last error."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("idx_job_runs_user", "user_id", "job_id"),)

    # No foreign keys: written beside the job's own transaction (migration 0032).
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None]
    title: Mapped[str] = mapped_column(String(200))
    step: Mapped[str | None] = mapped_column(String(100))  # "Checking rows", "Writing rows"
    done: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    total: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
