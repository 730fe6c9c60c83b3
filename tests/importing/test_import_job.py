"""The import as a job: its page (progress, result, whose it is), a second run, the list
of recent imports, and a warning when no worker runs."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from crm.extensions import db
from crm.models import Customer, UserRole
from tests.helpers import Browser, run_job_here
from tests.importing.test_import import upload, upload_id

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
CSV = "Name,Company\nJob Person,Job Co\nOther Person,Job Co\n"


def queue_import(browser: Browser, content: str = CSV) -> tuple[int, int]:
    """Upload and submit the mapping; (upload id, job id), the job not yet run."""
    number = upload_id(upload(browser, "customers", content))
    response = browser.post(
        f"/admin/customers/import/{number}",
        {"column-0": "name", "column-1": "company", "duplicates": "skip"},
    )
    assert response.status_code == 302
    return number, int(re.search(r"/import/job/(\d+)$", response.headers["Location"])[1])


def test_the_page_shows_the_wait_then_the_result(browser: Browser, users):
    browser.login_as(users[MANAGER])
    _number, job = queue_import(browser)
    waiting = browser.get(f"/admin/customers/import/job/{job}").get_data(as_text=True)
    assert "Waiting for a worker" in waiting and 'id="import-progress"' in waiting
    assert browser.get(f"/admin/customers/import/job/{job}.json").get_json() == {
        "status": "todo", "step": None, "done": 0, "total": None, "over": False,
    }  # fmt: skip
    run_job_here(job)
    polled = browser.get(f"/admin/customers/import/job/{job}.json").get_json()
    assert polled == {
        "status": "succeeded", "step": "Writing rows", "done": 2, "total": 2, "over": True,
    }  # fmt: skip
    page = browser.get(f"/admin/customers/import/job/{job}").get_data(as_text=True)
    assert "2 added, 0 updated" in " ".join(page.split())


def test_no_worker_running_is_said_on_the_page(browser: Browser, users):
    db.session.execute(text("DELETE FROM procrastinate_workers"))
    browser.login_as(users[MANAGER])
    _number, job = queue_import(browser)
    page = browser.get(f"/admin/customers/import/job/{job}").get_data(as_text=True)
    assert "No background worker is running" in page


def test_an_import_job_is_its_uploaders_only(browser: Browser, make_browser, users):
    browser.login_as(users[MANAGER])
    _number, job = queue_import(browser)
    other = make_browser()
    other.login_as(users[ADMIN])
    assert other.get(f"/admin/customers/import/job/{job}").status_code == 404
    assert other.get(f"/admin/customers/import/job/{job}.json").status_code == 404
    assert browser.get(f"/admin/leads/import/job/{job}").status_code == 404  # another kind
    assert browser.get("/admin/customers/import/job/99999999999999999999").status_code == 404


@pytest.mark.parametrize("duplicates", ["skip", "update"])
def test_a_second_run_of_a_done_import_changes_nothing(browser: Browser, users, duplicates):
    browser.login_as(users[MANAGER])
    number = upload_id(upload(browser, "customers", CSV))
    response = browser.post(
        f"/admin/customers/import/{number}",
        {"column-0": "name", "column-1": "company", "duplicates": duplicates},
    )
    job = int(re.search(r"/import/job/(\d+)$", response.headers["Location"])[1])
    run_job_here(job)
    before = db.session.scalar(text("SELECT count(*) FROM audit_logs"))
    run_job_here(job)  # as after a worker died between the commit and the queue's record
    made = db.session.scalar(
        select(func.count()).select_from(Customer).where(Customer.company == "Job Co")
    )
    assert made == 2
    assert db.session.scalar(text("SELECT count(*) FROM audit_logs")) == before  # no rewrite
    page = browser.get(f"/admin/customers/import/job/{job}").get_data(as_text=True)
    assert "2 added, 0 updated" in " ".join(page.split())  # the first run's result


def test_submitting_the_mapping_again_opens_the_running_import(browser: Browser, users):
    browser.login_as(users[MANAGER])
    number, job = queue_import(browser)
    again = browser.post(
        f"/admin/customers/import/{number}",
        {"column-0": "name", "column-1": "company", "duplicates": "update"},
    )
    assert again.headers["Location"].endswith(f"/import/job/{job}")
    queued = db.session.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'crm.import'")
    )
    assert queued == 1


def test_a_row_the_database_refuses_at_the_write_is_a_problem_not_a_failure(
    browser: Browser, users, monkeypatch
):
    from crm.importing import service

    browser.login_as(users[MANAGER])
    _number, job = queue_import(browser)
    real = service.apply

    def racing(session, kind, outcome, on_rows=service._quiet):
        # Someone saves the same customer between the check and the write.
        session.execute(
            text("INSERT INTO customers (name, company) VALUES ('Job Person', 'Job Co')")
        )
        real(session, kind, outcome, on_rows)

    monkeypatch.setattr(service, "apply", racing)
    run_job_here(job)
    page = " ".join(
        browser.get(f"/admin/customers/import/job/{job}").get_data(as_text=True).split()
    )
    assert "The database refused the import (duplicate key value violates unique constraint" in page
    assert "Job Person" not in page.split("import-problems")[1]  # no row values shown
    assert db.session.scalar(text("SELECT count(*) FROM customers WHERE company = 'Job Co'")) == 0


def test_the_upload_page_lists_recent_imports_with_their_results(browser: Browser, users):
    browser.login_as(users[REP])
    _number, done = queue_import(browser)
    run_job_here(done)
    _number, waiting = queue_import(browser, "Name,Company\nLater Person,Later Co\n")
    page = browser.get("/admin/customers/import/").get_data(as_text=True)
    recent = page.split('id="import-recent"')[1].split("</table>")[0]
    assert recent.index(f"/import/job/{waiting}") < recent.index(f"/import/job/{done}")
    assert "imported: 2 added, 0 updated" in " ".join(recent.split())
    assert "waiting" in recent
