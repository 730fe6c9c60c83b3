"""The sales pipeline: per-stage counts and sums, the funnel built from them (a service).

In one currency, amounts are that currency's: without date filters the numbers
come from ``pipeline_totals``, which the database keeps exact (migrations 0012
and 0021); whole months of a creation range from ``pipeline_stats``; partial
months and an expected-close range from the leads themselves. Across every
currency (the default), every lead is counted and its amount converted to the
base currency at the rate of its creation day (crm/sales/converted.py).
Pure functions turn the rows into a funnel: the active stages in
``order_index`` order with Closed Lost set beside them, how many leads reached
each stage (are in it or any later one), stage-to-stage conversion and the win
rate, won / (won + lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, tuple_

from crm.extensions import DbSession
from crm.models import Customer, Lead, User, pipeline_stats, pipeline_totals
from crm.models.lead import CLOSED_LOST, CLOSED_WON
from crm.sales import converted
from crm.sales.rates import Rates
from crm.sales.rates import load as load_rates
from crm.sales.stages import names as stage_names
from crm.security import policy
from crm.web.ids import row_id

MEASURES = {"count": "Leads", "amount": "Amount", "weighted": "Weighted amount"}
CARDS = 20  # cards per board column at a time: the newest, then 20 more per click


@dataclass(frozen=True)
class Filters:
    """What the funnel is about; a sales rep's owner is always themselves.

    ``currency`` None: every lead, amounts in the base currency; a code: that
    currency's leads and their own amounts.
    """

    currency: str | None = None
    owner_id: int | None = None
    source: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    close_from: date | None = None
    close_to: date | None = None


@dataclass(frozen=True)
class Totals:
    """Leads in one stage: how many, their amount, their weighted amount.

    ``unrated``: how many of the leads have no exchange rate for their date, so
    their amounts are not in ``amount`` (converted totals only).
    """

    leads: int = 0
    amount: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    unrated: int = 0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.leads + other.leads,
            self.amount + other.amount,
            self.weighted + other.weighted,
            self.unrated + other.unrated,
        )

    def measure(self, name: str) -> float:
        """The number a chart plots for ``name`` (count, amount, weighted)."""
        values: dict[str, int | Decimal] = {
            "count": self.leads,
            "amount": self.amount,
            "weighted": self.weighted,
        }
        return float(values[name])


@dataclass(frozen=True)
class Step:
    """One stage of the funnel."""

    stage_id: int
    name: str
    here: Totals  # leads now in this stage
    reached: Totals  # leads in this stage or a later one (Closed Lost aside)
    conversion: float | None  # share of this stage's "reached" that reached the next


@dataclass
class Funnel:
    """The funnel's steps, Closed Lost beside them, and the win rate.

    ``rates``: the rates a converted funnel used and the amounts it could not convert.
    """

    steps: list[Step] = field(default_factory=list)
    lost: Step | None = None
    won: Totals = field(default_factory=Totals)
    rates: Rates | None = None

    @property
    def win_rate(self) -> float | None:
        """Won / (won + lost), by number of leads; None before anything closed."""
        lost = self.lost.here.leads if self.lost else 0
        closed = self.won.leads + lost
        return self.won.leads / closed if closed else None


def lead_conditions(filters: Filters) -> list[Any]:
    """WHERE clauses on leads for ``filters``."""
    conditions = [] if filters.currency is None else [Lead.currency == filters.currency]
    if filters.owner_id is not None:
        conditions.append(Lead.owner_id == filters.owner_id)
    if filters.source:
        conditions.append(Lead.source == filters.source)
    if filters.created_from:
        conditions.append(Lead.created_at >= filters.created_from)
    if filters.created_to:
        conditions.append(Lead.created_at < filters.created_to + timedelta(days=1))
    if filters.close_from:
        conditions.append(Lead.expected_close_date >= filters.close_from)
    if filters.close_to:
        conditions.append(Lead.expected_close_date <= filters.close_to)
    return conditions


@dataclass(frozen=True)
class Card:
    """What a board card shows of a lead."""

    id: int
    title: str
    amount: Decimal | None
    customer: str | None
    created_at: datetime | None

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
    conditions = [Lead.stage_id == stage_id, policy.row_filter(user, Lead)]
    if after is not None:
        conditions.append(tuple_(Lead.created_at, Lead.id) < tuple_(*after))
    rows = session.execute(
        select(Lead.id, Lead.title, Lead.amount, Customer.name, Lead.created_at)
        .outerjoin(Customer, Customer.id == Lead.customer_id)
        .where(*conditions, *lead_conditions(filters))
        .order_by(Lead.created_at.desc(), Lead.id.desc())
        .limit(CARDS + 1)
    )
    return [Card(*row) for row in rows]


def board_cards(
    session: DbSession, user: User, filters: Filters, stage_ids: list[int]
) -> dict[int, list[Card]]:
    """Per stage, its first cards (see column_cards)."""
    return {stage: column_cards(session, user, filters, stage) for stage in stage_ids}


def readable_lead(session: DbSession, user: User, lead_id: str) -> Lead | None:
    """The lead with this id if ``user`` may read it (the row rules), else None."""
    number = row_id(lead_id)
    if number is None:
        return None
    return session.scalar(select(Lead).where(Lead.id == number, policy.row_filter(user, Lead)))


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def split_by_month(
    start: date | None, end: date | None
) -> tuple[tuple[date | None, date | None] | None, list[tuple[date, date]]]:
    """A creation range [start, end) as whole months and the partial-month edges.

    Returns the whole months as (first, stop) bounds (None: open-ended), or None
    when no whole month fits, and the edge ranges to read from the leads.
    """
    first = start if start is None or start.day == 1 else _next_month(start)
    stop = end if end is None or end.day == 1 else _month_start(end)
    if first is not None and stop is not None and first >= stop:
        return None, [(start, end)] if start and end else []
    edges = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if end is not None and stop is not None and stop < end:
        edges.append((stop, end))
    return (first, stop), edges


def _from_leads(session: DbSession, conditions: list[Any]) -> dict[int | None, Totals]:
    statement = (
        select(
            Lead.stage_id,
            func.count(),
            func.coalesce(func.sum(Lead.amount), 0),
            # Summed, then divided once: the same number, and much cheaper per lead.
            func.coalesce(func.sum(Lead.amount * func.coalesce(Lead.probability, 0)), 0) / 100.0,
        )
        .where(*conditions)
        .group_by(Lead.stage_id)
    )
    return _totals(session.execute(statement))


def _from_stats(
    session: DbSession, filters: Filters, months: tuple[date | None, date | None]
) -> dict[int | None, Totals]:
    first, stop = months
    # No creation-date bounds: the month-less totals, a fraction of the rows (0021).
    dated = first is not None or stop is not None
    stats = (pipeline_stats if dated else pipeline_totals).c
    conditions = [stats.currency == filters.currency]
    if filters.owner_id is not None:
        conditions.append(stats.owner_id == filters.owner_id)
    if filters.source:
        conditions.append(stats.source == filters.source)
    if first is not None:
        conditions.append(stats.created_month >= first)
    if stop is not None:
        conditions.append(stats.created_month < stop)
    statement = (
        select(
            stats.stage_id, func.sum(stats.leads), func.sum(stats.amount), func.sum(stats.weighted)
        )
        .where(*conditions)
        .group_by(stats.stage_id)
    )
    return _totals(session.execute(statement))


def _totals(rows: Any) -> dict[int | None, Totals]:
    return {
        stage: Totals(int(leads), Decimal(amount), Decimal(weighted))
        for stage, leads, amount, weighted in rows
        if leads
    }


def stage_totals(session: DbSession, filters: Filters) -> dict[int | None, Totals]:
    """Per stage id, the totals of the leads the filters select.

    Whole creation months come from ``pipeline_stats``; partial months at the ends
    of a creation range, and any expected-close range, from the leads.
    """
    if filters.close_from or filters.close_to:
        return _from_leads(session, lead_conditions(filters))
    end = filters.created_to + timedelta(days=1) if filters.created_to else None
    months, edges = split_by_month(filters.created_from, end)
    totals = _from_stats(session, filters, months) if months else {}
    undated = replace(filters, created_from=None, created_to=None)
    for low, high in edges:
        edge = _from_leads(
            session, [*lead_conditions(undated), Lead.created_at >= low, Lead.created_at < high]
        )
        for stage, value in edge.items():
            totals[stage] = totals.get(stage, Totals()) + value
    return totals


def build_funnel(stages: list[tuple[int, str]], totals: dict[int | None, Totals]) -> Funnel:
    """The funnel from the active stages (in order) and per-stage totals (pure)."""
    funnel = Funnel()
    ordered = [(i, name) for i, name in stages if name != CLOSED_LOST]
    for stage_id, name in stages:
        if name == CLOSED_LOST:
            here = totals.get(stage_id, Totals())
            funnel.lost = Step(stage_id, name, here, here, None)
    reached = Totals()
    cumulative: list[Totals] = []
    for stage_id, _name in reversed(ordered):
        reached = reached + totals.get(stage_id, Totals())
        cumulative.append(reached)
    cumulative.reverse()
    for n, (stage_id, name) in enumerate(ordered):
        after = cumulative[n + 1].leads if n + 1 < len(ordered) else None
        conversion = (
            after / cumulative[n].leads if after is not None and cumulative[n].leads else None
        )
        here = totals.get(stage_id, Totals())
        funnel.steps.append(Step(stage_id, name, here, cumulative[n], conversion))
        if name == CLOSED_WON:
            funnel.won = here
    return funnel


def board_stages(session: DbSession) -> list[tuple[int, str]]:
    """The board's columns, in its order: the funnel's stages, then Closed Lost."""
    active = stage_names(session, active_only=True)
    return [s for s in active if s[1] != CLOSED_LOST] + [s for s in active if s[1] == CLOSED_LOST]


def within_rule(user: User, filters: Filters) -> Filters:
    """``filters`` as ``user`` may see them: a sales rep's pipeline is their own leads."""
    owner = policy.pipeline_owner(user)
    return filters if owner is None else replace(filters, owner_id=owner)


def converted_totals(
    session: DbSession, filters: Filters, rates: Rates
) -> dict[int | None, Totals]:
    """Per stage id, every currency's leads the filters select, amounts in the base currency."""
    if filters.close_from or filters.close_to:
        groups = converted.from_leads(session, lead_conditions(filters))
    else:
        end = filters.created_to + timedelta(days=1) if filters.created_to else None
        months, edges = split_by_month(filters.created_from, end)
        groups = (
            converted.from_aggregates(session, filters.owner_id, filters.source, months)
            if months
            else {}
        )
        undated = replace(filters, created_from=None, created_to=None)
        for low, high in edges:
            edge = [*lead_conditions(undated), Lead.created_at >= low, Lead.created_at < high]
            converted.merge(groups, converted.from_leads(session, edge))
    groups = converted.split_by_day(session, groups, rates, lead_conditions(filters))
    return {
        stage: Totals(leads, amount, weighted, unrated)
        for stage, (leads, amount, weighted, unrated) in converted.convert(groups, rates).items()
    }


def funnel(session: DbSession, user: User, filters: Filters) -> Funnel:
    """The funnel ``user`` may see for ``filters``.

    In one currency: two small statements (stages, totals); converted, one more
    for the rates, and one per period a rate starts inside (rare).
    """
    filters = within_rule(user, filters)
    if filters.currency is None:
        rates = load_rates(session)
        result = build_funnel(
            stage_names(session, active_only=True), converted_totals(session, filters, rates)
        )
        result.rates = rates
        return result
    return build_funnel(stage_names(session, active_only=True), stage_totals(session, filters))
