"""A CSV import as a background job (issue 19, part 2).

The mapping page queues it; a worker checks every row and writes them all in one
transaction, as the request did before: every row lands or none does. Progress
(the step, rows done of rows total) is visible at once to the page that shows
it; the result (counts, or every problem) is kept with the job. The upload
stays until then and is marked imported in the same transaction as the rows,
so a job run again after a crash finds it done and changes nothing.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.exc import DataError, IntegrityError

from crm.audit.context import acting_as
from crm.extensions import db
from crm.importing import reader, service
from crm.importing.progress import TASK
from crm.jobs import queue as jobs
from crm.jobs.tasks import job
from crm.models import CsvUpload, User

SHOWN_PROBLEMS = 200  # kept with the job; the CSV report has them all


def title(upload: CsvUpload) -> str:
    """What the job is called on the pages: the file and what it holds."""
    return f"Import of {upload.filename} ({upload.kind})"


def problems_result(outcome: service.Outcome) -> dict[str, Any]:
    """The first problems and how many there are, as the result kept for the page."""
    return {
        "outcome": "problems",
        "problem_count": len(outcome.problems),
        "problems": [
            {"line": p.line, "column": p.column, "message": p.message}
            for p in outcome.problems[:SHOWN_PROBLEMS]
        ],
    }


@job(TASK, "CSV import")
def import_job(
    job_id: int, upload_id: int, kind: str, ip: str | None = None, agent: str | None = None
) -> Any:
    """Check and import one upload, all rows or none, as the person who uploaded it."""
    upload = db.session.get(CsvUpload, upload_id, with_for_update=True)
    if upload is None or upload.kind != kind:
        return {"outcome": "gone", "message": "The file was removed before it was imported."}
    settings = upload.settings or {}
    if "imported" in settings:  # this job ran to the end before (a retry after a crash)
        return settings["imported"]
    user = db.session.get(User, upload.user_id)
    if user is None or not user.may_sign_in:
        return {"outcome": "gone", "message": "The account that uploaded the file is inactive."}
    table = reader.parse(upload.content)
    named, total = title(upload), len(table.rows)

    def shown(step: str, done: int) -> None:
        jobs.progress(job_id, named, done, total, step)

    shown("Checking rows", 0)
    mapping = {int(k): v for k, v in settings.get("mapping", {}).items()}
    with acting_as(user.id, ip, agent):  # the audit rows name the uploader
        outcome = service.validate(
            db.session, upload.kind, table, mapping, user, bool(settings.get("update")), shown
        )
        if outcome.problems:
            db.session.rollback()
            return problems_result(outcome)
        try:
            service.apply(db.session, upload.kind, outcome, shown)
        except (
            IntegrityError,
            DataError,
            psycopg.errors.IntegrityError,
            psycopg.errors.DataError,
        ) as exc:
            # The database refused a row's data (COPY's errors come from psycopg itself).
            db.session.rollback()
            diag = getattr(getattr(exc, "orig", exc), "diag", None)
            detail = getattr(diag, "message_primary", None) or "no detail given"
            refused = service.Problem(
                0, "", f"The database refused the import ({detail}); nothing was saved."
            )
            return problems_result(service.Outcome(problems=[refused]))
    result = {
        "outcome": "imported",
        "filename": upload.filename,
        "kind": upload.kind,
        "added": len(outcome.inserts),
        "updated": len(outcome.updates),
        "skipped": outcome.skipped,
    }
    upload.settings = {**(upload.settings or {}), "imported": result}
    return result
