"""/admin/audit/: the audit log browser, a record's history, and revert (admins).

The list filters by table, record id, user, action, date range and IP (an
address or a network, 10.0.0.0/8); each row unfolds into a field-by-field diff.
``/admin/audit/history/?table=customers&id=5`` is one record's timeline, linked
from every record's details and edit pages. Values are escaped like everything
else; the counts follow crm/admin/counting.py, so millions of rows are never
counted exactly.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from flask import abort, flash, g, redirect, request
from flask_admin import expose
from flask_admin.contrib.sqla import filters as f
from markupsafe import Markup, escape
from sqlalchemy import cast, select
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import joinedload

from crm.admin import filters
from crm.admin.audit_readable import Names, browser, field_label
from crm.admin.base import CONSTRAINT_MESSAGES, PolicyModelView
from crm.admin.urls import view_url
from crm.audit.revert import AUDITED, RevertError, can_revert, in_column_order, revert
from crm.extensions import db
from crm.models import AuditLog
from crm.security.policy import Action, Resource
from crm.web import formats
from crm.web.ids import row_id

ACTIONS = (
    "INSERT",
    "UPDATE",
    "DELETE",
    "LOGIN",
    "LOGIN_FAILED",
    "LOCKOUT",
    "LOGOUT",
    "PURGE",
    # Account security (crm/security/account.py, second_step.py).
    "2FA_ON",
    "2FA_OFF",
    "2FA_RESET",
    "2FA_FAILED",
    "RECOVERY_USED",
    "RECOVERY_NEW",
    "SESSION_ENDED",
)
HISTORY_LIMIT = 200  # entries on a history page; the filtered list has the rest


def shown(value: Any) -> str:
    """A recorded JSON value as a person reads it."""
    if value is None:
        return "(empty)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _cell(entry: AuditLog, names: Names | None, name: str, value: Any, css: str) -> str:
    """One value: a referenced row by its name, the raw value on hover (escaped)."""
    named = names.name(entry.table_name, name, value) if names is not None else None
    if named is None:
        return f'<td class="{css}">{escape(shown(value))}</td>'
    raw = f"{name} = {shown(value)}"
    return f'<td class="{css}" title="{escape(raw)}">{escape(named)}</td>'


def diff_table(entry: AuditLog, names: Names | None = None) -> Markup:
    """Field | before | after, for the fields the entry recorded (escaped).

    Fields by their labels ("Stage"), other rows by their names ("Proposal"),
    when ``names`` has them, with the column and raw value on hover. A
    whole-row snapshot (an insert or a deletion) leaves out its empty fields
    and says how many there were.
    """
    old, new = entry.old_values or {}, entry.new_values or {}
    lookup = names
    recorded = _field_names(entry)
    snapshot = new if entry.action == "INSERT" else old if entry.action == "DELETE" else None
    empty = [name for name in recorded if snapshot is not None and snapshot.get(name) is None]
    fields = [name for name in recorded if name not in empty]
    if not fields:
        return Markup("")
    head = "<tr><th>Field</th>"
    head += "<th>Before</th>" if entry.action != "INSERT" else ""
    head += "<th>After</th>" if entry.action != "DELETE" else ""
    rows = []
    for name in fields:
        label = field_label(entry.table_name, name)
        cells = f'<th title="{escape(name)}">{escape(label)}</th>'
        if entry.action != "INSERT":
            cells += _cell(entry, lookup, name, old.get(name), "audit-old")
        if entry.action != "DELETE":
            cells += _cell(entry, lookup, name, new.get(name), "audit-new")
        rows.append(f"<tr>{cells}</tr>")
    labels = ", ".join(field_label(entry.table_name, name) for name in empty)
    note = f'<p class="small text-muted">Empty: {escape(labels)}.</p>' if empty else ""
    return Markup(
        f'<table class="table table-sm audit-diff"><thead>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{note}"
    )


def _field_names(entry: AuditLog) -> list[str]:
    names = list(dict.fromkeys([*(entry.new_values or {}), *(entry.old_values or {})]))
    return in_column_order(entry.table_name, names)


def _changes(_view: Any, _context: Any, entry: AuditLog, _name: str) -> Markup:
    """The list's "Changes" cell: a summary that unfolds into the diff."""
    labels = [field_label(entry.table_name, name) for name in _field_names(entry)]
    if not labels:
        return Markup("")
    summary = ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
    table = diff_table(entry, g.get("audit_names"))
    return Markup(f"<details><summary>{escape(summary)}</summary>{table}</details>")


def _record(view: Any, _context: Any, entry: AuditLog, _name: str) -> Markup | int:
    """The record id, linked to that record's history."""
    if entry.table_name not in AUDITED or not entry.record_id:
        return entry.record_id
    url = view_url(f"{view.endpoint}.history", table=entry.table_name, id=entry.record_id)
    return Markup(f'<a href="{escape(url)}" title="History of this record">{entry.record_id}</a>')


def _when(_view: Any, _context: Any, entry: AuditLog, _name: str) -> str:
    return formats.when(entry.created_at)


def _agent(_view: Any, _context: Any, entry: AuditLog, _name: str) -> Markup:
    """The browser in brief ("Chrome on Linux"), the whole string on hover."""
    if not entry.user_agent:
        return Markup("")
    return Markup('<span title="{}">{}</span>').format(entry.user_agent, browser(entry.user_agent))


def _json_text(_view: Any, _context: Any, entry: AuditLog, name: str) -> str:
    value = getattr(entry, name)
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class IpFilter(f.BaseSQLAFilter):
    """Rows from an address (192.0.2.7) or from within a network (10.0.0.0/8)."""

    def validate(self, value: str) -> bool:
        try:
            ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return False
        return True

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        return query.filter(AuditLog.ip_address.op("<<=")(cast(value.strip(), INET)))

    def operation(self) -> str:
        return "is in"


class AuditLogView(PolicyModelView):
    """Who changed what, when, from where: read by admins, managers and support."""

    resource = Resource.AUDIT  # read and export; no create, edit or delete for anyone
    column_list = (
        "created_at", "table_name", "record_id", "action", "user", "ip_address", "changes",
    )  # fmt: skip
    column_labels = {
        "created_at": "When",
        "table_name": "Table",
        "record_id": "Record",
        "ip_address": "IP address",
        "old_values": "Before",
        "new_values": "After",
    }
    column_formatters = {"changes": _changes, "record_id": _record, "created_at": _when}
    column_formatters_detail = {
        "old_values": _json_text,
        "new_values": _json_text,
        "user_agent": _agent,
    }
    column_formatters_export = {"old_values": _json_text, "new_values": _json_text}
    column_filters = (
        filters.choice(AuditLog.table_name, "Table", tuple(AUDITED)),
        filters.parent(AuditLog.record_id, "Record id"),
        filters.person(AuditLog.user_id, "User"),
        filters.choice(AuditLog.action, "Action", ACTIONS),
        filters.dates(AuditLog.created_at, "When"),
        IpFilter(AuditLog.ip_address, "IP address"),
    )
    # Newest first; changes made in one transaction share a timestamp, so the id
    # (the order they were written in) breaks ties.
    column_default_sort = [("created_at", True), ("id", True)]
    column_sortable_list = ("created_at",)
    column_details_list = (
        "created_at", "table_name", "record_id", "action", "user", "ip_address",
        "user_agent", "old_values", "new_values",
    )  # fmt: skip
    column_export_list = column_details_list

    def get_list(self, *args: Any, **kwargs: Any) -> Any:
        """The page's rows, and the names they refer to (one query per kind, for the diffs)."""
        count, rows = super().get_list(*args, **kwargs)
        if kwargs.get("execute", True):
            g.audit_names = Names(db.session, rows)
        return count, rows

    def __init__(self) -> None:
        super().__init__(
            AuditLog, "Audit log", endpoint="audit", url="audit", category="Compliance"
        )

    @expose("/history/")
    def history(self) -> Any:
        """One record's timeline, newest first, with diffs (and revert for admins)."""
        table = request.args.get("table", "")
        record_id = request.args.get("id", "")
        if table not in AUDITED or row_id(record_id) is None:
            abort(404)
        entries = db.session.scalars(
            select(AuditLog)
            .options(joinedload(AuditLog.user))
            .where(AuditLog.table_name == table, AuditLog.record_id == int(record_id))
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(HISTORY_LIMIT + 1)
        ).all()
        model = AUDITED[table]
        current = db.session.get(model, int(record_id))
        shown_entries = entries[:HISTORY_LIMIT]
        return self.render(
            "admin/audit_history.html",
            table=table,
            record_id=int(record_id),
            current=current,
            entries=shown_entries,
            more=len(entries) > HISTORY_LIMIT,
            diff_table=diff_table,
            names=Names(db.session, shown_entries),
            browser=browser,
            can_revert=can_revert,
            may_revert=self.allows(Action.REVERT),
        )

    @expose("/revert/", methods=["POST"])
    def revert_view(self) -> Any:
        """Undo one change (admins); the revert is audited like any change."""
        entry_id = request.form.get("id", "")
        number = row_id(entry_id)
        entry = db.session.get(AuditLog, number) if number is not None else None
        if entry is None:
            abort(404)
        back = view_url(f"{self.endpoint}.history", table=entry.table_name, id=entry.record_id)
        try:
            done = revert(db.session, entry, CONSTRAINT_MESSAGES)
        except RevertError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(back)
        db.session.commit()
        flash(done.message(), "success")
        return redirect(back)
