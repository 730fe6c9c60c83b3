"""The lead stages in pipeline order: the one query behind every list of them."""

from __future__ import annotations

from sqlalchemy import Select, exists, func, or_, select

from crm.extensions import DbSession
from crm.models import Lead, LeadStage, LeadStageHistory

# Pipeline order; the id breaks ties between stages given the same order_index.
ORDER = (LeadStage.order_index, LeadStage.id)


def _in_order(active_only: bool) -> Select[LeadStage]:
    query = select(LeadStage).order_by(*ORDER)
    return query.where(LeadStage.is_active.is_(True)) if active_only else query


def stages(session: DbSession, active_only: bool = False) -> list[LeadStage]:
    """Every stage (or every active one), in pipeline order."""
    return list(session.scalars(_in_order(active_only)))


def names(session: DbSession, active_only: bool = False) -> list[tuple[int, str]]:
    """(id, name) of every stage (or every active one), in pipeline order."""
    query = _in_order(active_only).with_only_columns(LeadStage.id, LeadStage.name)
    return [(stage_id, name) for stage_id, name in session.execute(query)]


def first(session: DbSession) -> LeadStage | None:
    """The stage a new lead starts in: the first in pipeline order."""
    return session.scalar(_in_order(False).limit(1))


def in_use(session: DbSession, stage: LeadStage) -> str | None:
    """Why ``stage`` cannot be deleted (leads are or were in it), or None when it can.

    Deleting it would clear those leads' stage and blank it in their stage history
    (ON DELETE SET NULL): such a stage is deactivated instead.
    """
    leads = session.scalar(select(func.count()).where(Lead.stage_id == stage.id)) or 0
    if leads:
        return f"has {leads:,} leads"
    history = LeadStageHistory
    passed = session.scalar(
        select(
            exists().where(or_(history.to_stage_id == stage.id, history.from_stage_id == stage.id))
        )
    )
    return "is in leads' stage history" if passed else None
