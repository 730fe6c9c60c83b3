"""The job queue: the procrastinate app, enqueueing in the caller's transaction, progress.

A job is a row in ``procrastinate_jobs`` (migration 0032). ``enqueue`` writes it
through the app's own SQLAlchemy session, so the job exists exactly when the
change that asked for it commits: a rolled-back request leaves no job, and a
committed one never lacks its job. Workers (``flask crm worker``) take jobs with
``SELECT … FOR UPDATE SKIP LOCKED`` inside the library, so any number of them on
any number of machines share the work.
"""

from __future__ import annotations

import json
from typing import Any

import procrastinate
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert

from crm.extensions import db
from crm.models import JobRun

# The connector is replaced by the worker's (crm/jobs/worker.py): the web app never
# opens procrastinate's own pool, it writes jobs through its session.
queue = procrastinate.App(
    connector=procrastinate.PsycopgConnector(),
    import_paths=["crm.jobs.tasks", "crm.importing.job", "crm.webhooks.job"],
)

DEFER = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, "
    ":queueing_lock, CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1]))"
)


# Arguments every job the app queues carries beside its own: what it is, and for whom.
TITLE, USER = "_title", "_user"


def enqueue(
    task_name: str,
    title: str,
    args: dict[str, Any] | None = None,
    *,
    user_id: int | None = None,
    queue_name: str = "default",
    queueing_lock: str | None = None,
) -> int:
    """Add a job in the session's transaction (the caller commits); its id."""
    job_id: int = db.session.execute(
        DEFER,
        {
            "queue": queue_name,
            "task": task_name,
            "lock": None,
            "queueing_lock": queueing_lock,
            "args": json.dumps({**(args or {}), TITLE: title[:200], USER: user_id}),
        },
    ).scalar_one()
    return job_id


def started(job_id: int, title: str, user_id: int | None) -> None:
    """A job's attempt begins: its ``job_runs`` row says what and for whom."""
    _record(job_id, title, user_id=user_id, step=None, done=0, total=None)


def _record(job_id: int, title: str, **values: Any) -> None:
    """Set a job's ``job_runs`` columns, in a transaction of its own.

    Readers see it at once, and it stays when the job's own transaction rolls back;
    the row is made for jobs the app did not enqueue itself (periodic ones).
    """
    values["updated_at"] = text("CURRENT_TIMESTAMP")
    statement = insert(JobRun).values(job_id=job_id, title=title[:200], **values)
    with db.engine.begin() as conn:
        conn.execute(statement.on_conflict_do_update(index_elements=[JobRun.job_id], set_=values))


def progress(
    job_id: int, title: str, done: int, total: int | None = None, step: str | None = None
) -> None:
    """Record how far a job is: at ``step``, ``done`` of ``total`` (rows, files…)."""
    values: dict[str, Any] = {"done": done}
    if total is not None:
        values["total"] = total
    if step is not None:
        values["step"] = step[:100]
    _record(job_id, title, **values)


def finish(job_id: int, title: str, result: dict[str, Any]) -> None:
    """Keep a job's result for the person who asked."""
    _record(job_id, title, result=result, last_error=None)


def failed(job_id: int, title: str, error: str) -> None:
    """Record the error a job's attempt raised."""
    _record(job_id, title, last_error=error[:2000])
