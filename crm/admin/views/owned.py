"""What the sales views share: an owner a sales rep may not choose, pickers, reassigning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import current_user
from sqlalchemy import update
from wtforms import Form

from crm.admin import bulk
from crm.admin import filters as flt
from crm.admin.base import PolicyModelView
from crm.extensions import db
from crm.models import (
    User,
)
from crm.security import policy
from crm.web import formats


def short_date(value: Any) -> str:
    """A date (or a timestamp's date) as every related-rows table shows it."""
    return formats.day(value.date() if isinstance(value, datetime) else value)


def owner_email(_view: Any, _context: Any, row: Any, _name: str) -> str:
    """An export's owner cell: the email the import reads back (crm/importing/fields.py)."""
    return row.owner.email if row.owner else ""


USER_LOOKUP = {"fields": ("name", "email"), "page_size": 10}


CUSTOMER_LOOKUP = {"fields": ("name", "company", "email"), "page_size": 10}


LEAD_LOOKUP = {"fields": ("title",), "page_size": 10}


class OwnedView(PolicyModelView):
    """A view whose rows have an owner-like column a sales rep may not choose.

    ``owner_field``: the relationship a rep's rows are tied to (the owner, or who
    logged an interaction). A rep never sees it in a form: a row they create is
    theirs; a row they edit keeps whoever it had (a task assigned to them, an
    interaction someone else logged on their customer), so a rep can neither take
    a row over nor leave it without an owner. Others get it pre-filled with
    themselves on new records.
    """

    owner_field = "owner"

    def _fix_owner(self, form: Form, is_new: bool) -> Form:
        if policy.sees_all_rows(current_user):
            if is_new and hasattr(form, self.owner_field) and not form[self.owner_field].data:
                form[self.owner_field].data = current_user._get_current_object()
        elif hasattr(form, self.owner_field):
            delattr(form, self.owner_field)
        return form

    def create_form(self, obj: Any = None) -> Form:
        return self._fix_owner(super().create_form(obj), is_new=True)

    def edit_form(self, obj: Any = None) -> Form:
        return self._fix_owner(super().edit_form(obj), is_new=False)

    def on_model_change(self, form: Form, model: Any, is_created: bool) -> None:
        if is_created and not policy.sees_all_rows(current_user):
            setattr(model, self.owner_field, current_user._get_current_object())
        super().on_model_change(form, model, is_created)


def reassign(view: PolicyModelView, ids: Any, what: str) -> Any:
    """Give the selected rows a new owner (admins and managers only)."""
    model = view.model

    def apply(row_ids: list[int], chosen: str | None) -> str:
        owner = db.session.get(User, int(chosen or 0))
        assert owner is not None  # checked against the list; users are never deleted
        db.session.execute(update(model).where(model.id.in_(row_ids)).values(owner_id=owner.id))
        return f"{len(row_ids)} {what} now belong to {owner.name}."

    return bulk.confirm_or_apply(
        view,
        ids,
        name="reassign",
        title="Reassign owner",
        consequence=f"These {what} will belong to the person you choose.",
        apply=apply,
        choice=bulk.Choice("owner_id", "New owner", flt.owners),
    )
