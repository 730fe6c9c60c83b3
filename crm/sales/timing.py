"""Time in the pipeline (issue 17, part 4): days in each stage, days to win, velocity.

From the histograms the database keeps (migrations 0027, 0029): ``stage_stays``
(completed stays in a stage) and ``won_cycles`` (days from creation to Closed Won)
by owner, currency and source, and ``stage_stays_all`` and ``won_cycles_all`` the
same for every owner. So the owner (a rep's own pipeline), currency and source
filters apply to them; the creation and expected-close ranges do not (the page
says so).
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
from crm.models import stage_stays, stage_stays_all, won_cycles, won_cycles_all


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


@dataclass(frozen=True)
class Of:
    """Whose deals: one owner's (None: everyone's), in one currency and from one source."""

    owner_id: int | None = None
    currency: str | None = None
    source: str | None = None


def _histogram(session: DbSession, tables: tuple[Any, Any], of: Of, key: list[Any]) -> Any:
    """(*key, days, how many) from the owner's table, or every owner's."""
    table = tables[0] if of.owner_id is not None else tables[1]
    count = table.c.stays if "stays" in table.c else table.c.leads
    columns = [table.c[name] for name in key]
    query = select(*columns, table.c.days, func.sum(count)).group_by(*columns, table.c.days)
    for name in ("owner_id", "currency", "source"):
        if (value := getattr(of, name)) is not None and value != "":
            query = query.where(table.c[name] == value)
    return session.execute(query)


def stage_times(session: DbSession, of: Of) -> dict[int, StageTime]:
    """Per stage id: how many completed stays, their median and 75th percentile days."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    tables = (stage_stays, stage_stays_all)
    for stage, days, n in _histogram(session, tables, of, ["stage_id"]):
        if stage is not None and n:
            found[stage].append((days, int(n)))
    return {
        stage: StageTime(sum(n for _d, n in hist), percentile(hist, 0.5), percentile(hist, 0.75))
        for stage, hist in found.items()
    }


def median_days_to_win(session: DbSession, of: Of) -> int | None:
    """The median number of days from a lead's creation to Closed Won."""
    rows = _histogram(session, (won_cycles, won_cycles_all), of, [])
    return percentile([(days, int(n)) for days, n in rows if n], 0.5)


def velocity(
    open_deals: int, win_rate: float | None, won_leads: int, won_amount: Decimal, cycle: int | None
) -> Velocity | None:
    """The velocity, or None when a part of it is unknown (nothing won yet)."""
    if win_rate is None or not won_leads or cycle is None:
        return None
    return Velocity(open_deals, win_rate, won_amount / won_leads, cycle)
