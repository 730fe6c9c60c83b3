"""Optimistic locking (migration 0008): a save over a newer change is refused, kept."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.contrib.sqla import ModelView
from sqlalchemy import select
from wtforms import HiddenField

from crm.extensions import db
from crm.models import AuditLog, User


class OptimisticLock(ModelView):
    """The version a form was opened on travels with it; a save from another is refused."""

    def scaffold_form(self) -> Any:
        form_class = super().scaffold_form()
        if hasattr(self.model, "version"):
            # The version the form was opened with travels with it, hidden.
            form_class.version = HiddenField()
        return form_class

    def create_form(self, obj: Any = None) -> Any:
        form = super().create_form(obj)
        if "version" in form:
            del form["version"]  # a new row starts at version 1
        return form

    def update_model(self, form: Any, model: Any) -> bool:
        """Refuse a save over a change made since the form was opened.

        The version must be the one the request sent: the form is built over the
        row, so a POST without the field (an old tab, a script) would otherwise
        take the row's current version and overwrite a newer change unseen.
        """
        if "version" in form:
            current = db.session.scalar(
                select(self.model.version).where(self.model.id == model.id).with_for_update()
            )
            sent = form.version.raw_data[0].strip() if form.version.raw_data else ""
            if str(current) != sent:
                flash(self._stale_message(model, sent), "error")
                form.version.data = current  # a deliberate second save goes through
                db.session.rollback()
                return False
            del form["version"]  # the database moves the version itself
        return bool(super().update_model(form, model))

    def _stale_message(self, model: Any, sent: str) -> str:
        """Why a save was refused: someone's newer change, or no version sent at all."""
        keep = "Your changes are still in the form below;"
        if not sent:
            return (
                "Not saved: the form did not say which version of the record it was opened "
                f"on (an old page or a script), so it could overwrite a newer change. {keep} "
                "check the record on its details page, then save again."
            )
        who, when = last_change(self.model.__tablename__, model)
        return (
            f"Not saved: {who} changed this record {when}, after you opened it. {keep} "
            "check theirs on the details page, then save again to replace them with yours."
        )


def last_change(table: str, model: Any) -> tuple[str, str]:
    """Who last changed a row, and when, from the audit log (or the row's own stamp)."""
    latest = db.session.execute(
        select(User.name, AuditLog.created_at)
        .join(User, User.id == AuditLog.user_id, isouter=True)
        .where(AuditLog.table_name == table, AuditLog.record_id == model.id)
        .order_by(AuditLog.id.desc())
        .limit(1)
    ).first()
    stamp = latest.created_at if latest else getattr(model, "updated_at", None)
    who = latest.name if latest and latest.name else "someone else"
    when = f"at {stamp:%Y-%m-%d %H:%M} UTC" if stamp else "just now"
    return who, when
