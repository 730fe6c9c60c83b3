"""``audit_logs``: who changed what, when and from where."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model, db
from crm.models.columns import CreatedAt

if TYPE_CHECKING:
    from crm.models.user import User


class AuditLog(Model):
    """One change to one row (or one sign-in event)."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_table_record", "table_name", "record_id"),
        Index("idx_audit_logs_created_at", "created_at"),
        Index("idx_audit_logs_user_id", "user_id"),
        Index("idx_audit_logs_action", "action"),
        # Migration 0010: the browser filtered by user and date range, or by IP.
        Index("idx_audit_logs_user_created", "user_id", "created_at"),
        Index("idx_audit_logs_ip_address", "ip_address"),
        # Migration 0015: newest first, even among a bulk change's tied timestamps.
        Index("idx_audit_logs_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(20))
    old_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new_values: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # The spec gives this key no name; fk_audit_logs_user follows its convention.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_audit_logs_user")
    )
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    user: Mapped[User | None] = relationship(back_populates="audit_logs")


# Migration 0013: transactions of the retention purge, whose deletes the audit
# trigger leaves to one summary row. Only the schema's owner may write it.
retention_runs = Table("retention_runs", db.metadata, Column("xid", BigInteger, primary_key=True))
