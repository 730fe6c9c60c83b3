"""Enqueueing in the caller's transaction, and the Jobs page (no worker needed)."""

from __future__ import annotations

from sqlalchemy import select, text

from crm.extensions import db
from crm.jobs.queue import enqueue
from crm.models import JobRun, UserRole, procrastinate_jobs
from tests.helpers import Browser

ADMIN, MANAGER = UserRole.ADMIN, UserRole.MANAGER


def status_of(job_id: int) -> str | None:
    return db.session.scalar(
        select(procrastinate_jobs.c.status).where(procrastinate_jobs.c.id == job_id)
    )


def test_a_job_exists_exactly_when_its_transaction_commits(users):
    savepoint = db.session.begin_nested()
    job_id = enqueue("crm.retention", "Retention policy", user_id=users[ADMIN].id)
    assert status_of(job_id) == "todo"
    args = db.session.scalar(
        select(procrastinate_jobs.c.args).where(procrastinate_jobs.c.id == job_id)
    )
    assert args == {"_title": "Retention policy", "_user": users[ADMIN].id}
    savepoint.rollback()
    assert status_of(job_id) is None


def test_the_jobs_page_lists_jobs_with_who_asked_and_progress(browser: Browser, users):
    job_id = enqueue("crm.retention", "Import of leads.csv", user_id=users[ADMIN].id)
    db.session.add(JobRun(job_id=job_id, title="Import of leads.csv", step="Writing rows",
                          done=1200, total=5000))  # fmt: skip
    db.session.flush()
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/jobs/").get_data(as_text=True)
    row = page.split(f'data-job="{job_id}"')[1].split("</tr>")[0]
    assert "Import of leads.csv" in row and "The admin" in row
    assert "Writing rows: 1,200 of 5,000" in row and ">todo<" in row
    assert "Retry" not in row


def test_a_failed_job_shows_its_error_and_is_retried(browser: Browser, users):
    job_id = enqueue("crm.retention", "Retention policy")
    db.session.execute(
        text("UPDATE procrastinate_jobs SET status = 'failed', attempts = 5 WHERE id = :id"),
        {"id": job_id},
    )
    db.session.add(JobRun(job_id=job_id, title="Retention policy",
                          last_error="OperationalError: the disk is full"))  # fmt: skip
    db.session.flush()
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/jobs/?status=failed").get_data(as_text=True)
    assert "OperationalError: the disk is full" in page
    response = browser.post(f"/admin/jobs/{job_id}/retry")
    assert response.status_code == 302
    assert status_of(job_id) == "todo"
    again = browser.post(f"/admin/jobs/{job_id}/retry")  # todo now: nothing to retry
    assert "not failed: nothing to retry" in browser.get(again.headers["Location"]).get_data(
        as_text=True
    )


def test_housekeeping_jobs_show_only_when_they_fail(browser: Browser, users):
    quiet = db.session.execute(
        text("SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('default', "
             "'crm.remove_old_jobs', 0, NULL, NULL, '{}'::jsonb, NULL)"
             "::procrastinate_job_to_defer_v1]))")
    ).scalar_one()  # fmt: skip
    browser.login_as(users[ADMIN])
    assert f'data-job="{quiet}"' not in browser.get("/admin/jobs/").get_data(as_text=True)
    db.session.execute(
        text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = :id"), {"id": quiet}
    )
    assert f'data-job="{quiet}"' in browser.get("/admin/jobs/").get_data(as_text=True)


def test_only_admins_see_and_retry_jobs(browser: Browser, users):
    job_id = enqueue("crm.retention", "Retention policy")
    browser.login_as(users[MANAGER])
    assert browser.get("/admin/jobs/").status_code == 403
    assert browser.post(f"/admin/jobs/{job_id}/retry").status_code == 403


def test_bad_status_and_unknown_jobs_get_answers_not_500s(browser: Browser, users):
    browser.login_as(users[ADMIN])
    page = browser.get("/admin/jobs/?status=<b>lost</b>&before=abc")
    assert page.status_code == 200
    assert "There is no status \u201c&lt;b&gt;lost&lt;/b&gt;\u201d" in page.get_data(as_text=True)
    assert browser.post("/admin/jobs/999999999/retry").status_code == 404
    assert browser.post("/admin/jobs/99999999999999999999/retry").status_code == 404


def test_job_errors_show_the_databases_words_never_its_values():
    import psycopg

    from crm.jobs.tasks import describe

    error = psycopg.errors.UniqueViolation(
        "duplicate key value violates unique constraint\nDETAIL: Key (name)=(Ada) exists"
    )
    shown = describe(error)
    assert shown.startswith("UniqueViolation:") and "Ada" not in shown
    assert (
        describe(RuntimeError("the remote end said no")) == "RuntimeError: the remote end said no"
    )


def test_scheduled_work_shows_even_when_it_succeeds(browser: Browser, users):
    done = db.session.execute(
        text("SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW('default', "
             "'crm.retention', 0, NULL, NULL, '{}'::jsonb, NULL)"
             "::procrastinate_job_to_defer_v1]))")
    ).scalar_one()  # fmt: skip
    db.session.execute(
        text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"), {"id": done}
    )
    browser.login_as(users[ADMIN])
    assert f'data-job="{done}"' in browser.get("/admin/jobs/").get_data(as_text=True)
