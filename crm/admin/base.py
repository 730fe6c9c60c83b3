"""The base of every admin view: it asks crm.policy before showing or changing a row."""

from __future__ import annotations

import enum
import logging
from datetime import date, datetime
from math import isqrt
from typing import Any, ClassVar
from urllib.parse import urlencode

from flask import abort, flash, g, request, session
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import typefmt
from flask_admin.model.fields import AjaxSelectField
from flask_admin.model.form import converts
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import func, select, union
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.operators import desc_op, in_op
from sqlalchemy.sql.selectable import ScalarSelect
from wtforms import HiddenField
from wtforms.fields import DateField, DateTimeLocalField
from wtforms.widgets import DateInput

from crm.admin import bulk, counting, rows
from crm.admin.export import ExportMixin
from crm.admin.filters import key_of
from crm.admin.related import Related, sections
from crm.admin.urls import FastUrls, view_url
from crm.audit.revert import AUDITED
from crm.extensions import db
from crm.models import AuditLog, User
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.web import formats
from crm.web.forms import Form
from crm.web.ids import row_id

# Flask-Admin view methods and what each does to the resource.
VIEW_ACTIONS = {
    "index_view": Action.READ,
    "details_view": Action.READ,
    "ajax_lookup": Action.READ,
    "create_view": Action.CREATE,
    "edit_view": Action.UPDATE,
    "ajax_update": Action.UPDATE,
    "delete_view": Action.DELETE,
    "export": Action.EXPORT,
    # crm/admin/views/imports.py: importing creates rows (updating needs UPDATE too).
    "import_upload": Action.CREATE,
    "import_map": Action.CREATE,
    "import_template": Action.CREATE,
    "import_problems": Action.CREATE,
    "action_view": Action.READ,  # each action is checked on its own (is_action_allowed)
    "history": Action.READ,
    "revert_view": Action.REVERT,
}
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
NOT_AVAILABLE = "Pick one from the list: that record is not available to you."
DATE_MESSAGE = "Enter a date as YYYY-MM-DD, for example 2026-12-31."
DATETIME_MESSAGE = "Enter a date and time as YYYY-MM-DD HH:MM, for example 2026-12-31 14:30."
# The browser's datetime-local input sends the first; scripts and older tabs the others.
# Seconds first, so an edit form shows them and saving it unchanged keeps them.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
# From this many skipped rows on, a list page is fetched as a deferred join (its ids first).
DEEP_OFFSET = 100
# The last page a list serves; a page past its rows is simply empty.
MAX_PAGE = 1_000_000
# Bulk actions and the permission each needs (any other action needs UPDATE).
BULK_ACTIONS = {"delete": Action.DELETE}
# Bulk actions that hand rows to someone else: not for sales reps.
REASSIGNING = {"reassign"}

log = logging.getLogger(__name__)


class PolicyAjaxLoader(QueryAjaxModelLoader):
    """A related-row picker that offers only rows the user may read."""

    def get_query(self) -> Any:
        return super().get_query().filter(policy.row_filter(current_user, self.model))

    def get_one(self, pk: Any) -> Any:
        """The picked row, or None when it is malformed, missing or not the user's to read."""
        if row_id(pk) is None:
            return None
        return self.get_query().filter(self.model.id == int(pk)).one_or_none()


class StrictDateField(DateField):
    """A date in YYYY-MM-DD, or a clear message (never a guess)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATE_MESSAGE) from None


class StrictDateTimeField(DateTimeLocalField):
    """A date and time in ISO layout (what the browser's input sends), or a clear message.

    Shown and read in DISPLAY_TIMEZONE, as every page shows times; stored in UTC.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("format", DATETIME_FORMATS)
        super().__init__(*args, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return formats.local(self.data).strftime(self.format[0]) if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATETIME_MESSAGE) from None
        if self.data is not None:
            self.data = formats.to_utc(self.data)

    def populate_obj(self, obj: Any, name: str) -> None:
        # The form shows seconds: saved unchanged, a stored time keeps its microseconds
        # (and the audit trail records no change that nobody made).
        current = getattr(obj, name, None)
        if isinstance(current, datetime) and current.replace(microsecond=0) == self.data:
            return
        super().populate_obj(obj, name)


class EnumValueConverter(AdminModelConverter):
    """Enum selects keyed by the stored value ("meeting"), as their options are.

    Flask-Admin coerces the row's member to its *name* ("MEETING"), which matches
    no option: an edit form showed no current value, and saving it unchanged
    blanked a user's role or a task's status, or turned a meeting into a call.
    """

    @converts("Date")
    def convert_date(self, column: Any, field_args: Any, **extra: Any) -> Any:
        """The browser's own date input, and only YYYY-MM-DD accepted.

        Flask-Admin's date picker re-read a typed "31/12/2026" as 2031-12-20 and
        saved it without a word; a native date input cannot hold a wrong date, and
        what a script posts is parsed strictly, with a message beside the field.
        """
        field_args.setdefault("widget", DateInput())
        return StrictDateField(**field_args)

    @converts("DateTime")
    def convert_datetime(self, column: Any, field_args: Any, **extra: Any) -> Any:
        """The browser's own date-and-time input; a few ISO layouts accepted, strictly."""
        field_args.setdefault("render_kw", {"step": 1})
        return StrictDateTimeField(**field_args)

    @converts("sqlalchemy.sql.sqltypes.Enum")
    def convert_enum(self, column: Any, field_args: Any, **extra: Any) -> Any:
        field = super().convert_enum(column, field_args, **extra)
        field.kwargs["coerce"] = lambda v: v.value if isinstance(v, enum.Enum) else str(v)
        return field


class PolicyModelView(ExportMixin, FastUrls, ModelView):
    """A ModelView whose every path obeys the role matrix and the row rules.

    Signed out: redirect to /login (done app-wide). A view the role may not use:
    403. A row the user may not read: 404, on details, edit, delete, bulk actions,
    export and related-row lookups alike.
    """

    resource: ClassVar[Resource]
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
    _fixed_filter_groups: dict[str, Any] | None = None

    def __init__(self, model: type, name: str, **kwargs: Any) -> None:
        super().__init__(model, db, name=name, **kwargs)

    def filter_arg(self, key: str) -> str:
        """The URL argument (``stage_id_equals``…) of this list's filter named ``key``.

        A filter's key is its own ``key`` or its column's name ("currency", "owner_id"),
        never its label: links built by key (crm/admin/urls.py's list_url) keep working
        when a label changes. An unknown key is a programming error: KeyError.
        """
        for index, flt in enumerate(self._filters or ()):
            if key_of(flt) == key:
                return str(self.get_filter_arg(index, flt))
        raise KeyError(f"the {self.endpoint} list has no filter {key!r}")

    # -- optimistic locking (migration 0008) -----------------------------------------
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
        return super().update_model(form, model)

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

    def render(self, template: str, **kwargs: Any) -> str:
        if template == self.details_template and "model" in kwargs:
            kwargs["related_sections"] = sections(kwargs["model"].id, self.related)
        if template == self.list_template:
            kwargs["row_urls"] = self._row_urls(kwargs.get("return_url") or "")
        return super().render(template, **kwargs)

    def row_html(
        self, row: Any, columns: Any, urls: dict[str, str], back: str, actions: Any
    ) -> Any:
        """One list row's cells (crm/admin/rows.py)."""
        return rows.row_html(self, row, columns, urls, back, bool(actions))

    def history_url(self, record_id: Any) -> str:
        """The record's change history in the audit browser, for those who may read it."""
        table = self.model.__tablename__
        if table not in AUDITED or not policy.allowed(current_user, Resource.AUDIT):
            return ""
        return view_url("audit.history", table=table, id=record_id)

    def _row_urls(self, return_url: str) -> dict[str, str]:
        """The list's row buttons, worked out once per page: base URLs ending in ``id=``."""
        back = urlencode({"url": return_url})
        return {
            "details": f"{self.get_url('.details_view')}?{back}&id="
            if self.can_view_details
            else "",
            "edit": f"{self.get_url('.edit_view')}?{back}&id=" if self.can_edit else "",
            "delete": self.get_url(".delete_view") if self.can_delete else "",
            "csrf": generate_csrf() if self.can_delete else "",
        }

    # -- who may use the view ---------------------------------------------------
    def allows(self, action: Action) -> bool:
        return policy.allowed(current_user, self.resource, action)

    def is_accessible(self) -> bool:
        return self.allows(Action.READ)

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            abort(401)  # the app-wide hook redirects before this; belt and braces
        needed = VIEW_ACTIONS.get(name, Action.READ)
        if not self.allows(Action.READ) or not self.allows(needed):
            abort(403)
        return None

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return self.allows(Action.CREATE)

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return self.allows(Action.UPDATE)

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return self.allows(Action.DELETE)

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return self.allows(Action.EXPORT)

    def is_action_allowed(self, name: str) -> bool:
        if name in REASSIGNING and not policy.sees_all_rows(current_user):
            return False
        return self.allows(BULK_ACTIONS.get(name, Action.UPDATE))

    # -- which rows ---------------------------------------------------------------
    def get_query(self) -> Any:
        return super().get_query().filter(policy.row_filter(current_user, self.model))

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(policy.row_filter(current_user, self.model))

    def get_one(self, id: Any) -> Any:
        """The row, or 404 when it does not exist or the user may not read it."""
        number = row_id(id)
        if number is None:
            abort(404)
        row = self.get_query().filter(self.model.id == number).one_or_none()
        if row is None:
            abort(404)
        return row

    def validate_form(self, form: Any) -> bool:
        """Also refuse a picked related row the user may not read (a tampered form)."""
        valid = super().validate_form(form)
        for field in form:
            picked = getattr(field, "_formdata", None)
            chosen = picked not in (None, "", "__None")
            if isinstance(field, AjaxSelectField) and chosen and field.data is None:
                field.errors = [*field.errors, NOT_AVAILABLE]
                valid = False
        return valid

    def handle_action(self, return_view: str | None = None) -> Any:
        """Bulk actions: the action must be allowed and every selected row readable."""
        action = request.form.get("action", "")
        if action not in self._actions_data or not self.is_action_allowed(action):
            abort(403)
        ids = request.form.getlist("rowid")
        if not ids or any(row_id(i) is None for i in ids):
            abort(404)
        if policy.readable_count(db.session, current_user, self.model, map(int, ids)) != len(
            set(ids)
        ):
            abort(404)
        return super().handle_action(return_view)

    def get_list(  # type: ignore[override]
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        """Flask-Admin's get_list, with a count and a plan that stay fast on big tables.

        The count is an estimate for a whole table and capped otherwise
        (crm/admin/counting.py). Up to its cap the count brings the matching ids,
        and the page is those rows, sorted. Beyond it the page is read in the
        list's order off an index; when the row rule is an OR (a rep's tasks:
        theirs or assigned to them), each part on its own index, then merged.
        """
        page = min(max(page or 0, 0), MAX_PAGE)  # ?page=-1 or a 30-digit page: the nearest
        base, joins = self.matching(search, filters)
        branches = policy.row_branches(current_user, self.model)
        query = base.filter(policy.row_filter(current_user, self.model))
        parts = [base.filter(branch) for branch in branches] if len(branches) > 1 else [query]
        whole_table = not search and not filters and policy.sees_all_rows(current_user)
        found = counting.count(db.session, self.model, parts, whole_table, fenced=bool(search))
        size = page_size or self.page_size
        if found.ids is not None:  # few rows: sort just those
            query = self._page_among(found.ids, page, size, sort_column, sort_desc)
        elif len(branches) > 1:
            query = self._page_of_parts(base, branches, joins, page, size, sort_column, sort_desc)
        else:
            query = self._sorted(query, joins, sort_column, sort_desc)
            query = self._apply_pagination(query, page, size)
        # Related rows shown by name (owner, customer, stage) come in the page's own
        # statement: many-to-one LEFT JOINs on primary keys, which keep the plan an
        # index scan with LIMIT.
        for relation in self._auto_joins:
            query = query.options(joinedload(relation))
        if not execute:
            g.list_count = found
            return found.value, query
        rows = query.all()
        if found.kind is counting.Kind.ESTIMATE and len(rows) < size and (rows or not page):
            # The last page: now the number is known (an estimate can be far off).
            found = counting.Count(page * size + len(rows))
        g.list_count = found
        return found.value, rows

    def matching(self, search: str | None, filters: Any) -> tuple[Any, dict[Any, Any]]:
        """The list's rows as searched and filtered, before any row rule; and their joins."""
        query = super().get_query()
        joins: dict[Any, Any] = {}
        if self._search_supported and search:
            query, _none, joins, _ = self._apply_search(query, None, joins, {}, search)
        if filters and self._filters:
            query, _none, joins, _ = self._apply_filters(query, None, joins, {}, filters)
        return query, joins

    def _sorted(self, query: Any, joins: dict[Any, Any], sort_column: Any, desc: bool) -> Any:
        """The list's order, then the id: one order for every page, ties included.

        The big lists' indexes end with the id (migrations 0009, 0016), so the
        tie-break costs nothing.
        """
        query, _joins = self._apply_sorting(query, dict(joins), sort_column, desc)
        if sort_column is None:  # the default sort's own direction
            desc = next((d for _f, _j, d in self._get_default_order()), False)
        return query.order_by(self.model.id.desc() if desc else self.model.id)

    def _page_of_parts(
        self,
        base: Any,
        branches: list[Any],
        joins: dict[Any, Any],
        page: int | None,
        size: int,
        sort_column: Any,
        sort_desc: bool,
    ) -> Any:
        """A page of rows matching any of ``branches``: each part's first rows, merged.

        One OR over several columns leaves PostgreSQL a single choice: walk the
        list's order index and test every row (3 million for a rep who owns one
        customer). Each part alone is an index range in the list's order; the
        page's rows are among the first offset + size of each part, so those few
        ids and their sort keys, unioned and sorted, give the page's ids without
        reading any other row.
        """
        window = (page or 0) * size + size
        firsts, keys = [], []
        for branch in branches:
            ordered = self._sorted(
                base.filter(probed(db.session, branch, window)), joins, sort_column, sort_desc
            )
            keys = list(ordered._order_by_clauses)
            columns = [getattr(key, "element", key).label(f"k{n}") for n, key in enumerate(keys)]
            firsts.append(ordered.with_entities(self.model.id, *columns).limit(window).subquery())
        merged = union(*(select(first) for first in firsts)).subquery()
        order = [
            merged.c[f"k{n}"].desc()
            if getattr(key, "modifier", None) is desc_op
            else merged.c[f"k{n}"]
            for n, key in enumerate(keys)
        ]
        picked = (
            select(merged.c.id).order_by(*order).offset((page or 0) * size).limit(size).subquery()
        )
        query = (
            super()
            .get_query()
            .filter(
                self.model.id.in_(select(picked.c.id)), policy.row_filter(current_user, self.model)
            )
        )
        return self._sorted(query, {}, sort_column, sort_desc)

    def _page_among(
        self, candidates: Any, page: int | None, size: int, sort_column: Any, sort_desc: bool
    ) -> Any:
        """The page of rows among ``candidates`` (ids): the page's ids first, then its rows.

        Sorting the candidates' ids alone and joining the related rows (owner,
        customer, stage) to the page's 20 only; joined first, a 1,000-candidate
        page paid 3,000 lookups for rows it then dropped.
        """
        plain = super().get_query()
        picked = (
            self._sorted(plain.filter(self.model.id.in_(candidates)), {}, sort_column, sort_desc)
            .with_entities(self.model.id)
            .offset((page or 0) * size)
            .limit(size)
            .subquery()
        )
        # The rule again on the page's own rows: a row reassigned between the two
        # statements is not shown to the rep who no longer owns it.
        query = plain.filter(
            self.model.id.in_(select(picked.c.id)), policy.row_filter(current_user, self.model)
        )
        return self._sorted(query, {}, sort_column, sort_desc)

    def _apply_pagination(self, query: Any, page: int | None, page_size: int | None) -> Any:
        """LIMIT/OFFSET; deep pages as a deferred join: the page's ids first, then its rows.

        Skipping rows through the ids alone is an index-only scan on the order
        column's covering index (migration 0009), instead of reading every skipped
        row and its related rows.
        """
        size = page_size or self.page_size
        offset = (page or 0) * size
        if offset < DEEP_OFFSET:
            return super()._apply_pagination(query, page, size)
        ids = query.with_entities(self.model.id).offset(offset).limit(size).subquery()
        return query.filter(self.model.id.in_(select(ids.c.id))).limit(size)

    def _get_filter_groups(self) -> Any:
        """Filter choices worked out per request (people, stages), not once at start-up.

        The rest of the filter bar (names, operations, fixed choices) never changes:
        Flask-Admin's version of it is built once per view and reused.
        """
        if self._fixed_filter_groups is None:
            self._fixed_filter_groups = super()._get_filter_groups() or {}
        return {
            key: [
                {**item, "options": flt.get_options(self)} if callable(flt.options) else item
                for item in items
                for flt in (self._filters[item["index"]],)
            ]
            for key, items in self._fixed_filter_groups.items()
        } or None

    def count_label(self, value: int) -> str:
        """The list tab's count: exact, "about" (estimated) or "more than" (capped)."""
        found = g.get("list_count")
        return found.label() if found is not None else f"{value:,}"

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
        return super().handle_view_exception(exc)

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

    def _create_ajax_loader(self, name: str, options: dict[str, Any]) -> QueryAjaxModelLoader:
        remote = getattr(self.model, name).property.mapper.class_
        # `db`, not `db.session`: Flask-Admin resolves the session at query time.
        return PolicyAjaxLoader(name, db, remote, **options)


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


def probed(session: Any, branch: Any, window: int) -> Any:
    """``branch``, written so a large ``col IN (subquery)`` set is probed by hash.

    "Interactions on customers I own" for a rep with 21,740 customers: read in
    date order, the first page is among the first few thousand interactions, but
    PostgreSQL joins each to its customer by primary key (46,000 lookups, 200 ms
    for page 50). Kept out of the join (``IS TRUE``), the subquery becomes one
    hashed set that the index-only walk probes (20 ms). A small set stays a join:
    its rows are read through their own index and sorted. The line between them
    is where walking window × table / set rows costs about what set-many index
    probes do.
    """
    right = getattr(branch, "right", None)
    if getattr(branch, "operator", None) is not in_op or not isinstance(right, ScalarSelect):
        return branch
    inner = right.element
    table = inner.get_final_froms()[0]
    total = counting.estimated_rows(session, table.name) or 0
    threshold = isqrt(window * total // 20) + 1
    size = session.scalar(select(func.count()).select_from(inner.limit(threshold).subquery()))
    return branch.is_(True) if (size or 0) >= threshold else branch
