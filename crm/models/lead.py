"""``lead_stages`` and ``leads``: the sales pipeline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.columns import TITLE_DESCRIPTION_DOCUMENT, CreatedAt, RowVersion, UpdatedAt

if TYPE_CHECKING:
    from crm.models.customer import Customer
    from crm.models.interaction import Interaction
    from crm.models.task import Task
    from crm.models.user import User

# What the app offers for a lead's source and currency (the spec's columns are free
# text, default 'USD'): the lead form, the list filters, the funnel and the home page.
LEAD_SOURCES = (
    "Website", "Referral", "Cold call", "Trade show", "Partner", "LinkedIn",
    "Email campaign", "Webinar",
)  # fmt: skip
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF")

# When a lead entered its stage: its last move (migration 0024), or its creation.
IN_STAGE_SINCE = "COALESCE(stage_entered_at, created_at)"

# Stages that end a lead's life; idx_leads_active excludes them (see migrations).
CLOSED_WON = "Closed Won"
CLOSED_LOST = "Closed Lost"
CLOSED_STAGE_NAMES = (CLOSED_WON, CLOSED_LOST)
# The spec's ids for those stages, used until lead_stages says otherwise.
SPEC_CLOSED_STAGE_IDS = (6, 7)


class LeadStage(Model):
    """A step of the pipeline, ordered by ``order_index``."""

    __tablename__ = "lead_stages"
    __table_args__ = (
        CheckConstraint(
            "rotting_days IS NULL OR rotting_days > 0", name="chk_lead_stages_rotting_days"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    order_index: Mapped[int | None] = mapped_column(server_default=text("0"))
    is_active: Mapped[bool | None] = mapped_column(server_default=text("true"))
    # Migration 0025: an open deal in this stage longer than this is stale (NULL: never).
    rotting_days: Mapped[int | None] = mapped_column(info={"label": "Stale after (days)"})
    created_at: Mapped[CreatedAt]
    version: Mapped[RowVersion]

    leads: Mapped[list[Lead]] = relationship(back_populates="stage", passive_deletes=True)

    def __str__(self) -> str:
        return self.name


class Lead(Model):
    """A sales opportunity with a customer."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 100", name="chk_leads_probability"),
        CheckConstraint("amount IS NULL OR amount > 0", name="chk_leads_amount"),
        Index("idx_leads_customer_id", "customer_id"),
        Index("idx_leads_stage_id", "stage_id"),
        Index("idx_leads_owner_id", "owner_id"),
        Index("idx_leads_expected_close_date", "expected_close_date"),
        Index("idx_leads_source", "source"),
        Index("idx_leads_amount", "amount"),
        Index("idx_leads_created_at", "created_at"),
        # Migration 0012: the funnel filtered by creation date reads only this index.
        Index(
            "idx_leads_created_pipeline",
            "created_at",
            postgresql_include=[
                "stage_id",
                "owner_id",
                "currency",
                "source",
                "amount",
                "probability",
                "stages_passed",  # migration 0025
                "previous_stage_id",
            ],
        ),
        # Migration 0009: deep list pages by the default order (index-only).
        Index("idx_leads_created_at_id", "created_at", "id"),
        Index("idx_leads_owner_stage", "owner_id", "stage_id"),
        # Migration 0025: a stage's leads longest in it first, for everyone and per owner.
        Index(
            "idx_leads_stage_since",
            "stage_id",
            text(IN_STAGE_SINCE),
            postgresql_include=[
                "stage_entered_at",
                "created_at",
                "owner_id",
                "currency",
                "source",
                "expected_close_date",
            ],
        ),
        Index(
            "idx_leads_owner_stage_since",
            "owner_id",
            "stage_id",
            text(IN_STAGE_SINCE),
            postgresql_include=[
                "stage_entered_at",
                "created_at",
                "currency",
                "source",
                "expected_close_date",
            ],
        ),
        Index(
            "idx_leads_stage_created",
            "stage_id",
            "created_at",
            "id",
            postgresql_include=["owner_id", "currency", "source", "expected_close_date"],
        ),
        Index(
            "idx_leads_owner_stage_created",
            "owner_id",
            "stage_id",
            "created_at",
            "id",
            postgresql_include=["currency", "source", "expected_close_date"],
        ),
        Index(
            "idx_leads_owner_close",
            "owner_id",
            "expected_close_date",
            postgresql_include=[
                "stage_id",
                "stages_passed",
                "previous_stage_id",
                "currency",
                "source",
                "created_at",
                "amount",
                "probability",
                # Migration 0038: the as-of funnel's moved leads, index-only.
                "stage_entered_at",
                "id",
            ],
        ),
        # Migration 0016: a rep's leads newest first.
        Index("idx_leads_owner_created_at", "owner_id", "created_at", "id"),
        Index("idx_leads_customer_stage", "customer_id", "stage_id"),
        # Migration 0013: the retention purge finds leads closed long ago.
        Index("idx_leads_closed_at", "closed_at", postgresql_where=text("closed_at IS NOT NULL")),
        Index(
            "idx_leads_active",
            "owner_id",
            "stage_id",
            postgresql_where=text(
                "stage_id NOT IN ({})".format(", ".join(map(str, SPEC_CLOSED_STAGE_IDS)))
            ),
        ),
        Index(
            "idx_leads_search",
            text(TITLE_DESCRIPTION_DOCUMENT),
            postgresql_using="gin",
        ),
        # Migration 0019: the same, with the rep's rule column (a rep's global search).
        Index(
            "idx_leads_owner_search",
            "owner_id",
            text(TITLE_DESCRIPTION_DOCUMENT),
            postgresql_using="gin",
        ),
        # Migrations 0007 and 0017: trigrams for ILIKE searches, with the rep's rule column.
        Index(
            "idx_leads_owner_trgm",
            "owner_id",
            "title",
            postgresql_using="gin",
            postgresql_ops={"title": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(15, 2))
    currency: Mapped[str | None] = mapped_column(String(3), server_default=text("'USD'"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE", name="fk_leads_customer")
    )
    stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_stages.id", ondelete="SET NULL", name="fk_leads_stage")
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_leads_owner")
    )
    source: Mapped[str | None] = mapped_column(String(100))
    probability: Mapped[int | None]
    expected_close_date: Mapped[date | None]
    # Migration 0013: when the lead entered Closed Won/Lost (a trigger keeps it).
    closed_at: Mapped[datetime | None] = mapped_column(
        server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    # Migration 0024: the lead's path, kept by a trigger from every stage change (the app
    # never writes them): the stages it left, the last one, and when it entered this one.
    stages_passed: Mapped[list[int]] = mapped_column(
        ARRAY(Integer),
        server_default=text("'{}'::integer[]"),
        server_onupdate=FetchedValue(),
    )
    previous_stage_id: Mapped[int | None] = mapped_column(
        server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    stage_entered_at: Mapped[datetime | None] = mapped_column(
        server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]

    customer: Mapped[Customer | None] = relationship(back_populates="leads")
    stage: Mapped[LeadStage | None] = relationship(back_populates="leads")
    owner: Mapped[User | None] = relationship(back_populates="leads")
    tasks: Mapped[list[Task]] = relationship(back_populates="lead", passive_deletes=True)
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="lead", passive_deletes=True
    )

    def __str__(self) -> str:
        return self.title
