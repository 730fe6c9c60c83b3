"""The app's jobs, and ``job``: a task run inside the Flask app with its errors kept.

A job's attempt runs in an app context of its own (its own database session);
what it changes commits when it returns, or rolls back when it raises, and then
its error goes to ``job_runs.last_error`` (shown on the Jobs page) and the queue
retries it with growing waits. So a worker that dies mid-job leaves nothing half
done: the job is taken again (``retry_stalled_jobs``) and runs afresh. (Retention
is the exception, as with the CLI: it deletes in committed batches, so a run cut
off keeps what it deleted, and the next run deletes the rest.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
from flask import Flask, current_app
from procrastinate.manager import JobManager
from sqlalchemy.exc import DBAPIError

from crm.audit.context import acting_as
from crm.extensions import db
from crm.jobs import queue as jobs
from crm.jobs.queue import queue
from crm.maintenance import offsite, retention
from crm.maintenance.backup import BackupError
from crm.maintenance.drill import failed_drill, record, verify_newest
from crm.reminders import digest
from crm.reminders import service as notices

ORPHANS = (
    "DELETE FROM job_runs AS r "
    "WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j WHERE j.id = r.job_id)"
)
_apps: list[Flask] = []  # the Flask app this worker serves (crm/jobs/worker.py binds it)
RETRIES = 4  # attempts after the first; waits 10, 100, 1000 s… (exponential)
STALLED_SECONDS = 60  # a worker silent this long is gone: its jobs run again


def utc_day(timestamp: int | None) -> date:
    """The UTC day a scheduled job is for (its schedule's time), else today's in UTC.

    Timestamps in the database are UTC and so are the schedules, whatever the
    worker's own time zone.
    """
    moment = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
    return moment.date()


def bind(app: Flask) -> None:
    """Run jobs inside ``app`` (the worker's)."""
    _apps[:] = [app]


def app_for_jobs() -> Flask:
    """The app jobs run in: the worker's, or (a job run in a test) the current one."""
    return _apps[0] if _apps else current_app._get_current_object()  # type: ignore[attr-defined]


def describe(error: BaseException) -> str:
    """An error as the Jobs page shows it: the database's words, never its values.

    psycopg's DETAIL and SQLAlchemy's message hold parameters and row values: left out.
    """
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, psycopg.Error):
        primary = getattr(original.diag, "message_primary", None) or "no detail given"
        return f"{type(original).__name__}: {primary}"
    if isinstance(error, DBAPIError):
        return f"{type(original).__name__}: the database refused the statement"
    return f"{type(error).__name__}: {error}"


Body = Callable[..., dict[str, Any] | None]
BODIES: dict[str, tuple[Body, str]] = {}  # task name -> (its body, its default title)


def perform(app: Flask, job_id: int, task_name: str, args: dict[str, Any]) -> None:
    """One attempt at a job: its body in an app context of its own (see the module's doc)."""
    body, title = BODIES[task_name]
    kwargs = dict(args)
    named = str(kwargs.pop(jobs.TITLE, None) or title)
    user_id = kwargs.pop(jobs.USER, None)
    with app.app_context():
        jobs.started(job_id, named, user_id)
        try:
            result = body(job_id, **kwargs)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            jobs.failed(job_id, named, describe(exc))
            raise
        if result is not None:
            jobs.finish(job_id, named, result)


def job(name: str, title: str, retries: int = RETRIES) -> Callable[[Body], Any]:
    """Make ``fn(job_id, **args)`` a queued task named ``name`` (see the module's doc).

    ``fn`` may return a dict: the result kept for whoever asked.
    """

    def decorate(fn: Body) -> Any:
        BODIES[name] = (fn, title)

        @queue.task(
            name=name,
            pass_context=True,
            retry=retries
            and procrastinate.RetryStrategy(max_attempts=retries, exponential_wait=10),
        )
        def run(context: procrastinate.JobContext, /, **kwargs: Any) -> None:
            assert context.job.id is not None
            perform(app_for_jobs(), context.job.id, name, kwargs)

        return run

    return decorate


@job("crm.retention", "Retention policy")
def retention_job(job_id: int, timestamp: int | None = None) -> dict[str, Any]:
    """Apply the retention policy as of today, as ``flask crm retention --apply`` does.

    RETENTION_SCHEDULE runs it (``timestamp``: when the schedule fired).
    """
    day = utc_day(timestamp)
    with acting_as(None, None, "job: crm.retention"):  # the summary row says who ran it
        plan = retention.plan(db.session, day)
        db.session.rollback()  # counting holds no locks while the purge runs
        deleted = retention.apply(db.session, day, plan)
    return {"as_of": day.isoformat(), "deleted": deleted}


@queue.periodic(cron="*/5 * * * *", periodic_id="stalled")
@queue.task(
    name="crm.retry_stalled_jobs", queueing_lock="crm.retry_stalled_jobs", pass_context=True
)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Every 5 minutes: jobs whose worker stopped answering (a crash) go back to the queue."""
    await requeue_stalled(context.app.job_manager)


async def requeue_stalled(manager: JobManager) -> int:
    """Put the jobs of workers silent for STALLED_SECONDS back in the queue; how many."""
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS))
    for found in stalled:
        await manager.retry_job(found)
    return len(stalled)


@queue.periodic(cron="17 2 * * *", periodic_id="old-jobs")
@queue.task(name="crm.remove_old_jobs", queueing_lock="crm.remove_old_jobs", pass_context=True)
async def remove_old_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Nightly: jobs finished more than JOB_HISTORY_DAYS ago go, with what was kept of them."""
    days = int(_apps[0].config["JOB_HISTORY_DAYS"]) if _apps else 30
    manager = context.app.job_manager
    await manager.delete_old_jobs(
        nb_hours=days * 24, include_failed=True, include_cancelled=True, include_aborted=True
    )
    await manager.connector.execute_query_async(ORPHANS)


@job("crm.backup", "Off-site backup")
def backup_job(job_id: int, timestamp: int | None = None) -> dict[str, Any]:
    """Stream a backup to BACKUP_TARGET and apply the keep rules (BACKUP_SCHEDULE)."""
    config = current_app.config
    target = offsite.parse(config["BACKUP_TARGET"])
    url = db.engine.url
    done = offsite.upload(url, target, None)
    gone = offsite.prune(
        target, config["BACKUP_KEEP_DAILY"], config["BACKUP_KEEP_WEEKLY"], keep=done.key
    )
    return {
        "archive": f"s3://{target.bucket}/{done.key}",
        "size": done.manifest.size,
        "rows": done.manifest.rows,
        "seconds": round(done.seconds, 1),
        "deleted": len(gone),
    }


@job("crm.backup_verify", "Restore drill", retries=1)
def backup_verify_job(job_id: int, timestamp: int | None = None) -> dict[str, Any]:
    """Restore the newest archive into a scratch database and check it (weekly).

    A drill that fails is recorded (the home page and /healthz say so) and the job
    fails with what differed, so the Jobs page shows it too.
    """
    target = offsite.parse(current_app.config["BACKUP_TARGET"])
    try:
        drill = verify_newest(db.engine.url, target, Path("backups"))
    except BackupError as exc:
        drill = failed_drill(str(target), str(exc))
    record(db.session, drill)
    db.session.commit()
    if not drill.ok:
        raise BackupError(f"{drill.archive}: " + "; ".join(drill.problems[:10]))
    return {"archive": drill.archive, "ok": True, "rows": drill.rows}


@job("crm.reminders", "Task reminders")
def reminders_job(job_id: int, timestamp: int | None = None) -> dict[str, Any]:
    """The morning's due and overdue notices, then the email digests (REMINDER_SCHEDULE)."""
    config, day = current_app.config, utc_day(timestamp)
    made = notices.morning(db.session, day)
    db.session.commit()
    mailed = 0
    if config.get("SMTP_URL"):
        mailed = digest.send_all(
            db.session, digest.parse(config["SMTP_URL"]), config["SMTP_FROM"], day
        )
    return {"day": day.isoformat(), "notices": made, "emails": mailed}


def schedule(app: Flask) -> None:
    """Add the periodic jobs the settings ask for (before a worker starts; once each)."""
    registered = {key[0] for key in queue.periodic_registry.periodic_tasks}
    config = app.config
    wanted = [
        (config.get("RETENTION_SCHEDULE"), retention_job, "retention"),
        (config.get("REMINDER_SCHEDULE"), reminders_job, "reminders"),
    ]
    if config.get("BACKUP_TARGET"):
        wanted.append((config.get("BACKUP_SCHEDULE"), backup_job, "backup"))
        wanted.append((config.get("BACKUP_VERIFY_SCHEDULE"), backup_verify_job, "drill"))
    for cron, task, name in wanted:
        if cron and task.name not in registered:
            queue.periodic(cron=cron, periodic_id=name)(task)
