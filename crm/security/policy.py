"""Who may do what: docs/DESIGN.md's role matrix and the row rules, in one place.

Every view, custom page and service asks this module; none decides on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import ClassVar, Protocol

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from crm.extensions import DbSession
from crm.models import (
    AuditLog,
    Customer,
    ExchangeRate,
    Interaction,
    Lead,
    LeadStage,
    Task,
    User,
    UserRole,
)


class Action(enum.StrEnum):
    """What a person does to a resource."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    REVERT = "revert"


class Resource(enum.StrEnum):
    """Things the matrix speaks of."""

    USERS = "users"
    LEAD_STAGES = "lead_stages"
    EXCHANGE_RATES = "exchange_rates"
    CUSTOMERS = "customers"
    LEADS = "leads"
    TASKS = "tasks"
    INTERACTIONS = "interactions"
    AUDIT = "audit"
    PIPELINE = "pipeline"
    SEARCH = "search"
    PROFILE = "profile"
    JOBS = "jobs"
    API_TOKENS = "api_tokens"
    WEBHOOKS = "webhooks"


A = Action
ADMIN, MANAGER, REP, SUPPORT = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER, UserRole.SUPPORT
WORK = frozenset({A.READ, A.CREATE, A.UPDATE, A.DELETE, A.EXPORT})
READ = frozenset({A.READ})
# CSV export: admins, managers and reps export what they may read; support does not.
READ_EXPORT = frozenset({A.READ, A.EXPORT})

# docs/DESIGN.md "Roles". Users are deactivated, never deleted (their tasks and
# interactions would go with them), so nobody has DELETE on users.
MATRIX: dict[Resource, dict[UserRole, frozenset[Action]]] = {
    Resource.USERS: {
        ADMIN: frozenset({A.READ, A.CREATE, A.UPDATE, A.EXPORT}),
        MANAGER: READ_EXPORT,
        SUPPORT: READ,
    },
    Resource.LEAD_STAGES: {
        ADMIN: WORK,
        MANAGER: READ_EXPORT,
        REP: READ_EXPORT,
        SUPPORT: READ,
    },
    # Admins keep the rates; managers and support read them (the pipeline names them).
    Resource.EXCHANGE_RATES: {ADMIN: WORK, MANAGER: READ_EXPORT, SUPPORT: READ},
    # Sales reps work their own rows but do not delete customers or leads.
    Resource.CUSTOMERS: {
        ADMIN: WORK,
        MANAGER: WORK,
        REP: frozenset({A.READ, A.CREATE, A.UPDATE, A.EXPORT}),
        SUPPORT: READ,
    },
    Resource.LEADS: {
        ADMIN: WORK,
        MANAGER: WORK,
        REP: frozenset({A.READ, A.CREATE, A.UPDATE, A.EXPORT}),
        SUPPORT: READ,
    },
    Resource.TASKS: {ADMIN: WORK, MANAGER: WORK, REP: WORK, SUPPORT: READ},
    Resource.INTERACTIONS: {ADMIN: WORK, MANAGER: WORK, REP: WORK, SUPPORT: READ},
    # Support reads the audit log every day but exports nothing (the CSV export row).
    Resource.AUDIT: {
        ADMIN: frozenset({A.READ, A.REVERT, A.EXPORT}),
        MANAGER: READ_EXPORT,
        SUPPORT: READ,
    },
    Resource.PIPELINE: {ADMIN: READ, MANAGER: READ, REP: READ},
    # Background jobs: admins watch them and retry the failed ones.
    Resource.JOBS: {ADMIN: frozenset({A.READ, A.UPDATE})},
    # Everyone's API tokens (each person manages their own on the profile): admins list
    # and revoke them.
    Resource.API_TOKENS: {ADMIN: frozenset({A.READ, A.UPDATE})},
    # Webhooks send every customer, lead, task and interaction change out: admins only.
    Resource.WEBHOOKS: {ADMIN: frozenset({A.READ, A.CREATE, A.UPDATE, A.DELETE})},
    Resource.SEARCH: {ADMIN: READ, MANAGER: READ, REP: READ, SUPPORT: READ},
    Resource.PROFILE: {
        ADMIN: frozenset({A.READ, A.UPDATE}),
        MANAGER: frozenset({A.READ, A.UPDATE}),
        REP: frozenset({A.READ, A.UPDATE}),
        SUPPORT: frozenset({A.READ, A.UPDATE}),
    },
}

MODEL_RESOURCES: dict[type, Resource] = {
    User: Resource.USERS,
    LeadStage: Resource.LEAD_STAGES,
    ExchangeRate: Resource.EXCHANGE_RATES,
    Customer: Resource.CUSTOMERS,
    Lead: Resource.LEADS,
    Task: Resource.TASKS,
    Interaction: Resource.INTERACTIONS,
    AuditLog: Resource.AUDIT,
}


def allowed(user: User | None, resource: Resource, action: Action = Action.READ) -> bool:
    """Whether the signed-in ``user`` may do ``action`` on ``resource`` at all."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return action in MATRIX[resource].get(user.effective_role, frozenset())


def sees_all_rows(user: User) -> bool:
    """Admins, managers and support read every row; sales reps only their own."""
    return user.effective_role is not UserRole.USER


def row_branches(user: User, model: type) -> list[ColumnElement[bool]]:
    """The row rule for ``model`` as the parts of an OR: a row is readable if any holds.

    Each part has its own index, so a list can read each part in order and merge
    them (crm/admin/fast_list.py) instead of filtering one big scan by the whole OR.
    """
    if sees_all_rows(user):
        return [true()]
    uid = user.id
    if model is Customer:
        return [Customer.owner_id == uid]
    if model is Lead:
        return [Lead.owner_id == uid]
    if model is Task:
        return [Task.user_id == uid, Task.assigned_to == uid]
    if model is Interaction:
        own_customers = select(Customer.id).where(Customer.owner_id == uid)
        return [Interaction.user_id == uid, Interaction.customer_id.in_(own_customers)]
    if model is LeadStage:
        return [true()]
    if model is User:
        return [User.id == uid]  # a rep's user pickers offer only themselves
    return [false()]


def pipeline_owner(user: User) -> int | None:
    """The leads' row rule as an owner, for figures kept per owner (pipeline_totals…).

    None: every owner's leads (admins, managers, support); a sales rep: their own.
    """
    return None if sees_all_rows(user) else user.id


class Panel(enum.StrEnum):
    """Parts of the home page."""

    PIPELINE = "pipeline"  # forecast, win rate, stale deals, overdue tasks
    USER_COUNTS = "user_counts"
    MY_WORK = "my_work"  # tasks due today and overdue, open leads by stage, win rate
    AUDIT = "audit"  # recent audit activity


# docs/DESIGN.md "Roles": what each role needs first thing in the morning.
HOME: dict[UserRole, frozenset[Panel]] = {
    ADMIN: frozenset({Panel.PIPELINE, Panel.USER_COUNTS}),
    MANAGER: frozenset({Panel.PIPELINE}),
    REP: frozenset({Panel.MY_WORK}),
    SUPPORT: frozenset({Panel.AUDIT}),
}


def home_panels(user: User) -> frozenset[Panel]:
    """The parts of the home page ``user`` sees."""
    return HOME.get(user.effective_role, frozenset())


def row_filter(user: User, model: type) -> ColumnElement[bool]:
    """A WHERE clause limiting ``model`` to the rows ``user`` may read."""
    branches = row_branches(user, model)
    return branches[0] if len(branches) == 1 else or_(*branches)


class WithId(Protocol):
    """A model whose rows are named by an integer ``id`` (every model here)."""

    id: ClassVar[InstrumentedAttribute[int]]


def readable_count(
    session: DbSession,
    user: User,
    model: type[WithId],
    ids: Iterable[int],
) -> int:
    """How many of ``ids`` name rows of ``model`` that ``user`` may read."""
    wanted = set(ids)
    if not wanted:
        return 0
    query = select(func.count()).select_from(model).where(model.id.in_(wanted))
    return session.scalar(query.where(row_filter(user, model))) or 0
