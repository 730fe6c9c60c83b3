"""``csv_uploads``: a CSV file between its upload and its import (migration 0014).

Kept in PostgreSQL, not on a worker's disk, so the mapping step may land on any
worker of any machine. Only its uploader reads it; it goes when imported, and
uploads older than a day go when anyone uploads again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.columns import CreatedAt


class CsvUpload(Model):
    """One uploaded file, decoded, with the mapping last chosen for it."""

    __tablename__ = "csv_uploads"
    __table_args__ = (Index("idx_csv_uploads_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_csv_uploads_user")
    )
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[CreatedAt]
