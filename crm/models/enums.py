"""The PostgreSQL enum types of the spec, as Python enums and column types."""

from __future__ import annotations

import enum

from sqlalchemy.dialects import postgresql


class UserRole(enum.StrEnum):
    """``user_role``; ``support`` is the application's addition (its own migration)."""

    USER = "user"
    MANAGER = "manager"
    ADMIN = "admin"
    SUPPORT = "support"


class TaskStatus(enum.StrEnum):
    """``task_status``."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class InteractionType(enum.StrEnum):
    """``interaction_type``."""

    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"


class LeadStatus(enum.StrEnum):
    """``lead_status``: deprecated by the spec (stages live in ``lead_stages``).

    The type exists in the database because the spec creates it; no column uses it.
    """

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


def _pg_enum(python_enum: type[enum.Enum], name: str) -> postgresql.ENUM:
    """A native PostgreSQL enum storing the members' values; migrations create it."""
    return postgresql.ENUM(
        python_enum,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        create_type=False,
    )


USER_ROLE = _pg_enum(UserRole, "user_role")
TASK_STATUS = _pg_enum(TaskStatus, "task_status")
INTERACTION_TYPE = _pg_enum(InteractionType, "interaction_type")
LEAD_STATUS = _pg_enum(LeadStatus, "lead_status")
