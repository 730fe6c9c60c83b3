"""CSV import pages on the customer and lead lists: upload, map, then a job imports.

``/admin/<kind>/import/`` takes the file; ``/admin/<kind>/import/<id>`` shows the
first rows with a column mapping and, on submit, queues the import as a job
(crm/importing/job.py: every row checked, then all imported in one transaction,
or every problem listed). ``/admin/<kind>/import/job/<job id>`` shows its live
progress and then its result; the person can leave and come back. The file
waits in ``csv_uploads`` meanwhile.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from flask import Response, abort, current_app, jsonify, redirect, request
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import delete, func

from crm.admin.urls import view_url
from crm.extensions import db
from crm.importing import job as import_job
from crm.importing import progress, reader, service
from crm.importing.fields import FIELDS, guess_mapping
from crm.importing.spreadsheet import csv_safe
from crm.jobs import queue as jobs
from crm.models import CsvUpload
from crm.security.policy import Action
from crm.web.ids import row_id

PREVIEW_ROWS = 10
UPLOAD_HOURS = 24  # unimported uploads older than this are removed


def limit_bytes() -> int:
    """The largest file an import takes (IMPORT_MAX_MB)."""
    return int(current_app.config["IMPORT_MAX_MB"]) * 1024 * 1024


class ImportMixin:
    """Adds the import pages to a PolicyModelView whose ``import_kind`` names FIELDS' key."""

    import_kind: str

    @property
    def can_import(self) -> bool:
        return bool(self.allows(Action.CREATE))  # type: ignore[attr-defined]

    def _upload(self, upload_id: int, lock: bool = False) -> CsvUpload:
        """The caller's own upload, for this kind of record; anyone else's is 404.

        ``lock``: held FOR UPDATE, so a running import job finishes first.
        """
        upload = (
            db.session.get(CsvUpload, upload_id, with_for_update=lock)
            if row_id(upload_id) is not None
            else None
        )
        if upload is None or upload.user_id != current_user.id or upload.kind != self.import_kind:
            abort(404)
        return upload

    @expose("/import/", methods=("GET", "POST"))
    def import_upload(self) -> Any:
        """Step 1: choose a file (or download a template)."""
        error = None
        if request.method == "POST":
            chosen = request.files.get("file")
            if chosen is None or not chosen.filename:
                error = "Choose a CSV file to upload."
            else:
                try:
                    table_text = reader.decode(chosen.read(limit_bytes() + 1), limit_bytes())
                    reader.parse(table_text)
                except reader.FileProblem as exc:
                    error = f"{chosen.filename}: {exc}"
                else:
                    return redirect(self._store(chosen.filename, table_text))
        return self.render(  # type: ignore[attr-defined]
            "admin/import_upload.html",
            fields=FIELDS[self.import_kind],
            recent=progress.recent(current_user.id, self.import_kind),
            error=error,
            limit_mb=limit_bytes() // 1048576,
        )

    def _store(self, filename: str, content: str) -> str:
        stale = func.localtimestamp() - timedelta(hours=UPLOAD_HOURS)
        db.session.execute(delete(CsvUpload).where(CsvUpload.created_at < stale))
        upload = CsvUpload(
            user_id=current_user.id,
            kind=self.import_kind,
            filename=filename[:255],
            content=content,
        )
        db.session.add(upload)
        db.session.commit()
        return view_url(f"{self.endpoint}.import_map", upload_id=upload.id)  # type: ignore[attr-defined]

    @expose("/import/template.csv")
    def import_template(self) -> Any:
        """A header row with every column the import reads."""
        header = ",".join(field.label for field in FIELDS[self.import_kind])
        return Response(
            header + "\r\n",
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={self.import_kind}.csv"},
        )

    @expose("/import/<int:upload_id>", methods=("GET", "POST"))
    def import_map(self, upload_id: int) -> Any:
        """Step 2: map the columns, then validate everything and import, or list problems."""
        upload = self._upload(upload_id, lock=request.method == "POST")
        table = reader.parse(upload.content)
        settings = upload.settings or {}
        mapping = {int(k): v for k, v in settings.get("mapping", {}).items()} or guess_mapping(
            self.import_kind, table.header
        )
        update_ = bool(settings.get("update", False))
        queued = int(settings.get("job") or 0)
        if queued and ("imported" in settings or progress.unfinished(queued)):
            # Imported, or being imported: its page says how it goes (never a second run).
            db.session.rollback()
            return redirect(self._status_url(queued))
        outcome = None
        if request.method == "POST":
            mapping, update_ = self._chosen(table)
            if update_ and not self.allows(Action.UPDATE):  # type: ignore[attr-defined]
                abort(403)
            outcome = service.Outcome(problems=service.mapping_problems(self.import_kind, mapping))
            if not outcome.problems:
                return redirect(self._start(upload, mapping, update_))
        return self.render(  # type: ignore[attr-defined]
            "admin/import_map.html",
            upload=upload,
            table=table,
            preview=table.rows[:PREVIEW_ROWS],
            fields=FIELDS[self.import_kind],
            mapping=mapping,
            update=update_,
            outcome=outcome,
            shown_problems=import_job.SHOWN_PROBLEMS,
        )

    def _chosen(self, table: reader.Table) -> tuple[dict[int, str], bool]:
        """The mapping and duplicate choice from the form; unknown targets are ignored."""
        names = {field.name for field in FIELDS[self.import_kind]}
        mapping = {}
        for index in range(len(table.header)):
            target = request.form.get(f"column-{index}", "")
            if target in names:
                mapping[index] = target
        return mapping, request.form.get("duplicates") == "update"

    def _start(self, upload: CsvUpload, mapping: dict[int, str], update_: bool) -> str:
        """Queue the import (in this transaction, with the mapping kept); its page."""
        job_id = jobs.enqueue(
            progress.TASK,
            import_job.title(upload),
            {
                "upload_id": upload.id,
                "kind": self.import_kind,
                "ip": request.remote_addr,
                "agent": request.user_agent.string[:500],
            },
            user_id=current_user.id,
        )
        chosen = {str(index): target for index, target in mapping.items()}
        upload.settings = {"mapping": chosen, "update": update_, "job": job_id}
        db.session.commit()
        return self._status_url(job_id)

    def _status_url(self, job_id: int) -> str:
        return view_url(f"{self.endpoint}.import_status", job_id=job_id)  # type: ignore[attr-defined]

    def _job(self, job_id: int) -> progress.ImportJob:
        """The caller's own import job of this kind; anyone else's is 404."""
        found = progress.find(job_id, current_user.id, self.import_kind)
        if found is None:
            abort(404)
        return found

    @expose("/import/job/<int(max=9223372036854775807):job_id>")
    def import_status(self, job_id: int) -> Any:
        """Step 3: the import's live progress, then what it did or every problem."""
        found = self._job(job_id)
        return self.render(  # type: ignore[attr-defined]
            "admin/import_status.html", job=found, shown_problems=import_job.SHOWN_PROBLEMS
        )

    @expose("/import/job/<int(max=9223372036854775807):job_id>.json")
    def import_status_json(self, job_id: int) -> Any:
        """The progress the page polls: status, step, done, total, and whether it is over."""
        found = self._job(job_id)
        return jsonify(found.polled())

    @expose("/import/<int:upload_id>/problems.csv")
    def import_problems(self, upload_id: int) -> Any:
        """Every problem of the last validation, as a CSV file (line, column, message)."""
        upload = self._upload(upload_id)
        settings = upload.settings or {}
        mapping = {int(k): v for k, v in settings.get("mapping", {}).items()}
        outcome = service.validate(
            db.session,
            self.import_kind,
            reader.parse(upload.content),
            mapping,
            current_user,
            bool(settings.get("update")),
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(("line", "column", "problem"))
        for problem in outcome.problems:
            writer.writerow((problem.line, csv_safe(problem.column), csv_safe(problem.message)))
        db.session.rollback()
        return Response(
            buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename=problems-{upload.id}.csv"},
        )
