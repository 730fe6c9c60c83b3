"""/admin/jobs/: the background jobs, newest first; admins retry the failed ones."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from sqlalchemy import Integer, func, or_, select, text

from crm.extensions import db
from crm.jobs.queue import TITLE, USER
from crm.jobs.tasks import RETRIES
from crm.models import JobRun, User, procrastinate_events, procrastinate_jobs
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.web.ids import row_id

PAGE = 50
STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
RETRY = text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)")


# Scheduled jobs people want to see even when they succeed (housekeeping stays out).
SCHEDULED = ("crm.retention", "crm.backup", "crm.backup_verify", "crm.reminders")


def shown() -> Any:
    """The jobs the page lists: queued for someone, scheduled work, and any that failed."""
    jobs = procrastinate_jobs.c
    return or_(jobs.args.has_key(TITLE), jobs.task_name.in_(SCHEDULED), jobs.status == "failed")


def listed(status: str | None, before: int | None) -> list[Any]:
    """A page of jobs (newest first, before the id ``before``), with what the app kept."""
    jobs, events = procrastinate_jobs.c, procrastinate_events.c
    asker = func.coalesce(JobRun.user_id, jobs.args[USER].astext.cast(Integer))

    def when(aggregate: Any) -> Any:
        return select(aggregate(events.at)).where(events.job_id == jobs.id).scalar_subquery()

    query = (
        select(
            jobs.id,
            jobs.task_name,
            jobs.status,
            jobs.attempts,
            jobs.scheduled_at,
            func.coalesce(JobRun.title, jobs.args[TITLE].astext).label("title"),
            JobRun.step,
            JobRun.done,
            JobRun.total,
            JobRun.last_error,
            JobRun.result,
            User.name.label("user_name"),
            when(func.min).label("queued"),
            when(func.max).label("changed"),
        )
        .select_from(procrastinate_jobs)
        .outerjoin(JobRun, JobRun.job_id == jobs.id)
        .outerjoin(User, User.id == asker)
        .where(shown())
        .order_by(jobs.id.desc())
        .limit(PAGE + 1)
    )
    if status:
        query = query.where(jobs.status == status)
    if before:
        query = query.where(jobs.id < before)
    return list(db.session.execute(query))


class JobsView(BaseView):
    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.JOBS, Action.READ)

    @expose("/")
    def index(self) -> Any:
        status = request.args.get("status") or None
        problem = None
        if status not in (None, *STATUSES):
            problem = f"There is no status \u201c{status[:40]}\u201d: pick one from the list."
            status = None
        before = row_id(request.args.get("before"))
        rows = listed(status, before)
        more = len(rows) > PAGE
        rows = rows[:PAGE]
        counts: dict[str, int] = dict(
            db.session.execute(
                select(procrastinate_jobs.c.status, func.count())
                .where(shown())
                .group_by(procrastinate_jobs.c.status)
            ).all()
        )
        return self.render(
            "admin/jobs.html",
            rows=rows,
            status=status,
            statuses=STATUSES,
            counts=counts,
            problem=problem,
            next_before=rows[-1].id if more and rows else None,
            may_retry=policy.allowed(current_user, Resource.JOBS, Action.UPDATE),
            tries=RETRIES + 1,
        )

    @expose("/<int(max=9223372036854775807):job_id>/retry", methods=("POST",))
    def retry(self, job_id: int) -> Any:
        if not policy.allowed(current_user, Resource.JOBS, Action.UPDATE):
            abort(403)
        status = db.session.scalar(
            select(procrastinate_jobs.c.status)
            .where(procrastinate_jobs.c.id == job_id)
            .with_for_update()
        )
        if status is None:
            abort(404)
        if status != "failed":
            flash(f"Job {job_id} is {status}, not failed: nothing to retry.", "info")
        else:
            db.session.execute(RETRY, {"id": job_id})
            db.session.commit()
            flash(f"Job {job_id} is queued again; a worker takes it next.", "success")
        return redirect(url_for(".index", status=request.args.get("status") or None))

    def __init__(self) -> None:
        super().__init__(name="Jobs", endpoint="jobs", url="jobs", category="Setup")
