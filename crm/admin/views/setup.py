"""Model views for setup: lead stages, users and exchange rates."""

from __future__ import annotations

import contextlib
import re
from datetime import date
from typing import Any

from flask import flash, request
from flask_admin.actions import action
from sqlalchemy import select
from wtforms import PasswordField
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from crm.admin import bulk, filters
from crm.admin import validators as v
from crm.admin.base import PolicyModelView
from crm.extensions import db
from crm.models import ExchangeRate, LeadStage, User
from crm.sales import stages
from crm.sales.rates import base_currency
from crm.sales.stages import stages as stages_in_order
from crm.security import account, passwords
from crm.security.policy import Resource


class LeadStageView(PolicyModelView):
    resource = Resource.LEAD_STAGES
    column_list = ("order_index", "name", "description", "rotting_days", "is_active")
    column_labels = {
        "order_index": "Order",
        "is_active": "Active",
        "rotting_days": "Stale after (days)",
    }
    column_default_sort = "order_index"
    column_sortable_list = ("order_index", "name")
    column_details_list = (
        "order_index", "name", "description", "rotting_days", "is_active", "created_at",
    )  # fmt: skip
    column_export_list = column_details_list
    form_columns = ("name", "description", "order_index", "rotting_days", "is_active")
    form_args = {
        "rotting_days": {
            "validators": [Optional(), NumberRange(min=1, message="At least one day, or empty.")],
            "description": "An open deal in this stage longer than this is flagged as stale on "
            "the board. Empty: never.",
        }
    }

    def delete_model(self, model: LeadStage) -> bool:
        """Delete a stage no lead is or ever was in; deactivate one that leads were in.

        Deleting it would clear those leads' stage and blank it in their stage
        history (ON DELETE SET NULL).
        """
        why = stages.in_use(db.session, model)
        if why is None:
            return bool(super().delete_model(model))
        model.is_active = False
        db.session.commit()
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
    # One address (sign-in and the reminder emails go to it), spaces around it dropped.
    form_args = {
        "email": {
            "validators": [DataRequired(), v.customer_email],
            "filters": [lambda value: value.strip() if isinstance(value, str) else value],
        }
    }
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

    @action("end_sessions", "End sessions")
    def action_end_sessions(self, ids: Any) -> Any:
        def end(row_ids: list[int], _chosen: str | None) -> str:
            ended = sum(account.end_sessions(user_id) for user_id in row_ids)
            return f"{ended} sessions ended; those users sign in again on their next request."

        return bulk.confirm_or_apply(
            self,
            ids,
            name="end_sessions",
            title="End sessions",
            consequence="Every browser these users are signed in on is signed out.",
            apply=end,
        )

    @action("reset_two_factor", "Reset two-factor")
    def action_reset_two_factor(self, ids: Any) -> Any:
        def reset(row_ids: list[int], _chosen: str | None) -> str:
            done = sum(account.reset_two_factor(user_id) for user_id in row_ids)
            return (
                f"Two-factor reset for {done} users: they sign in with their password and set "
                "it up again (if their role requires it, at once)."
            )

        return bulk.confirm_or_apply(
            self,
            ids,
            name="reset_two_factor",
            title="Reset two-factor",
            consequence=(
                "Their authenticator and recovery codes stop working and their sessions end. "
                "Do this for someone who lost their phone and their recovery codes."
            ),
            apply=reset,
        )

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


class ExchangeRateView(PolicyModelView):
    """Admins keep the rates that convert amounts to the base currency (BASE_CURRENCY).

    A rate holds from its date until the currency's next one; the pipeline pages
    convert each amount at the rate of its lead's creation day.
    """

    resource = Resource.EXCHANGE_RATES
    column_list = ("currency", "valid_from", "rate", "updated_at")
    column_labels = {"valid_from": "Valid from", "updated_at": "Last changed"}
    column_filters = ("currency", "valid_from")
    column_default_sort = [("currency", False), ("valid_from", True)]
    column_sortable_list = ("currency", "valid_from", "rate", "updated_at")
    column_details_list = ("currency", "valid_from", "rate", "created_at", "updated_at")
    column_export_list = column_details_list
    form_columns = ("currency", "rate", "valid_from")
    form_args = {
        "currency": {"validators": [DataRequired(), v.currency_code]},
        "rate": {"validators": [InputRequired(), v.positive_rate], "places": None},
        "valid_from": {"validators": [InputRequired()]},  # a bad date: its own message
    }

    def __init__(self) -> None:
        super().__init__(
            ExchangeRate,
            "Exchange rates",
            endpoint="exchange_rates",
            url="exchange-rates",
            category="Setup",
        )

    def _describe(self, form: Any) -> Any:
        base = base_currency()
        form.rate.description = (
            f"What 1 unit of the currency is worth in {base}, the base currency."
        )
        form.valid_from.description = "From this day until the currency's next rate."
        return form

    def create_form(self, obj: Any = None) -> Any:
        """The form, filled from the address when a page links here for a missing rate."""
        form = self._describe(super().create_form(obj))
        if request.method == "GET":
            currency = request.args.get("currency", "").strip().upper()
            if re.fullmatch(r"[A-Z]{3}", currency):
                form.currency.data = currency
            valid_from = request.args.get("valid_from", "")
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", valid_from):
                with contextlib.suppress(ValueError):  # 2026-02-31: leave it empty
                    form.valid_from.data = date.fromisoformat(valid_from)
        return form

    def edit_form(self, obj: Any = None) -> Any:
        return self._describe(super().edit_form(obj))

    def on_model_change(self, form: Any, model: ExchangeRate, is_created: bool) -> None:
        base = base_currency()
        if model.currency == base:
            raise ValidationError(
                f"{base} is the base currency: its rate is always 1. Pick another currency."
            )
        with db.session.no_autoflush:  # the new row itself is not the clash
            clash = db.session.scalar(
                select(ExchangeRate.id).where(
                    ExchangeRate.currency == model.currency,
                    ExchangeRate.valid_from == model.valid_from,
                    ExchangeRate.id != (model.id or 0),
                )
            )
        if clash is not None:
            raise ValidationError(
                f"There is already a {model.currency} rate from {model.valid_from:%Y-%m-%d}: "
                "edit that one, or pick another day."
            )
        super().on_model_change(form, model, is_created)
