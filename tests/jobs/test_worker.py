"""A real worker on a database of its own: jobs run, fail with their error kept, are
retried, survive a dead worker, and the retention job leaves the CLI's audit row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import procrastinate
import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import URL

from crm import StartupError, create_app
from crm.extensions import db
from crm.jobs import tasks, worker
from crm.jobs.queue import enqueue, progress, queue
from crm.models import AuditLog, CsvUpload, JobRun, User, UserRole, procrastinate_jobs
from tests.helpers import app_on_new_database

pytestmark = pytest.mark.own_database
ATTEMPTS: list[int] = []


@tasks.job("tests.flaky", "A job that fails until told not to", retries=0)
def flaky(job_id: int, fail: bool) -> dict[str, object]:
    ATTEMPTS.append(job_id)
    progress(job_id, "A job that fails until told not to", 3, 4)
    db.session.execute(text("UPDATE lead_stages SET description = 'touched' WHERE id > 0"))
    if fail:
        raise RuntimeError("the remote end said no")
    return {"ok": True}


@pytest.fixture(scope="module")
def jobs_app(server_url: URL) -> Iterator[Flask]:
    with app_on_new_database(server_url, "jobs") as app:
        yield app
    tasks._apps.clear()


def run_until_idle(app: Flask) -> None:
    worker.run(app, wait=False)


def job_status(job_id: int) -> tuple[str, int]:
    row = db.session.execute(
        select(procrastinate_jobs.c.status, procrastinate_jobs.c.attempts).where(
            procrastinate_jobs.c.id == job_id
        )
    ).one()
    return row.status, row.attempts


def test_a_job_runs_and_keeps_its_result(jobs_app: Flask):
    with jobs_app.app_context():
        job_id = enqueue("tests.flaky", "A job that fails until told not to", {"fail": False})
        db.session.commit()
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id) == ("succeeded", 1)
        kept = db.session.get(JobRun, job_id)
        assert kept.result == {"ok": True} and kept.last_error is None
        assert (kept.done, kept.total) == (3, 4)


def test_a_failing_job_keeps_its_error_changes_nothing_and_is_retried(jobs_app: Flask):
    with jobs_app.app_context():
        db.session.execute(text("UPDATE lead_stages SET description = NULL"))
        job_id = enqueue("tests.flaky", "A job that fails until told not to", {"fail": True})
        db.session.commit()
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "failed"
        assert db.session.get(JobRun, job_id).last_error == "RuntimeError: the remote end said no"
        touched = db.session.scalar(
            text("SELECT count(*) FROM lead_stages WHERE description = 'touched'")
        )
        assert touched == 0  # its transaction rolled back
        db.session.execute(
            text("UPDATE procrastinate_jobs SET args = '{\"fail\": false}' WHERE id = :id"),
            {"id": job_id},
        )
        db.session.execute(
            text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"), {"id": job_id}
        )
        db.session.commit()
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "succeeded"
        assert db.session.get(JobRun, job_id).last_error is None


def test_the_jobs_of_a_worker_that_died_run_again(jobs_app: Flask):
    with jobs_app.app_context():
        job_id = enqueue("tests.flaky", "A job that fails until told not to", {"fail": False})
        dead = db.session.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '10 minutes') RETURNING id"
            )
        )
        db.session.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w WHERE id = :id"),
            {"w": dead, "id": job_id},
        )
        db.session.commit()
    # No worker runs here first: a worker's start may defer the periodic stalled-job
    # check itself (procrastinate defers a schedule overdue by under 10 minutes), which
    # would do this test's work before it looks.

    async def requeue() -> int:
        connector = procrastinate.PsycopgConnector(conninfo=worker.conninfo(jobs_app))
        with queue.replace_connector(connector):
            async with queue.open_async():
                return await tasks.requeue_stalled(queue.job_manager)

    assert asyncio.run(requeue()) == 1
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "succeeded"


def test_the_retention_job_purges_and_writes_the_clis_summary_row(jobs_app: Flask):
    with jobs_app.app_context():
        old_id = db.session.scalar(
            text(
                "INSERT INTO audit_logs (table_name, record_id, action, created_at) "
                "VALUES ('customers', 1, 'INSERT', :t) RETURNING id"
            ),
            {"t": datetime.now() - timedelta(days=11 * 366)},
        )
        job_id = enqueue("crm.retention", "Retention policy")
        db.session.commit()
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "succeeded"
        assert db.session.get(AuditLog, old_id) is None
        summary = db.session.scalar(
            select(AuditLog).where(AuditLog.action == "PURGE").order_by(AuditLog.id.desc())
        )
        assert summary.new_values["deleted"]["audit_logs"] == 1
        assert summary.user_agent == "job: crm.retention"
        assert db.session.get(JobRun, job_id).result["deleted"]["audit_logs"] == 1


def test_the_worker_command_runs_what_is_waiting(jobs_app: Flask):
    with jobs_app.app_context():
        job_id = enqueue("tests.flaky", "A job that fails until told not to", {"fail": False})
        db.session.commit()
    result = jobs_app.test_cli_runner().invoke(args=["crm", "worker", "--until-idle"])
    assert result.exit_code == 0, result.output
    assert "retention schedule: off" in result.output
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "succeeded"


@pytest.mark.parametrize("schedule", ["every night", "0 3 31 2 *"])
def test_a_schedule_that_never_fires_stops_the_start(jobs_app: Flask, schedule):
    uri = jobs_app.config["SQLALCHEMY_DATABASE_URI"]
    with pytest.raises(StartupError, match="is not a cron line that ever fires"):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": uri, "RETENTION_SCHEDULE": schedule})


def test_a_retention_schedule_is_registered_once(jobs_app: Flask):
    uri = jobs_app.config["SQLALCHEMY_DATABASE_URI"]
    scheduled = create_app(
        overrides={"SQLALCHEMY_DATABASE_URI": uri, "RETENTION_SCHEDULE": "0 3 * * *"}
    )
    tasks.schedule(scheduled)
    tasks.schedule(scheduled)  # a second worker start in one process: still once
    found = queue.periodic_registry.periodic_tasks[("crm.retention", "retention")]
    assert found.cron == "0 3 * * *"


def test_a_csv_import_runs_on_a_worker_as_its_uploader(jobs_app: Flask):
    with jobs_app.app_context():
        uploader = User(
            email="importer@example.com", name="Importer", password_hash="x", role=UserRole.MANAGER
        )
        db.session.add(uploader)
        db.session.flush()
        content = "Name,Company\n" + "".join(f"Worker Person {n},Worker Co\n" for n in range(12))
        upload = CsvUpload(
            user_id=uploader.id,
            kind="customers",
            filename="people.csv",
            content=content,
            settings={"mapping": {"0": "name", "1": "company"}, "update": False},
        )
        db.session.add(upload)
        db.session.flush()
        job_id = enqueue(
            "crm.import",
            "Import of people.csv (customers)",
            {"upload_id": upload.id, "kind": "customers", "ip": "203.0.113.7", "agent": "Firefox"},
            user_id=uploader.id,
        )
        db.session.commit()
        uploader_id = uploader.id
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        assert job_status(job_id)[0] == "succeeded"
        kept = db.session.get(JobRun, job_id)
        assert (kept.step, kept.done, kept.total) == ("Writing rows", 12, 12)
        assert kept.result["added"] == 12 and kept.user_id == uploader_id
        rows = db.session.execute(
            select(AuditLog.user_id, AuditLog.ip_address, AuditLog.user_agent).where(
                AuditLog.table_name == "customers", AuditLog.action == "INSERT"
            )
        ).all()
        assert len(rows) == 12
        assert {(u, str(ip), agent) for u, ip, agent in rows} == {
            (uploader_id, "203.0.113.7", "Firefox")
        }


def test_the_reminders_job_makes_the_mornings_notices(jobs_app: Flask):
    from datetime import date

    with jobs_app.app_context():
        owner = User(email="owner@example.com", name="Owner", password_hash="x")
        db.session.add(owner)
        db.session.flush()
        db.session.execute(
            text("INSERT INTO tasks (title, user_id, due_date) VALUES ('Due today', :u, :d)"),
            {"u": owner.id, "d": datetime.combine(date.today(), datetime.min.time())},
        )
        job_id = enqueue("crm.reminders", "Task reminders")
        db.session.commit()
    run_until_idle(jobs_app)
    with jobs_app.app_context():
        result = db.session.get(JobRun, job_id).result
        assert result == {"day": date.today().isoformat(), "notices": 1, "emails": 0}
