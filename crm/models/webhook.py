"""``webhooks`` and ``webhook_deliveries`` (migration 0042): events sent to other systems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model

KINDS = {"customers": "customer", "leads": "lead", "tasks": "task", "interactions": "interaction"}
EVENTS = (
    *(f"{kind}.{what}" for kind in KINDS.values() for what in ("created", "updated", "deleted")),
    "lead.stage_changed",
)
STATUSES = ("pending", "sending", "delivered", "failed")


class Webhook(Model):
    """A URL subscribed to events; deliveries are signed with its secret."""

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint("url ~ '^https?://'", name="chk_webhooks_url"),
        CheckConstraint(
            "cardinality(events) > 0 AND events <@ ARRAY[{}]::VARCHAR(40)[]".format(
                ", ".join(f"'{e}'" for e in EVENTS)
            ),
            name="chk_webhooks_events",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not ``url`` in Python: Flask-Admin's forms keep their return address under that name.
    target_url: Mapped[str] = mapped_column("url", String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    secret: Mapped[str] = mapped_column(Text)  # encrypted (crm/webhooks/signing.py)
    description: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_webhooks_created_by")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    updated_at: Mapped[datetime] = mapped_column(
        server_default=text("CURRENT_TIMESTAMP"), server_onupdate=FetchedValue()
    )
    version: Mapped[int] = mapped_column(server_default=text("1"), server_onupdate=FetchedValue())

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="webhook", passive_deletes=True
    )

    def __str__(self) -> str:
        return self.target_url


class WebhookDelivery(Model):
    """One event for one webhook: sent, retried with backoff, or given up on."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'delivered', 'failed')",
            name="chk_webhook_deliveries_status",
        ),
        Index(
            "idx_webhook_deliveries_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("status IN ('pending', 'sending')"),
        ),
        Index("idx_webhook_deliveries_webhook", "webhook_id", "id"),
        Index("idx_webhook_deliveries_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE", name="fk_webhook_deliveries_webhook")
    )
    event: Mapped[str] = mapped_column(String(40))
    table_name: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[int]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(server_default=text("0"))
    response_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    delivered_at: Mapped[datetime | None]

    webhook: Mapped[Webhook] = relationship(back_populates="deliveries")

    def __str__(self) -> str:
        return f"{self.event} #{self.record_id}"
