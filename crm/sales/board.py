"""The pipeline board: cards per stage column, newest first, under the row rules.

Stale deals (longer in their stage than its ``rotting_days``) are flagged and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_, union_all

from crm.extensions import DbSession
from crm.models import Customer, Lead, User
from crm.models.lead import CLOSED_LOST
from crm.sales.pipeline import Filters, lead_conditions, within_rule
from crm.sales.stages import names as stage_names
from crm.security import policy
from crm.web.ids import row_id

CARDS = 20  # cards per board column at a time: the newest, then 20 more per click
STALE_CAP = 1_000  # stale deals per column counted exactly up to this


def in_stage_since() -> Any:
    """When a lead entered its stage, as idx_leads_stage_since indexes it (migration 0025)."""
    return func.coalesce(Lead.stage_entered_at, Lead.created_at)


@dataclass(frozen=True)
class Card:
    """What a board card shows of a lead."""

    id: int
    title: str
    amount: Decimal | None
    currency: str | None
    customer: str | None
    created_at: datetime | None
    since: datetime | None  # in its stage since (its last move, or its creation)

    def days_in_stage(self, now: datetime) -> int | None:
        """Whole days the lead has been in its stage at ``now``."""
        return (now - self.since).days if self.since else None

    def is_stale(self, now: datetime, limit: int | None) -> bool:
        """In its stage longer than ``limit`` days: the same rule as stale_counts."""
        return bool(limit and self.since and self.since < now - timedelta(days=limit))

    @property
    def cursor(self) -> str:
        """Where the next cards of its column start (keyset: created_at, id)."""
        stamp = self.created_at.isoformat() if self.created_at else ""
        return f"{stamp}_{self.id}"


def parse_cursor(raw: str) -> tuple[datetime, int] | None:
    """A card cursor from the address, or None when it is not one."""
    stamp, _, number = raw.rpartition("_")
    lead_id = row_id(number)
    try:
        return (datetime.fromisoformat(stamp), lead_id) if lead_id is not None else None
    except ValueError:
        return None


def _column(
    user: User, filters: Filters, stage_id: int, after: tuple[datetime, int] | None = None
) -> Any:
    """The SELECT of one column's next CARDS + 1 cards (its stage id first)."""
    conditions = [Lead.stage_id == stage_id, policy.row_filter(user, Lead)]
    if after is not None:
        conditions.append(tuple_(Lead.created_at, Lead.id) < tuple_(*after))
    return (
        select(
            Lead.stage_id,
            Lead.id,
            Lead.title,
            Lead.amount,
            Lead.currency,
            Customer.name,
            Lead.created_at,
            in_stage_since(),
        )
        .outerjoin(Customer, Customer.id == Lead.customer_id)
        .where(*conditions, *lead_conditions(filters))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(CARDS + 1)
    )


def column_cards(
    session: DbSession,
    user: User,
    filters: Filters,
    stage_id: int,
    after: tuple[datetime, int] | None = None,
) -> list[Card]:
    """The next CARDS + 1 leads of one column, newest first (the extra one: "more?").

    One short index scan per column, under the row rule; ``after`` continues
    from a card's cursor without counting what came before it.
    """
    rows = session.execute(_column(user, filters, stage_id, after))
    return [Card(*row[1:]) for row in rows]


def stale_counts(
    session: DbSession, user: User, filters: Filters, limits: dict[int, int], now: datetime
) -> dict[int, int]:
    """Per stage with a limit (days), its deals in it longer than that, up to STALE_CAP + 1.

    One short index range per stage (idx_leads_stage_since, or the owner's), under
    the row rule and the filters; beyond the cap the page says "more than".
    """
    conditions = [policy.row_filter(user, Lead), *lead_conditions(within_rule(user, filters))]
    if filters.created_from:
        # Implied (a lead enters a stage when or after it is created), and it starts the
        # index range at the creation range instead of at the stage's oldest leads.
        conditions.append(in_stage_since() >= filters.created_from)
    counts = []
    for stage_id, days in limits.items():
        # In the index's order, from the stage's column: an index-only range that stops
        # at the cap (without ORDER BY the planner read the table until it got there).
        capped = (
            select(Lead.stage_id)
            .where(
                Lead.stage_id == stage_id,
                in_stage_since() < now - timedelta(days=days),
                *conditions,
            )
            .order_by(in_stage_since())
            .limit(STALE_CAP + 1)
            .subquery()
        )
        counts.append(select(func.count()).select_from(capped).scalar_subquery())
    if not counts:
        return {}
    # Every stage's count in one statement: one round trip, each its own short range.
    found = session.execute(select(*counts)).one()
    return {stage_id: int(count or 0) for stage_id, count in zip(limits, found, strict=True)}


def board_cards(
    session: DbSession, user: User, filters: Filters, stage_ids: list[int]
) -> dict[int, list[Card]]:
    """Per stage, its first cards (see column_cards), all read in one statement."""
    found: dict[int, list[Card]] = {stage: [] for stage in stage_ids}
    if not found:
        return found
    # One round trip: each column is its own ordered, limited scan inside the UNION ALL;
    # the outer ORDER BY (of at most 21 rows a column) makes each column's order certain.
    both = union_all(*(_column(user, filters, stage) for stage in found)).subquery()
    ordered = select(both).order_by(both.c.stage_id, both.c.created_at.desc(), both.c.id.desc())
    for row in session.execute(ordered):
        found[row[0]].append(Card(*row[1:]))
    return found


def readable_lead(session: DbSession, user: User, lead_id: str) -> Lead | None:
    """The lead with this id if ``user`` may read it (the row rules), else None."""
    number = row_id(lead_id)
    if number is None:
        return None
    return session.scalar(select(Lead).where(Lead.id == number, policy.row_filter(user, Lead)))


def board_stages(session: DbSession) -> list[tuple[int, str]]:
    """The board's columns, in its order: the funnel's stages, then Closed Lost."""
    active = stage_names(session, active_only=True)
    return [s for s in active if s[1] != CLOSED_LOST] + [s for s in active if s[1] == CLOSED_LOST]
