"""CSV export of a list: every row of the filtered list the person may read, streamed.

The export is the list without its pages: the same search, filters and order,
the same row rule, every row. The rows are read in batches of EXPORT_BATCH
through a server-side cursor and written out as they come, so a big export
neither holds its rows in the worker's memory nor waits for all of them before
the first byte. Past EXPORT_MAX_ROWS (a setting) the page says how to narrow the
list or export everything from the command line (``flask crm export``) instead of
holding a web worker for minutes.

Every cell goes through the formula guard (crm/importing/spreadsheet.py), whatever column
it comes from: a customer named "=HYPERLINK(…)" is text in the owner, customer
and user columns too.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import reduce
from typing import Any

from flask import Response, current_app, flash, redirect, stream_with_context
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from werkzeug.utils import secure_filename

from crm.admin.fast_list import FastList
from crm.extensions import db
from crm.importing.spreadsheet import csv_safe
from crm.models import User
from crm.security import policy

EXPORT_BATCH = 1_000


class _Lines:
    """csv.writer's file: hands each written line back instead of storing it."""

    def write(self, line: str) -> str:
        return line


class ExportMixin(FastList):
    """Flask-Admin's CSV export, complete and streamed (mixed into PolicyModelView)."""

    model: Any
    endpoint: str
    column_formatters_export: dict[str, Any]
    # Column headers of the file where they differ from the list's (column_labels).
    column_export_labels: dict[str, str] = {}

    def export_query(
        self, user: User | None, sort_column: Any, sort_desc: bool, search: Any, filters: Any
    ) -> Any:
        """Every row of the list ``user`` may read (None: every row), in the list's order."""
        query, joins = self.matching(search, filters)  # crm/admin/fast_list.py, as the list
        if user is not None:
            query = query.filter(policy.row_filter(user, self.model))
        query = self._sorted(query, joins, sort_column, sort_desc)
        # selectinload: one IN query per batch and relation; joinedload cannot stream.
        return query.options(*(selectinload(relation) for relation in self._auto_joins))

    def csv_lines(self, query: Any) -> Iterator[str]:
        """The header, then one line per row, read EXPORT_BATCH rows at a time."""
        writer = csv.writer(_Lines())
        columns = self._export_columns
        labels = [self.column_export_labels.get(name, str(label)) for name, label in columns]
        yield writer.writerow([csv_safe(label) for label in labels])
        getters = [self._cell_getter(name) for name, _label in columns]
        # As a 2.0-style statement: the legacy Query de-duplicates rows, which streaming
        # cannot do.
        rows = db.session.execute(query.statement, execution_options={"yield_per": EXPORT_BATCH})
        for row in rows.scalars():
            yield writer.writerow([csv_safe(as_text(get(row))) for get in getters])

    def _cell_getter(self, name: str) -> Callable[[Any], Any]:
        """How to read one column of a row: its export formatter, or the attribute.

        Worked out once per export rather than per cell, as Flask-Admin's
        get_export_value does (a third of a big export's time).
        """
        formatter = self.column_formatters_export.get(name)
        if formatter is not None:
            return lambda row: formatter(self, None, row, name)
        path = name.split(".")
        return lambda row: reduce(lambda obj, attr: obj and getattr(obj, attr, None), path, row)

    def _export_csv(self, return_url: str) -> Any:
        """Flask-Admin's CSV export, over every row the person may read."""
        args = self._get_list_extra_args()
        column = self._get_column_by_idx(args.sort)
        query = self.export_query(
            current_user, column[0] if column else None, args.sort_desc, args.search, args.filters
        )
        most = current_app.config["EXPORT_MAX_ROWS"]
        ids = query.with_entities(self.model.id).order_by(None).limit(most + 1).subquery()
        if db.session.scalar(select(func.count()).select_from(ids)) > most:
            flash(too_many(self.endpoint, most), "error")
            return redirect(return_url)
        filename = secure_filename(self.get_export_name(export_type="csv"))
        return Response(
            stream_with_context(self.csv_lines(query)),
            headers={"Content-Disposition": f"attachment;filename={filename}"},
            mimetype="text/csv",
        )


def as_text(value: Any) -> str:
    """A cell's text: a time in UTC to the second, an enum's value, a list joined."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # UTC, to the second: what a spreadsheet reads as a time
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return ", ".join(as_text(item) for item in value)
    return str(value)


def too_many(endpoint: str, most: int) -> Markup:
    """What to do when a list is too big to export from the page."""
    return Markup(
        "This list has more than {most:,} rows, the most one export from the page gives. "
        "Narrow it with a search or a filter, or export every row on the server with "
        "<code>flask crm export {endpoint} --output {endpoint}.csv</code> "
        "(docs/features.md, “CSV export”)."
    ).format(most=most, endpoint=endpoint)
