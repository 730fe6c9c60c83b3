"""Time in the pipeline (issue 17, part 4): days in each stage, days to win, velocity.

From the histograms the database keeps (migrations 0027, 0029): ``stage_stays``
(completed stays in a stage) and ``won_cycles`` (days from creation to Closed Won)
by owner, currency and source, and ``stage_stays_all`` and ``won_cycles_all`` the
same for every owner. So the owner (a rep's own pipeline), currency and source
filters apply to them. With a creation or an expected-close range, the same
histograms by the lead's creation or expected-close month (migration 0036): the
range's months, whole (the page says which); with both ranges, the creation range's.
Percentiles are nearest-rank: the smallest number of days that at least that share
of the stays took no longer than.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from crm.extensions import DbSession
from crm.models import (
    stage_stays,
    stage_stays_all,
    stage_stays_dated,
    stage_stays_dated_all,
    won_cycles,
    won_cycles_all,
    won_cycles_dated,
    won_cycles_dated_all,
)


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
class Months:
    """Leads created ("created") or expected to close ("close") in [first, stop) months."""

    dated_by: str
    first: date | None
    stop: date | None


@dataclass(frozen=True)
class Of:
    """Whose deals: one owner's (None: everyone's), in one currency, from one source.

    ``months``: only deals created, or expected to close, in those months.
    """

    owner_id: int | None = None
    currency: str | None = None
    source: str | None = None
    months: Months | None = None


def months_of(
    created: tuple[date | None, date | None], close: tuple[date | None, date | None]
) -> Months | None:
    """The whole months of a creation range (or else an expected-close range), if any.

    Each range is (first day, last day); a month counts if the range touches it.
    """
    for dated_by, (first, last) in (("created", created), ("close", close)):
        if first or last:
            stop = (last.replace(day=1) + timedelta(days=32)).replace(day=1) if last else None
            return Months(dated_by, first.replace(day=1) if first else None, stop)
    return None


def scope(months: Months | None, both: bool) -> str:
    """Which deals the days in stage and to win are about, in words ("" for all of them)."""
    if months is None:
        return ""
    verb = "created" if months.dated_by == "created" else "expected to close"
    first, stop = months.first, months.stop
    last = stop - timedelta(days=1) if stop else None
    if first and last:
        span = f"from {first:%B %Y} to {last:%B %Y}"
    else:
        span = f"from {first:%B %Y} on" if first else f"up to {last:%B %Y}"
    note = "; the expected-close range does not apply to them" if both else ""
    return f"{verb} {span} (whole months{note})"


def _histogram(session: DbSession, tables: tuple[Any, ...], of: Of, key: list[Any]) -> Any:
    """(*key, days, how many) from the owner's table, or every owner's, dated or not.

    ``tables``: by owner, every owner's, and the same two by month.
    """
    table = tables[(0 if of.owner_id is not None else 1) + (2 if of.months else 0)]
    count = table.c.stays if "stays" in table.c else table.c.leads
    columns = [table.c[name] for name in key]
    query = select(*columns, table.c.days, func.sum(count)).group_by(*columns, table.c.days)
    for name in ("owner_id", "currency", "source"):
        if (value := getattr(of, name)) is not None and value != "":
            query = query.where(table.c[name] == value)
    if of.months:
        query = query.where(table.c.dated_by == of.months.dated_by)
        if of.months.first is not None:
            query = query.where(table.c.month >= of.months.first)
        if of.months.stop is not None:
            query = query.where(table.c.month < of.months.stop)
    return session.execute(query)


def stage_times(session: DbSession, of: Of) -> dict[int, StageTime]:
    """Per stage id: how many completed stays, their median and 75th percentile days."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    tables = (stage_stays, stage_stays_all, stage_stays_dated, stage_stays_dated_all)
    for stage, days, n in _histogram(session, tables, of, ["stage_id"]):
        if stage is not None and n:
            found[stage].append((days, int(n)))
    return {
        stage: StageTime(sum(n for _d, n in hist), percentile(hist, 0.5), percentile(hist, 0.75))
        for stage, hist in found.items()
    }


def median_days_to_win(session: DbSession, of: Of) -> int | None:
    """The median number of days from a lead's creation to Closed Won."""
    tables = (won_cycles, won_cycles_all, won_cycles_dated, won_cycles_dated_all)
    rows = _histogram(session, tables, of, [])
    return percentile([(days, int(n)) for days, n in rows if n], 0.5)


def velocity(
    open_deals: int, win_rate: float | None, won_leads: int, won_amount: Decimal, cycle: int | None
) -> Velocity | None:
    """The velocity, or None when a part of it is unknown (nothing won yet)."""
    if win_rate is None or not won_leads or cycle is None:
        return None
    return Velocity(open_deals, win_rate, won_amount / won_leads, cycle)
