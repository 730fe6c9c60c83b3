"""Model views for setup and compliance: lead stages, users, the audit log."""

from __future__ import annotations

from typing import Any

from wtforms import Form, PasswordField
from wtforms.validators import EqualTo, Length, Optional, ValidationError

from crm import passwords
from crm.admin.base import PolicyModelView
from crm.models import AuditLog, LeadStage, User
from crm.policy import Resource


class LeadStageView(PolicyModelView):
    resource = Resource.LEAD_STAGES
    column_list = ("order_index", "name", "description", "is_active")
    column_labels = {"order_index": "Order", "is_active": "Active"}
    column_default_sort = "order_index"
    column_sortable_list = ("order_index", "name")
    column_details_list = ("order_index", "name", "description", "is_active", "created_at")
    column_export_list = column_details_list
    form_columns = ("name", "description", "order_index", "is_active")

    def __init__(self) -> None:
        super().__init__(
            LeadStage, "Lead stages", endpoint="lead_stages", url="lead-stages", category="Setup"
        )


class UserView(PolicyModelView):
    """Admins create users, change roles, deactivate and reset passwords.

    The password hash is never shown; a new password is typed twice. The last
    active admin cannot be demoted or deactivated (a database trigger refuses).
    """

    resource = Resource.USERS
    column_list = ("name", "email", "role", "is_active", "last_login", "created_at")
    column_labels = {"is_active": "Active", "last_login": "Last sign-in"}
    column_searchable_list = ("name", "email")
    column_filters = ("role", "is_active", "last_login", "created_at")
    column_default_sort = ("created_at", True)
    column_sortable_list = ("name", "email", "role", "last_login", "created_at")
    column_details_list = (
        "name",
        "email",
        "role",
        "is_active",
        "last_login",
        "created_at",
        "updated_at",
    )
    column_export_list = column_details_list
    form_columns = ("name", "email", "role", "is_active", "new_password", "confirm_password")
    form_extra_fields = {
        "new_password": PasswordField(
            "New password",
            validators=[Optional(), Length(min=passwords.MIN_LENGTH)],
            description="At least 8 characters. Leave empty to keep the current password.",
        ),
        "confirm_password": PasswordField(
            "Repeat new password",
            validators=[EqualTo("new_password", message="The two passwords differ.")],
        ),
    }

    def __init__(self) -> None:
        super().__init__(User, "Users", endpoint="users", url="users", category="Setup")

    def on_model_change(self, form: Form, model: User, is_created: bool) -> None:
        if model.email:
            model.email = model.email.strip().lower()
        new = form.new_password.data or ""
        if is_created and not new:
            raise ValidationError("Give the new user a password.")
        if new:
            try:
                passwords.validate(new)
            except passwords.PasswordError as exc:
                raise ValidationError(str(exc)) from None
            model.password_hash = passwords.hash_password(new)
        super().on_model_change(form, model, is_created)

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        return self.get_url(".details_view", id=model.id)


class AuditLogView(PolicyModelView):
    """Read-only history of changes (the browser with diffs and revert is issue 5)."""

    resource = Resource.AUDIT
    column_list = ("created_at", "table_name", "record_id", "action", "user", "ip_address")
    column_labels = {"created_at": "When", "table_name": "Table", "record_id": "Record"}
    column_filters = ("table_name", "record_id", "action", "user.name", "created_at")
    column_default_sort = ("created_at", True)
    column_sortable_list = ("created_at",)
    column_details_list = (
        "created_at", "table_name", "record_id", "action", "user", "ip_address",
        "user_agent", "old_values", "new_values",
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(
            AuditLog, "Audit log", endpoint="audit", url="audit", category="Compliance"
        )
