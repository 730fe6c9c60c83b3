"""``users``: accounts that sign in to the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, FetchedValue, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.columns import CreatedAt, RowVersion, UpdatedAt
from crm.models.enums import USER_ROLE, UserRole

if TYPE_CHECKING:
    from crm.models.audit import AuditLog
    from crm.models.customer import Customer
    from crm.models.interaction import Interaction
    from crm.models.lead import Lead
    from crm.models.task import Task


class User(Model):
    """A person who signs in: admin, manager, sales rep (``user``) or support."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email", name="uk_users_email"),
        Index("idx_users_email", "email"),
        Index("idx_users_role", "role"),
        Index("idx_users_active", "is_active"),
        Index("idx_users_created_at", "created_at"),
        # Migration 0007: trigram indexes for ILIKE searches.
        Index(
            "idx_users_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
        Index(
            "idx_users_email_trgm",
            "email",
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole | None] = mapped_column(USER_ROLE, server_default=text("'user'"))
    is_active: Mapped[bool | None] = mapped_column(server_default=text("true"))
    last_login: Mapped[datetime | None]
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    version: Mapped[RowVersion]
    # Sign-in security (migration 0006).
    failed_login_count: Mapped[int] = mapped_column(server_default=text("0"))
    lockout_count: Mapped[int] = mapped_column(server_default=text("0"))
    locked_until: Mapped[datetime | None]
    session_token: Mapped[str] = mapped_column(
        String(64),
        server_default=text("replace((gen_random_uuid())::text, '-'::text, ''::text)"),
        server_onupdate=FetchedValue(),
    )
    # Two-factor sign-in (migration 0031): the secret encrypted by crm/security/totp.py;
    # when it was turned on (NULL: off); the step of the last code accepted (no replay).
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Task reminders by email, a daily digest (migration 0034); off on the profile.
    email_reminders: Mapped[bool] = mapped_column(server_default=text("true"))

    customers: Mapped[list[Customer]] = relationship(back_populates="owner", passive_deletes=True)
    leads: Mapped[list[Lead]] = relationship(back_populates="owner", passive_deletes=True)
    tasks: Mapped[list[Task]] = relationship(
        back_populates="user",
        foreign_keys="Task.user_id",
        cascade="all, delete",
        passive_deletes=True,
    )
    assigned_tasks: Mapped[list[Task]] = relationship(
        back_populates="assignee", foreign_keys="Task.assigned_to", passive_deletes=True
    )
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="user", cascade="all, delete", passive_deletes=True
    )
    audit_logs: Mapped[list[AuditLog]] = relationship(back_populates="user", passive_deletes=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    # Flask-Login's user interface. `is_active` is the spec's column; NULL (only
    # possible through raw SQL) counts as inactive, so sign-in fails closed.
    @property
    def is_authenticated(self) -> bool:
        """Flask-Login: a loaded user is a signed-in user."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Flask-Login: never anonymous."""
        return False

    @property
    def may_sign_in(self) -> bool:
        """Active accounts only."""
        return self.is_active is True

    # Not a column: the signed-in request's ``user_sessions`` key (crm/security/sessions.py).
    session_key = ""

    def get_id(self) -> str:
        """What the cookie stores: the session row's id and secret."""
        return self.session_key

    @property
    def two_factor(self) -> bool:
        """Whether signing in asks for a two-factor code after the password."""
        return self.totp_enabled_at is not None and self.totp_secret is not None

    @property
    def effective_role(self) -> UserRole:
        """The role, with the spec's nullable column read as its default, ``user``."""
        return self.role or UserRole.USER
