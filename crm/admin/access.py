"""Who may use a model view and which rows it reads: the role matrix and row rules."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import abort, request
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.model.fields import AjaxSelectField
from flask_login import current_user

from crm.extensions import db
from crm.security import policy
from crm.security.policy import Action, Resource
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
NOT_AVAILABLE = "Pick one from the list: that record is not available to you."
# Bulk actions and the permission each needs (any other action needs UPDATE).
BULK_ACTIONS = {"delete": Action.DELETE}
# Bulk actions that hand rows to someone else: not for sales reps.
REASSIGNING = {"reassign"}


class PolicyAjaxLoader(QueryAjaxModelLoader):
    """A related-row picker that offers only rows the user may read."""

    def get_query(self) -> Any:
        return super().get_query().filter(policy.row_filter(current_user, self.model))

    def get_one(self, pk: Any) -> Any:
        """The picked row, or None when it is malformed, missing or not the user's to read."""
        if row_id(pk) is None:
            return None
        return self.get_query().filter(self.model.id == int(pk)).one_or_none()


class AccessRules(ModelView):
    """Every path asks crm/security/policy.py before showing or changing a row.

    A view the role may not use: 403. A row the user may not read: 404, on details,
    edit, delete, bulk actions and related-row pickers alike.
    """

    resource: ClassVar[Resource]

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
    def can_create(self) -> bool:
        return self.allows(Action.CREATE)

    @property
    def can_edit(self) -> bool:
        return self.allows(Action.UPDATE)

    @property
    def can_delete(self) -> bool:
        return self.allows(Action.DELETE)

    @property
    def can_export(self) -> bool:
        return self.allows(Action.EXPORT)

    def is_action_allowed(self, name: str) -> bool:
        if name in REASSIGNING and not policy.sees_all_rows(current_user):
            return False
        return self.allows(BULK_ACTIONS.get(name, Action.UPDATE))

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
        return bool(valid)

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

    def _create_ajax_loader(self, name: str, options: dict[str, Any]) -> QueryAjaxModelLoader:
        remote = getattr(self.model, name).property.mapper.class_
        # `db`, not `db.session`: Flask-Admin resolves the session at query time.
        return PolicyAjaxLoader(name, db, remote, **options)
