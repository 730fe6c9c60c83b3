"""Task reminders (migration 0034): in-app notifications, and the email digests sent."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model, db

KINDS = ("assigned", "due", "overdue")


class Notification(Model):
    """One thing a person should know: a task assigned to them, due today, gone overdue."""

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("kind IN ('assigned', 'due', 'overdue')", name="chk_notifications_kind"),
        Index("idx_notifications_user", "user_id", "id"),
        Index("idx_notifications_unread", "user_id", postgresql_where=text("read_at IS NULL")),
        Index("idx_notifications_task", "task_id"),
        Index(
            "uk_notifications_reminder",
            "user_id",
            "task_id",
            "kind",
            "day",
            unique=True,
            postgresql_where=text("kind IN ('due', 'overdue')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_notifications_user")
    )
    kind: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE", name="fk_notifications_task")
    )
    day: Mapped[date] = mapped_column(server_default=text("CURRENT_DATE"))
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    read_at: Mapped[datetime | None]


email_digests = Table(
    "email_digests",
    db.metadata,
    Column(
        "user_id",
        Integer,
        ForeignKey("users.id", ondelete="CASCADE", name="fk_email_digests_user"),
        nullable=False,
    ),
    Column("day", Date, nullable=False),
    Column("sent_at", DateTime, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    PrimaryKeyConstraint("user_id", "day"),
)
