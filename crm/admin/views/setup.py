"""Model views for setup: lead stages and users."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_admin.actions import action
from sqlalchemy import exists, func, or_, select
from wtforms import PasswordField
from wtforms.validators import EqualTo, Length, Optional, ValidationError

from crm.admin import filters
from crm.admin.base import PolicyModelView
from crm.extensions import db
from crm.models import Lead, LeadStage, LeadStageHistory, User
from crm.sales.stages import stages as stages_in_order
from crm.security import passwords
from crm.security.policy import Resource


class LeadStageView(PolicyModelView):
    resource = Resource.LEAD_STAGES
    column_list = ("order_index", "name", "description", "is_active")
    column_labels = {"order_index": "Order", "is_active": "Active"}
    column_default_sort = "order_index"
    column_sortable_list = ("order_index", "name")
    column_details_list = ("order_index", "name", "description", "is_active", "created_at")
    column_export_list = column_details_list
    form_columns = ("name", "description", "order_index", "is_active")

    def delete_model(self, model: LeadStage) -> bool:
        """Delete a stage no lead is or ever was in; deactivate one that leads were in.

        Deleting it would clear those leads' stage and blank it in their stage
        history (ON DELETE SET NULL).
        """
        in_use = db.session.scalar(select(func.count()).where(Lead.stage_id == model.id))
        passed = db.session.scalar(
            select(
                exists().where(
                    or_(
                        LeadStageHistory.to_stage_id == model.id,
                        LeadStageHistory.from_stage_id == model.id,
                    )
                )
            )
        )
        if not in_use and not passed:
            return bool(super().delete_model(model))
        model.is_active = False
        db.session.commit()
        why = f"has {in_use:,} leads" if in_use else "is in leads' stage history"
        flash(
            f"Stage \u201c{model.name}\u201d {why}, so it was deactivated rather than "
            "deleted: those leads keep it, and it is no longer offered.",
            "warning",
        )
        return False

    @action("move_up", "Move up")
    def action_move_up(self, ids: Any) -> None:
        self._move(ids, -1)

    @action("move_down", "Move down")
    def action_move_down(self, ids: Any) -> None:
        self._move(ids, +1)

    def _move(self, ids: Any, step: int) -> None:
        """Swap each selected stage with its neighbour, then number them 1, 2, 3."""
        stages = stages_in_order(db.session)
        chosen = {int(i) for i in ids}
        positions = range(len(stages)) if step < 0 else range(len(stages) - 1, -1, -1)
        for pos in positions:
            other = pos + step
            if (
                stages[pos].id in chosen
                and 0 <= other < len(stages)
                and stages[other].id not in chosen
            ):
                stages[pos], stages[other] = stages[other], stages[pos]
        for number, stage in enumerate(stages, start=1):
            if stage.order_index != number:
                stage.order_index = number
        db.session.commit()
        flash("Stage order saved.", "success")

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
    column_filters = (
        filters.enum(User.role, "Role"),  # an unknown role: a message, not a failed cast
        "is_active",
        "last_login",
        "created_at",
    )
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

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
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
