"""``api_tokens``: personal API tokens (migration 0041); only a digest of each is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model

SCOPES = ("read", "write")


class ApiToken(Model):
    """One person's token for ``/api/v1/``: read or write, until it expires or is revoked."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uk_api_tokens_token_hash"),
        CheckConstraint("scope IN ('read', 'write')", name="chk_api_tokens_scope"),
        CheckConstraint("btrim(name) <> ''", name="chk_api_tokens_name"),
        Index("idx_api_tokens_user", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_api_tokens_user")
    )
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(5))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_api_tokens_revoked_by")
    )
