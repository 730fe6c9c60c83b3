"""``customers``: the companies and people a sales team works with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.columns import CreatedAt, RowVersion, UpdatedAt

if TYPE_CHECKING:
    from crm.models.interaction import Interaction
    from crm.models.lead import Lead
    from crm.models.task import Task
    from crm.models.user import User

# The spec's example migration (chk_customers_industry) allows exactly these.
INDUSTRIES = (
    "Technology",
    "Healthcare",
    "Finance",
    "Retail",
    "Manufacturing",
    "Education",
    "Real Estate",
    "Consulting",
    "Other",
)
# The statuses the app offers (the spec's column is free text, default 'active'); forms,
# filters and the import share them.
CUSTOMER_STATUSES = ("active", "inactive", "prospect")
# chk_customers_email, verbatim from the spec.
EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
# idx_customers_search (the fuller of the spec's two definitions):
#   to_tsvector('english', name || ' ' || COALESCE(company, '') || ' ' || COALESCE(email, ''))
# written as PostgreSQL prints it back (pretty form, as SQLAlchemy reflects it), so
# autogenerate sees the index unchanged.
# The phone number's digits, last first ("+1 (555) 010-0100" -> "00101055551").
PHONE_DIGITS_REVERSED = "reverse(regexp_replace(phone::text, '[^0-9]'::text, ''::text, 'g'::text))"

SEARCH_DOCUMENT = (
    "to_tsvector('english'::regconfig, (((name::text || ' '::text) || "
    "COALESCE(company, ''::character varying)::text) || ' '::text) || "
    "COALESCE(email, ''::character varying)::text)"
)


class Customer(Model):
    """A customer account, owned by one sales rep."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("name", "company", name="uk_customers_name_company"),
        CheckConstraint(f"email IS NULL OR email ~* '{EMAIL_PATTERN}'", name="chk_customers_email"),
        CheckConstraint(
            "industry IS NULL OR industry IN ({})".format(", ".join(f"'{i}'" for i in INDUSTRIES)),
            name="chk_customers_industry",
        ),
        Index("idx_customers_owner_id", "owner_id"),
        Index("idx_customers_status", "status"),
        Index("idx_customers_industry", "industry"),
        Index("idx_customers_created_at", "created_at"),
        # Migration 0009: deep list pages by the default order (index-only).
        Index("idx_customers_created_at_id", "created_at", "id"),
        Index("idx_customers_company", "company"),
        Index("idx_customers_owner_status", "owner_id", "status"),
        # Migration 0016: a rep's customers newest first (crm/security/policy.py row_branches).
        Index("idx_customers_owner_created_at", "owner_id", "created_at", "id"),
        Index(
            "idx_customers_active",
            "owner_id",
            "status",
            postgresql_where=text("status = 'active'"),
        ),
        Index("idx_customers_search", text(SEARCH_DOCUMENT), postgresql_using="gin"),
        # Migration 0019: the same, with the rep's rule column (a rep's global search).
        Index(
            "idx_customers_owner_search",
            "owner_id",
            text(SEARCH_DOCUMENT),
            postgresql_using="gin",
        ),
        # Migration 0011: a customer found by phone number, whatever its punctuation.
        Index(
            "idx_customers_phone_digits",
            literal_column(PHONE_DIGITS_REVERSED).label("digits"),
            postgresql_ops={"digits": "text_pattern_ops"},
        ),
        # Migrations 0007 and 0017: trigrams for ILIKE searches, with the rep's rule column.
        Index(
            "idx_customers_owner_trgm",
            "owner_id",
            "name",
            "company",
            "email",
            postgresql_using="gin",
            postgresql_ops={n: "gin_trgm_ops" for n in ("name", "company", "email")},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    company: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_customers_owner")
    )
    status: Mapped[str | None] = mapped_column(String(50), server_default=text("'active'"))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]

    owner: Mapped[User | None] = relationship(back_populates="customers")
    leads: Mapped[list[Lead]] = relationship(
        back_populates="customer", cascade="all, delete", passive_deletes=True
    )
    tasks: Mapped[list[Task]] = relationship(back_populates="customer", passive_deletes=True)
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="customer", cascade="all, delete", passive_deletes=True
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name
