"""Where a person's CSV import job is: waiting, checking, writing, done (for its page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from crm.extensions import db
from crm.jobs.queue import TITLE, USER
from crm.models import JobRun, procrastinate_events, procrastinate_jobs

TASK = "crm.import"
OVER = ("succeeded", "failed", "cancelled", "aborted")
WORKER_ALIVE = text(
    "SELECT count(*) FROM procrastinate_workers "
    "WHERE last_heartbeat > now() - interval '60 seconds'"
)


@dataclass(frozen=True)
class ImportJob:
    """One import job as its page shows it."""

    id: int
    title: str
    status: str
    step: str | None
    done: int
    total: int | None
    result: dict[str, Any] | None
    last_error: str | None
    queued: datetime | None
    upload_id: int | None

    @property
    def over(self) -> bool:
        """Whether it has ended (imported, refused with problems, or failed)."""
        return self.status in OVER

    @property
    def no_worker(self) -> bool:
        """Waiting, and no worker has sent a heartbeat in the last minute."""
        return self.status == "todo" and not db.session.scalar(WORKER_ALIVE)

    def polled(self) -> dict[str, Any]:
        """What the page's script reads every second."""
        return {
            "status": self.status,
            "step": self.step,
            "done": self.done,
            "total": self.total,
            "over": self.over,
        }


def unfinished(job_id: int) -> bool:
    """Whether the job is still waiting or running."""
    status = db.session.scalar(
        select(procrastinate_jobs.c.status).where(procrastinate_jobs.c.id == job_id)
    )
    return status in ("todo", "doing")


def _query(user_id: int, kind: str) -> Any:
    jobs, events = procrastinate_jobs.c, procrastinate_events.c
    queued = select(func.min(events.at)).where(events.job_id == jobs.id).scalar_subquery()
    return (
        select(
            jobs.id,
            func.coalesce(JobRun.title, jobs.args[TITLE].astext).label("title"),
            jobs.status,
            JobRun.step,
            func.coalesce(JobRun.done, 0).label("done"),
            JobRun.total,
            JobRun.result,
            JobRun.last_error,
            queued.label("queued"),
            jobs.args["upload_id"].astext.cast(db.Integer).label("upload_id"),
        )
        .outerjoin(JobRun, JobRun.job_id == jobs.id)
        .where(
            jobs.task_name == TASK,
            jobs.args[USER].astext == str(user_id),
            jobs.args["kind"].astext == kind,
        )
    )


def find(job_id: int, user_id: int, kind: str) -> ImportJob | None:
    """The person's own import job of this kind, or None (someone else's, or gone)."""
    row = db.session.execute(_query(user_id, kind).where(procrastinate_jobs.c.id == job_id)).first()
    return None if row is None else ImportJob(**row._mapping)


def recent(user_id: int, kind: str, limit: int = 5) -> list[ImportJob]:
    """The person's latest import jobs of this kind, newest first."""
    rows = db.session.execute(
        _query(user_id, kind).order_by(procrastinate_jobs.c.id.desc()).limit(limit)
    )
    return [ImportJob(**row._mapping) for row in rows]
