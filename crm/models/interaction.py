"""``interactions``: calls, emails, meetings and notes with customers."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.columns import CreatedAt, RowVersion, UpdatedAt
from crm.models.enums import INTERACTION_TYPE, InteractionType

if TYPE_CHECKING:
    from crm.models.customer import Customer
    from crm.models.lead import Lead
    from crm.models.user import User


# Migration 0011: idx_interactions_search indexes this document (global search).
SEARCH_DOCUMENT = (
    "to_tsvector('english'::regconfig, (COALESCE(subject, ''::character varying)::text "
    "|| ' '::text) || COALESCE(description, ''::text))"
)


class Interaction(Model):
    """One contact with a customer, logged by a user."""

    __tablename__ = "interactions"
    __table_args__ = (
        CheckConstraint(
            "duration_minutes IS NULL OR duration_minutes > 0", name="chk_interactions_duration"
        ),
        Index("idx_interactions_customer_id", "customer_id"),
        Index("idx_interactions_search", text(SEARCH_DOCUMENT), postgresql_using="gin"),
        # Migration 0019: the same, with the rep's rule column (a rep's global search).
        Index(
            "idx_interactions_user_search",
            "user_id",
            text(SEARCH_DOCUMENT),
            postgresql_using="gin",
        ),
        Index("idx_interactions_user_id", "user_id"),
        Index("idx_interactions_interaction_date", "interaction_date"),
        # Migration 0009: deep list pages by the default order (index-only).
        # Migration 0016: with the customer, for a big book's date-order walk.
        Index(
            "idx_interactions_interaction_date_id",
            "interaction_date",
            "id",
            postgresql_include=["customer_id"],
        ),
        Index("idx_interactions_type", "type"),
        Index("idx_interactions_lead_id", "lead_id"),
        Index("idx_interactions_customer_date", "customer_id", "interaction_date"),
        # Migration 0016: the interactions a rep logged, newest first.
        Index("idx_interactions_user_date", "user_id", "interaction_date", "id"),
        # Migrations 0007 and 0017: trigrams for ILIKE searches, with the rep's rule column.
        Index(
            "idx_interactions_user_trgm",
            "user_id",
            "subject",
            postgresql_using="gin",
            postgresql_ops={"subject": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[InteractionType] = mapped_column(INTERACTION_TYPE)
    subject: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE", name="fk_interactions_customer")
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL", name="fk_interactions_lead")
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_interactions_user")
    )
    interaction_date: Mapped[datetime | None] = mapped_column(
        server_default=text("CURRENT_TIMESTAMP")
    )
    duration_minutes: Mapped[int | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    follow_up_date: Mapped[date | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]

    customer: Mapped[Customer | None] = relationship(back_populates="interactions")
    lead: Mapped[Lead | None] = relationship(back_populates="interactions")
    user: Mapped[User | None] = relationship(back_populates="interactions")

    def __str__(self) -> str:
        return self.subject or f"{self.type} #{self.id}"
