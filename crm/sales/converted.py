"""Pipeline sums in every currency, converted to the base currency (issue 17, part 1).

The sums come grouped by (stage, currency, creation month), each month converted
at its rate (crm/sales/rates.py):

- whole months from the aggregates the database keeps: ``pipeline_months`` for
  every owner (about 7,000 rows at scale 1), ``pipeline_stats`` for one owner
  (a range of its unique index);
- partial months at the ends of a creation range from ``pipeline_days`` (every
  owner's) or the leads (one owner's, through ``idx_leads_owner_created_at``);
- an expected-close range from ``pipeline_closing`` (every owner's, whole creation
  months), or ``pipeline_closing_sources`` with a source (0037); a creation range's
  partial months with it from ``pipeline_closing_days`` (0040); one owner's from the
  leads;
- a month in which one of its currency's rates starts (not on the 1st) from the
  leads grouped by day, so each day converts at its own rate.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, Date, Integer, and_, cast, func, literal, or_, select

from crm.extensions import DbSession
from crm.models import (
    Lead,
    pipeline_closing,
    pipeline_closing_days,
    pipeline_closing_sources,
    pipeline_days,
    pipeline_months,
    pipeline_stats,
)
from crm.sales.rates import Rates

# A group of leads: their stage, the stages they passed, the stage they left for it
# (crm/sales/pipeline.py's PathKey), their currency and the first day of the period.
GroupKey = tuple[int | None, tuple[int, ...], int | None, str, date]
# -> (leads, amount, weighted)
Groups = dict[GroupKey, tuple[int, Decimal, Decimal]]
PathTotals = dict[tuple[int | None, tuple[int, ...], int | None], tuple[int, Decimal, Decimal, int]]


def add(groups: Groups, rows: Any) -> None:
    """Add query ``rows`` (path, currency, period, sums) into ``groups``; all-zero ones skipped.

    A row of no leads may still carry amounts: a correction (crm/sales/asof.py) of one
    lead leaving a path and another entering it.
    """
    merge(
        groups,
        {
            (stage, tuple(passed or ()), previous, currency, day): (
                int(leads),
                Decimal(amount),
                Decimal(weighted),
            )
            for stage, passed, previous, currency, day, leads, amount, weighted in rows
            if leads or amount or weighted
        },
    )


def merge(groups: Groups, more: Groups) -> None:
    """Add ``more``'s sums into ``groups``."""
    for key, (leads, amount, weighted) in more.items():
        n, a, w = groups.get(key, (0, Decimal(0), Decimal(0)))
        groups[key] = (n + leads, a + amount, w + weighted)


def _path(columns: Any, paths: bool) -> tuple[list[Any], list[Any]]:
    """The path's columns to select and to group by.

    Without ``paths``, the stage alone: the board shows leads by stage (half the rows).
    """
    if paths:
        found = [columns.stage_id, columns.stages_passed, columns.previous_stage_id]
        return found, found
    nothing = [literal(None, ARRAY(Integer)), literal(None, Integer)]
    return [columns.stage_id, *nothing], [columns.stage_id]


def lead_sums() -> list[Any]:
    """count, amount and weighted amount of the selected leads."""
    return [
        func.count(),
        func.coalesce(func.sum(Lead.amount), 0),
        func.coalesce(func.sum(Lead.amount * func.coalesce(Lead.probability, 0)), 0) / 100.0,
    ]


def from_leads(
    session: DbSession, conditions: list[Any], by_day: bool = False, paths: bool = True
) -> Groups:
    """Leads matching ``conditions`` grouped by stage, currency and creation month (or day)."""
    unit = "day" if by_day else "month"
    period = cast(func.date_trunc(unit, Lead.created_at), Date)
    groups: Groups = {}
    add(
        groups,
        session.execute(
            select(*_path(Lead, paths)[0], Lead.currency, period, *lead_sums())
            .where(*conditions)
            .group_by(*_path(Lead, paths)[1], Lead.currency, period)
        ),
    )
    return groups


def _summed(
    session: DbSession, columns: Any, month: Any, conditions: list[Any], paths: bool
) -> Groups:
    """An aggregate table's sums by path, currency and ``month``, where ``conditions``."""
    chosen, grouped = _path(columns, paths)
    groups: Groups = {}
    add(
        groups,
        session.execute(
            select(
                *chosen,
                columns.currency,
                month,
                func.sum(columns.leads),
                func.sum(columns.amount),
                func.sum(columns.weighted),
            )
            .where(*conditions)
            .group_by(*grouped, columns.currency, month)
        ),
    )
    return groups


def _between(column: Any, first: date | None, stop: date | None) -> list[Any]:
    """``first <= column < stop``, either end open when None."""
    found = [] if first is None else [column >= first]
    return found if stop is None else [*found, column < stop]


def from_aggregates(
    session: DbSession,
    owner_id: int | None,
    source: str | None,
    months: tuple[date | None, date | None],
    currency: str | None = None,
    paths: bool = True,
) -> Groups:
    """Whole creation months from the aggregates: every owner's, or one owner's."""
    stats = (pipeline_stats if owner_id is not None else pipeline_months).c
    conditions = [] if currency is None else [stats.currency == currency]
    if owner_id is not None:
        conditions.append(stats.owner_id == owner_id)
    if source:
        conditions.append(stats.source == source)
    conditions += _between(stats.created_month, *months)
    return _summed(session, stats, stats.created_month, conditions, paths)


def from_days(
    session: DbSession,
    source: str | None,
    currency: str | None,
    low: date,
    high: date,
    paths: bool = True,
) -> Groups:
    """Every owner's leads created in [low, high), by creation month, from ``pipeline_days``."""
    days = pipeline_days.c
    month = cast(func.date_trunc("month", days.created_day), Date)
    conditions = _between(days.created_day, low, high)
    if source:
        conditions.append(days.source == source)
    if currency is not None:
        conditions.append(days.currency == currency)
    return _summed(session, days, month, conditions, paths)


def from_closing(
    session: DbSession,
    currency: str | None,
    close: tuple[date | None, date | None],
    months: tuple[date | None, date | None],
    paths: bool = True,
    source: str | None = None,
) -> Groups:
    """Every owner's leads by expected-close day range and whole creation months."""
    closing = (pipeline_closing_sources if source else pipeline_closing).c
    conditions = _due(closing, currency, source, close)
    conditions += _between(closing.created_month, *months)
    return _summed(session, closing, closing.created_month, conditions, paths)


def _due(
    closing: Any, currency: str | None, source: str | None, close: tuple[date | None, date | None]
) -> list[Any]:
    """A closing table's rows in ``currency`` and from ``source`` (when given), due in ``close``."""
    conditions = [] if currency is None else [closing.currency == currency]
    if source:
        conditions.append(closing.source == source)
    first, last = close
    last_stop = last + timedelta(days=1) if last is not None else None  # close_to counts
    return conditions + _between(closing.close_day, first, last_stop)


def from_closing_days(
    session: DbSession,
    currency: str | None,
    close: tuple[date | None, date | None],
    edges: list[tuple[date, date]],
    paths: bool = True,
    source: str | None = None,
) -> Groups:
    """Every owner's leads due in the ``close`` days and created in the ``edges``, by month.

    ``edges``: [low, high) creation ranges (a range's partial months). From
    ``pipeline_closing_days``, the creation days listed one by one, so even without a
    skip scan (PostgreSQL before 18) the index is searched once per day for its close
    range, not read for every close day of those creation days.
    """
    closing = pipeline_closing_days.c
    days = [low + timedelta(days=n) for low, high in edges for n in range((high - low).days)]
    conditions = [closing.created_day.in_(days), *_due(closing, currency, source, close)]
    month = cast(func.date_trunc("month", closing.created_day), Date)
    return _summed(session, closing, month, conditions, paths)


def closing(
    session: DbSession,
    currency: str | None,
    source: str | None,
    close: tuple[date | None, date | None],
    created: tuple[tuple[date | None, date | None] | None, list[tuple[date, date]]],
    paths: bool = True,
) -> Groups:
    """Every owner's leads in the ``close`` range and the creation range ``created``.

    ``created``: its whole months (None: none) and partial-month edges, as
    crm/sales/pipeline.py's ``split_by_month`` gives them: the months by close day
    (``from_closing``), the edges by creation day too (``from_closing_days``).
    """
    months, edges = created
    found = from_closing(session, currency, close, months, paths, source) if months else {}
    if edges:
        merge(found, from_closing_days(session, currency, close, edges, paths, source))
    return found


def split_by_day(
    session: DbSession, groups: Groups, rates: Rates, conditions: list[Any], paths: bool = True
) -> Groups:
    """``groups`` with each month a rate starts inside replaced by its leads, by day.

    ``conditions`` select the same leads as ``groups`` (the filters, with any
    creation range); only the split months' leads are read.
    """
    splits = rates.split_months()
    hit = sorted({(key[3], key[4].replace(day=1)) for key in groups if key[4]} & splits)
    if not hit:
        return groups
    kept = {
        key: value
        for key, value in groups.items()
        if not key[4] or (key[3], key[4].replace(day=1)) not in hit
    }
    months = [
        and_(
            Lead.currency == currency,
            Lead.created_at >= month,
            Lead.created_at < (month + timedelta(days=32)).replace(day=1),
        )
        for currency, month in hit
    ]
    by_day = from_leads(session, [*conditions, or_(*months)], by_day=True, paths=paths)
    for key, value in by_day.items():
        kept[key] = value
    return kept


def convert(groups: Groups, rates: Rates | None) -> PathTotals:
    """Per path: leads, amount and weighted amount in the base currency, unrated leads.

    A group with no rate for its date adds its leads to the count (and to the
    unrated ones), its amounts to nothing, and is recorded in ``rates.unrated``.
    Without ``rates`` (one currency's groups), the sums as they are.
    """
    totals: dict[Any, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0), 0])
    for (stage, passed, previous, currency, day), (leads, amount, weighted) in groups.items():
        total = totals[(stage, passed, previous)]
        total[0] += leads
        factor = Decimal(1) if rates is None else rates.factor(currency, day, amount, leads)
        if factor is None:
            total[3] += leads
            continue
        total[1] += amount * factor
        total[2] += weighted * factor
    return {path: (n, a, w, u) for path, (n, a, w, u) in totals.items()}
