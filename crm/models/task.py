"""``tasks``: to-dos for sales reps, optionally about a customer or lead."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.columns import TITLE_DESCRIPTION_DOCUMENT, CreatedAt, RowVersion, UpdatedAt
from crm.models.enums import TASK_STATUS, TaskStatus

OPEN_TASKS = "status IN ('pending', 'in_progress')"

if TYPE_CHECKING:
    from crm.models.customer import Customer
    from crm.models.lead import Lead
    from crm.models.user import User


class Task(Model):
    """A task owned by ``user`` and possibly assigned to someone else."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("idx_tasks_user_id", "user_id"),
        Index("idx_tasks_status", "status"),
        Index("idx_tasks_due_date", "due_date"),
        # Migration 0009: deep list pages by the default order (index-only).
        Index("idx_tasks_due_date_id", "due_date", "id"),
        Index("idx_tasks_customer_id", "customer_id"),
        Index("idx_tasks_lead_id", "lead_id"),
        Index("idx_tasks_assigned_to", "assigned_to"),
        Index("idx_tasks_priority", "priority"),
        Index("idx_tasks_user_status", "user_id", "status"),
        # Migration 0016: each part of a rep's rule (theirs, assigned) by due date.
        Index("idx_tasks_user_due_date", "user_id", "due_date", "id"),
        Index("idx_tasks_assigned_due_date", "assigned_to", "due_date", "id"),
        # Migration 0013: the retention purge finds tasks completed long ago.
        Index(
            "idx_tasks_completed_at",
            "completed_at",
            postgresql_where=text("completed_at IS NOT NULL"),
        ),
        Index(
            "idx_tasks_pending",
            "user_id",
            "due_date",
            postgresql_where=text("status = 'pending'"),
        ),
        # Migration 0020: the open tasks by due date (the home page's overdue list), all
        # and per part of a rep's rule.
        *(
            Index(name, *columns, "due_date", "id", postgresql_where=text(OPEN_TASKS))
            for name, columns in (
                ("idx_tasks_open_due_date", ()),
                ("idx_tasks_open_user_due_date", ("user_id",)),
                ("idx_tasks_open_assigned_due_date", ("assigned_to",)),
            )
        ),
        Index(
            "idx_tasks_search",
            text(TITLE_DESCRIPTION_DOCUMENT),
            postgresql_using="gin",
        ),
        # Migration 0019: the same, with the rep's rule columns (a rep's global search).
        Index(
            "idx_tasks_people_search",
            "user_id",
            "assigned_to",
            text(TITLE_DESCRIPTION_DOCUMENT),
            postgresql_using="gin",
        ),
        # Migrations 0007 and 0017: trigrams for ILIKE searches, with the rep's rule columns.
        Index(
            "idx_tasks_people_trgm",
            "user_id",
            "assigned_to",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TaskStatus | None] = mapped_column(TASK_STATUS, server_default=text("'pending'"))
    priority: Mapped[str | None] = mapped_column(String(20), server_default=text("'medium'"))
    due_date: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_tasks_user")
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL", name="fk_tasks_customer")
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL", name="fk_tasks_lead")
    )
    assigned_to: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_tasks_assigned")
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]

    user: Mapped[User | None] = relationship(back_populates="tasks", foreign_keys=[user_id])
    assignee: Mapped[User | None] = relationship(
        back_populates="assigned_tasks", foreign_keys=[assigned_to]
    )
    customer: Mapped[Customer | None] = relationship(back_populates="tasks")
    lead: Mapped[Lead | None] = relationship(back_populates="tasks")

    def __str__(self) -> str:
        return self.title
