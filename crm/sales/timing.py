"""Time in the pipeline (issue 17, part 4): days in each stage, days to win, velocity.

From the histograms the database keeps by owner (migration 0027): ``stage_stays``
(completed stays in a stage) and ``won_cycles`` (days from creation to Closed Won).
They know the owner and nothing else, so the owner filter (and a rep's own
pipeline) applies to them and the other filters do not; the page says so.
Percentiles are nearest-rank: the smallest number of days that at least that share
of the stays took no longer than.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crm.extensions import DbSession
from crm.models import stage_stays, won_cycles


@dataclass(frozen=True)
class StageTime:
    """How long completed stays in one stage took, in days."""

    stays: int
    median: int | None
    p75: int | None


@dataclass(frozen=True)
class Velocity:
    """Pipeline velocity: what the open pipeline is expected to bring in a day."""

    open_deals: int
    win_rate: float
    average_won: Decimal
    cycle_days: int

    @property
    def per_day(self) -> Decimal:
        """Open deals × win rate × average won deal ÷ median days to win."""
        value = self.open_deals * Decimal(str(self.win_rate)) * self.average_won
        return value / max(self.cycle_days, 1)


def percentile(histogram: list[tuple[int, int]], share: float) -> int | None:
    """The nearest-rank percentile of a histogram of (days, how many); None when empty."""
    total = sum(n for _days, n in histogram)
    if total <= 0:
        return None
    rank, seen = math.ceil(share * total), 0
    for days, n in sorted(histogram):
        seen += n
        if seen >= rank:
            return days
    return None


def _histograms(session: DbSession, table: Any, key: Any, count: Any, owner_id: int | None) -> Any:
    query = select(key, table.c.days, func.sum(count)).group_by(key, table.c.days)
    if owner_id is not None:
        query = query.where(table.c.owner_id == owner_id)
    return session.execute(query)


def stage_times(session: DbSession, owner_id: int | None) -> dict[int, StageTime]:
    """Per stage id: how many completed stays, their median and 75th percentile days."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    table = stage_stays
    for stage, days, n in _histograms(session, table, table.c.stage_id, table.c.stays, owner_id):
        if stage is not None and n:
            found[stage].append((days, int(n)))
    return {
        stage: StageTime(sum(n for _d, n in hist), percentile(hist, 0.5), percentile(hist, 0.75))
        for stage, hist in found.items()
    }


def median_days_to_win(session: DbSession, owner_id: int | None) -> int | None:
    """The median number of days from a lead's creation to Closed Won."""
    query = select(won_cycles.c.days, func.sum(won_cycles.c.leads)).group_by(won_cycles.c.days)
    if owner_id is not None:
        query = query.where(won_cycles.c.owner_id == owner_id)
    return percentile([(days, int(n)) for days, n in session.execute(query) if n], 0.5)


def velocity(
    open_deals: int, win_rate: float | None, won_leads: int, won_amount: Decimal, cycle: int | None
) -> Velocity | None:
    """The velocity, or None when a part of it is unknown (nothing won yet)."""
    if win_rate is None or not won_leads or cycle is None:
        return None
    return Velocity(open_deals, win_rate, won_amount / won_leads, cycle)
