"""``backup_checks``: the restore drills' results (migration 0033)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model


class BackupCheck(Model):
    """One restore drill: which archive, whether it matched its manifest, what differed."""

    __tablename__ = "backup_checks"
    __table_args__ = (Index("idx_backup_checks_checked_at", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    archive: Mapped[str] = mapped_column(String(500))
    ok: Mapped[bool]
    detail: Mapped[str | None] = mapped_column(Text)
    tables: Mapped[int] = mapped_column(server_default=text("0"))
    total_rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    seconds: Mapped[Decimal] = mapped_column(Numeric(10, 1), server_default=text("0"))
