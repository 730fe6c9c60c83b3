"""The base of every admin view: access rules, optimistic locking and fast lists, composed.

Each concern is a mixin of its own: crm/admin/access.py (the role matrix and row
rules), crm/admin/locking.py (optimistic locking), crm/admin/fast_list.py (counts,
plans and rows at scale). This module adds what a page shows: formats, related
rows on details pages, a link to a created record, and database refusals as messages.
"""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime
from typing import Any

from flask import flash, g, session
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.model import typefmt
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)

from crm.admin import bulk
from crm.admin.access import AccessRules
from crm.admin.export import ExportMixin
from crm.admin.fast_list import FastList
from crm.admin.fields import EnumValueConverter
from crm.admin.locking import OptimisticLock
from crm.admin.related import Related, sections
from crm.admin.urls import FastUrls
from crm.extensions import db
from crm.models import User
from crm.web import formats
from crm.web.forms import Form

# What to tell a person when the database refuses a save, by constraint name.
CONSTRAINT_MESSAGES = {
    "uk_users_email": "Another user already has that email.",
    "uk_customers_name_company": "A customer with this name already exists at this company.",
    "chk_customers_email": "Enter an email address like name@example.com.",
    "chk_customers_industry": "Pick an industry from the list.",
    "chk_leads_probability": "Probability is a percentage from 0 to 100.",
    "chk_leads_amount": "The amount must be more than zero (or left empty).",
    "chk_interactions_duration": "The duration must be at least one minute (or left empty).",
    "chk_users_last_admin": "This is the last active admin: make someone else an admin first.",
}

log = logging.getLogger(__name__)


class PolicyModelView(AccessRules, OptimisticLock, ExportMixin, FastList, FastUrls, ModelView):
    """A ModelView whose every path obeys the role matrix and the row rules.

    Signed out: redirect to /login (done app-wide). A view the role may not use:
    403. A row the user may not read: 404, on details, edit, delete, bulk actions,
    export and related-row lookups alike.
    """

    form_base_class = Form  # Flask-WTF's CSRF token, checked app-wide by CSRFProtect
    model_form_converter = EnumValueConverter
    # Enums show their stored value ("manager"), not the Python name ("MANAGER").
    column_type_formatters = {
        **typefmt.BASE_FORMATTERS,
        enum.Enum: lambda _view, value, _name=None: value.value,
        # One format on every page (crm/web/formats.py); datetime before date, its parent.
        datetime: lambda _view, value, _name=None: formats.when(value),
        date: lambda _view, value, _name=None: formats.day(value),
    }
    column_type_formatters_detail = {
        **typefmt.DETAIL_FORMATTERS,
        **column_type_formatters,
    }
    # A list names a person by name; their details page shows "Name <email>".
    column_type_formatters[User] = lambda _view, value, _name=None: value.name
    can_view_details = True
    can_set_page_size = True
    named_filter_urls = True  # ?flt0_industry_equals=Technology: readable, stable links
    page_size = 20
    details_modal = False
    edit_modal = False
    create_modal = False

    details_template = "admin/model/crm_details.html"
    list_template = "admin/model/crm_list.html"
    # Kinds of related rows to show on the details page (crm/admin/related.py).
    related: tuple[Related, ...] = ()

    def __init__(self, model: type, name: str, **kwargs: Any) -> None:
        super().__init__(model, db, name=name, **kwargs)

    def after_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        super().after_model_change(form, model, is_created)
        if is_created:
            g.crm_created = model  # create_view links the new record from its message

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> Any:
        """Flask-Admin's create page; "Record was successfully created." links to the record."""
        response = super().create_view()
        created = g.pop("crm_created", None)
        messages = session.get("_flashes", [])
        if created is not None and self.can_view_details and messages:
            category, text = messages[-1]
            url = self.get_url(".details_view", id=created.id)
            messages[-1] = (
                category,
                Markup('{} <a href="{}">Open {}</a>.').format(text, url, str(created)),
            )
            session["_flashes"] = messages
        return response

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.details_template and "model" in kwargs:
            kwargs["related_sections"] = sections(kwargs["model"].id, self.related)
        if template == self.list_template:
            kwargs["row_urls"] = self._row_urls(kwargs.get("return_url") or "")
        return str(super().render(template, **kwargs))

    def handle_view_exception(self, exc: Exception) -> bool:
        """A database refusal becomes a plain message above the kept form, never a 500."""
        if isinstance(exc, OperationalError | InterfaceError):
            raise exc  # the database is away: crm/db/outage.py's 503, not a flashed driver error
        if isinstance(exc, IntegrityError):
            diag = getattr(exc.orig, "diag", None)
            constraint = getattr(diag, "constraint_name", None) or ""
            detail = CONSTRAINT_MESSAGES.get(constraint)
            if detail is None:
                detail = "The database refused the change (it conflicts with other records)."
            flash(f"Not saved: {detail}", "error")
            return True
        if isinstance(exc, DataError):
            # Flask-Admin would flash str(exc): the driver's message and the SQL. The
            # kind of refusal goes to the log (not its text: it quotes the values).
            log.warning("database refused a value: %s", type(exc.orig).__name__)
            flash(
                "Not saved: a value does not fit its field (too long, too large or in the "
                "wrong form). Check what you typed and save again.",
                "error",
            )
            return True
        if isinstance(exc, DBAPIError):
            # Not the person's input: a missing grant, a trigger's refusal. The operator
            # needs the database's own words (they hold no values); the page, a sentence.
            diag = getattr(exc.orig, "diag", None)
            log.error(
                "database refused a save: %s: %s",
                type(exc.orig).__name__,
                getattr(diag, "message_primary", None),
            )
            flash("Not saved: the database refused the change. Nothing was changed.", "error")
            return True
        return bool(super().handle_view_exception(exc))

    @action("delete", "Delete")
    def action_delete(self, ids: Any) -> Any:
        def delete(row_ids: list[int], _chosen: str | None) -> str:
            rows = db.session.scalars(select(self.model).where(self.model.id.in_(row_ids))).all()
            deleted = sum(1 for row in rows if self.delete_model(row))
            return f"{deleted} of {len(rows)} records deleted."

        return bulk.confirm_or_apply(
            self,
            ids,
            name="delete",
            title="Delete",
            consequence="These records will be deleted. This cannot be undone.",
            apply=delete,
        )
