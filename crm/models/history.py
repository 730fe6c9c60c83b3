"""``lead_stage_history``: every stage a lead entered, when and by whom (migration 0022).

Written only by the database's triggers on ``leads`` (creation, and every change
of ``stage_id`` by any path); the app reads it. A lead's rows go with the lead.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model


class LeadStageHistory(Model):
    """One move of a lead into a stage.

    A lead's first row is its creation (``from_stage_id`` NULL). A later row with a
    NULL ``from_stage_id`` left no stage, or a stage since deleted; a NULL
    ``to_stage_id``: a stage since deleted, or none (the lead left the pipeline).
    """

    __tablename__ = "lead_stage_history"
    __table_args__ = (
        Index("idx_lead_stage_history_lead", "lead_id", "changed_at", "id"),
        Index("idx_lead_stage_history_changed_at", "changed_at"),
        Index("idx_lead_stage_history_to_stage", "to_stage_id"),
        Index("idx_lead_stage_history_from_stage", "from_stage_id"),
        Index("idx_lead_stage_history_changed_by", "changed_by"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_id: Mapped[int] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE", name="fk_lead_stage_history_lead")
    )
    from_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_stages.id", ondelete="SET NULL", name="fk_lead_stage_history_from")
    )
    to_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("lead_stages.id", ondelete="SET NULL", name="fk_lead_stage_history_to")
    )
    changed_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))
    changed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_lead_stage_history_user")
    )
