"""The kinds of record the API serves: schemas, filters, search and the rules of each.

Filters are the list pages' (crm/admin/views/), one query argument each:
``?status=active&owner_id=3&created_from=2026-01-01T00:00:00Z``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate
from sqlalchemy import ColumnElement

from crm.api import schemas as s
from crm.api.fields import UtcDateTime, amount_bound, choice, row_ref, text
from crm.api.records import Filter, Refused, Served
from crm.extensions import db
from crm.models import (
    CUSTOMER_STATUSES,
    INDUSTRIES,
    AuditLog,
    Customer,
    Interaction,
    InteractionType,
    Lead,
    LeadStage,
    Task,
    TaskStatus,
    User,
    UserRole,
)
from crm.sales import stages
from crm.search.kinds import KINDS
from crm.security import passwords
from crm.security.policy import Resource

SEARCH = {kind.key: kind for kind in KINDS}


def equals(column: Any, argument: fields.Field[Any]) -> tuple[fields.Field[Any], Filter]:
    """``?name=value``: rows whose column is the value."""
    return argument, lambda value: column == value


def by_id(column: Any) -> tuple[fields.Field[Any], Filter]:
    """``?owner_id=3``: rows that refer to that row."""
    return equals(column, row_ref(strict=False))


def dates(column: Any, name: str) -> dict[str, tuple[fields.Field[Any], Filter]]:
    """``?<name>_from=…&<name>_to=…``: rows whose moment falls in the range (both ends in)."""

    def since(value: Any) -> ColumnElement[bool]:
        return column >= value  # type: ignore[no-any-return]

    def until(value: Any) -> ColumnElement[bool]:
        return column <= value  # type: ignore[no-any-return]

    return {f"{name}_from": (UtcDateTime(), since), f"{name}_to": (UtcDateTime(), until)}


def days(column: Any, name: str) -> dict[str, tuple[fields.Field[Any], Filter]]:
    """The same as ``dates`` for a date column."""
    return {
        f"{name}_from": (fields.Date(), lambda value: column >= value),
        f"{name}_to": (fields.Date(), lambda value: column <= value),
    }


def _enum(values: type[Any], message: str) -> fields.Field[Any]:
    return choice(tuple(member.value for member in values), message)


def _strict_bool() -> fields.Field[Any]:
    return fields.Boolean(truthy={"true", "1"}, falsy={"false", "0"})


def _lead_stage(row: Lead, data: dict[str, Any], is_new: bool) -> None:
    """A new lead starts in the first stage, as on the page and in an import."""
    if is_new and data.get("stage_id") is None:
        first = stages.first(db.session)
        data["stage_id"] = first.id if first is not None else None


def _user_password(row: User, data: dict[str, Any], is_new: bool) -> None:
    """A new user needs a password; any password must pass the policy, and is hashed."""
    new = data.pop("password", None) or ""
    if is_new and not new:
        raise Refused({"password": ["Give the new user a password."]})
    if new:
        try:
            passwords.validate(new)
        except passwords.PasswordError as exc:
            raise Refused({"password": [str(exc)]}) from None
        data["password_hash"] = passwords.hash_password(new)


def _stage_kept(stage: LeadStage) -> str | None:
    why = stages.in_use(db.session, stage)
    if why is None:
        return None
    return f"This stage {why}: set is_active to false instead, so those leads keep it."


CUSTOMERS = Served(
    "customers",
    "Customers: a sales rep's token reaches only theirs.",
    Customer,
    Resource.CUSTOMERS,
    s.CustomerOut,
    s.CustomerIn,
    filters={
        "status": equals(Customer.status, choice(CUSTOMER_STATUSES, "Pick a status.")),
        "industry": equals(Customer.industry, choice(INDUSTRIES, "Pick an industry.")),
        "owner_id": by_id(Customer.owner_id),
        **dates(Customer.created_at, "created"),
    },
    search=SEARCH["customers"],
    owner="owner_id",
    references={"owner_id": User},
)

LEADS = Served(
    "leads",
    "Leads: a sales rep's token reaches only theirs.",
    Lead,
    Resource.LEADS,
    s.LeadOut,
    s.LeadIn,
    filters={
        "stage_id": by_id(Lead.stage_id),
        "source": equals(Lead.source, text(100)),
        "currency": equals(Lead.currency, text(3)),
        "owner_id": by_id(Lead.owner_id),
        "customer_id": by_id(Lead.customer_id),
        "amount_min": (amount_bound(metadata=s.AMOUNT), lambda value: Lead.amount >= value),
        "amount_max": (amount_bound(metadata=s.AMOUNT), lambda value: Lead.amount <= value),
        **days(Lead.expected_close_date, "expected_close"),
        **dates(Lead.created_at, "created"),
    },
    search=SEARCH["leads"],
    owner="owner_id",
    references={"owner_id": User, "customer_id": Customer, "stage_id": LeadStage},
    prepare=_lead_stage,
)

TASKS = Served(
    "tasks",
    "Tasks: a sales rep's token reaches theirs and those assigned to them.",
    Task,
    Resource.TASKS,
    s.TaskOut,
    s.TaskIn,
    filters={
        "status": equals(Task.status, _enum(TaskStatus, "Pick a status.")),
        "priority": equals(Task.priority, choice(s.PRIORITIES, "Pick a priority.")),
        "user_id": by_id(Task.user_id),
        "assigned_to": by_id(Task.assigned_to),
        "customer_id": by_id(Task.customer_id),
        "lead_id": by_id(Task.lead_id),
        **dates(Task.due_date, "due"),
    },
    search=SEARCH["tasks"],
    owner="user_id",
    references={"user_id": User, "assigned_to": User, "customer_id": Customer, "lead_id": Lead},
)

INTERACTIONS = Served(
    "interactions",
    "Interactions: a sales rep's token reaches those they logged or on their customers.",
    Interaction,
    Resource.INTERACTIONS,
    s.InteractionOut,
    s.InteractionIn,
    filters={
        "type": equals(Interaction.type, _enum(InteractionType, "Pick a type.")),
        "user_id": by_id(Interaction.user_id),
        "customer_id": by_id(Interaction.customer_id),
        "lead_id": by_id(Interaction.lead_id),
        **dates(Interaction.interaction_date, "date"),
    },
    search=SEARCH["interactions"],
    owner="user_id",
    references={"user_id": User, "customer_id": Customer, "lead_id": Lead},
)

LEAD_STAGES = Served(
    "lead_stages",
    "The pipeline's stages (admins change them).",
    LeadStage,
    Resource.LEAD_STAGES,
    s.StageOut,
    s.StageIn,
    filters={"is_active": equals(LeadStage.is_active, _strict_bool())},
    ascending=True,
    keep=_stage_kept,
)

USERS = Served(
    "users",
    "People who sign in (admins create and change them; nobody deletes one).",
    User,
    Resource.USERS,
    s.UserOut,
    s.UserIn,
    filters={
        "role": equals(User.role, _enum(UserRole, "Pick a role.")),
        "is_active": equals(User.is_active, _strict_bool()),
    },
    deletes=False,
    ascending=True,
    prepare=_user_password,
)

AUDIT = Served(
    "audit_logs",
    "The audit trail, newest first: who changed what, when and from where (read only).",
    AuditLog,
    Resource.AUDIT,
    s.AuditOut,
    filters={
        "table": equals(AuditLog.table_name, text(100)),
        "record_id": equals(
            AuditLog.record_id,
            fields.Integer(validate=validate.Range(min=0, max=2**31 - 1)),
        ),
        "user_id": by_id(AuditLog.user_id),
        "action": equals(AuditLog.action, text(20)),
        **dates(AuditLog.created_at, "created"),
    },
)

SERVED = (CUSTOMERS, LEADS, TASKS, INTERACTIONS, LEAD_STAGES, USERS, AUDIT)
