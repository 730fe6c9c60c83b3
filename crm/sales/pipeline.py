"""The sales pipeline: per-stage counts and sums, the funnel built from them (a service).

The numbers are sums by path (crm/sales/paths.py), currency and creation month:
whole months from the aggregates the database keeps exact (``pipeline_months``
for every owner, ``pipeline_stats`` for one; migrations 0012, 0023, 0024),
partial months from ``pipeline_days`` (or one owner's leads), an expected-close
range from ``pipeline_closing`` (by source: ``pipeline_closing_sources``; with a
creation range's partial months, ``pipeline_closing_days``; one owner's: the leads;
migrations 0026, 0037, 0040). In one
currency, amounts are that currency's; across every currency (the default),
every lead is counted and its amount converted to the base currency at the rate
of its creation day (crm/sales/converted.py). Pure functions turn them into a
funnel: the active stages in ``order_index`` order with Closed Lost set beside
them, how many leads reached each stage (were ever in it or a later one),
stage-to-stage conversion, where deals were lost, and the win rate, won / (won +
lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from crm.extensions import DbSession
from crm.models import Lead, LeadStage, User
from crm.models.lead import CLOSED_LOST, CLOSED_STAGE_NAMES, CLOSED_WON
from crm.sales import asof, converted
from crm.sales.cohorts import Cohort, cohorts
from crm.sales.paths import PathKey, furthest, positions
from crm.sales.rates import Rates
from crm.sales.rates import load as load_rates
from crm.sales.stages import stages as stages_in_order
from crm.security import policy

MEASURES = {"count": "Leads", "amount": "Amount", "weighted": "Weighted amount"}


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
    as_of: date | None = None  # the funnel as it stood at the end of that day (crm/sales/asof.py)

    @property
    def dated(self) -> bool:
        """Whether a creation or expected-close range is asked for."""
        return any((self.created_from, self.created_to, self.close_from, self.close_to))

    @property
    def both_ranges(self) -> bool:
        """Whether a creation range and an expected-close range are both asked for."""
        created = self.created_from or self.created_to
        return bool(created and (self.close_from or self.close_to))

    @property
    def rewinds(self) -> bool:
        """Whether the as-of funnel is the leads there now, rewound, not the day's flows.

        One owner's with a date range, or both ranges (crm/sales/asof.py).
        """
        return self.dated and (self.owner_id is not None or self.both_ranges)


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
    reached: Totals  # leads ever in this stage or a later one (Closed Lost aside)
    conversion: float | None  # share of this stage's "reached" that reached the next
    lost_here: Totals = field(default_factory=Totals)  # Closed Lost leads lost from here


@dataclass
class Funnel:
    """The funnel's steps, Closed Lost beside them, and the win rate.

    ``rates``: the rates a converted funnel used and the amounts it could not convert;
    ``cohorts``: the newest creation months, and how far their leads went.
    """

    steps: list[Step] = field(default_factory=list)
    lost: Step | None = None
    won: Totals = field(default_factory=Totals)
    rates: Rates | None = None
    cohorts: list[Cohort] = field(default_factory=list)
    limits: dict[int, int] = field(default_factory=dict)  # open stage id -> rotting days

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


def by_stage(totals: dict[PathKey, Totals]) -> dict[int | None, Totals]:
    """Per stage id, the totals of the leads in it now, whatever their paths."""
    result: dict[int | None, Totals] = {}
    for (stage, _passed, _previous), value in totals.items():
        result[stage] = result.get(stage, Totals()) + value
    return result


def groups(session: DbSession, filters: Filters, paths: bool = True) -> converted.Groups:
    """The leads the filters select, by path, currency and creation month.

    Whole creation months come from the aggregates (every owner's, or one
    owner's); partial months at the ends of a creation range from ``pipeline_days``
    (every owner's) or the owner's leads; an expected-close range from
    ``pipeline_closing`` (every owner's, whole months; by source: 0037) and
    ``pipeline_closing_days`` (the partial months: 0040), or one owner's leads.
    """
    end = filters.created_to + timedelta(days=1) if filters.created_to else None
    months, edges = split_by_month(filters.created_from, end)
    if filters.close_from or filters.close_to:
        if filters.owner_id is not None:
            return converted.from_leads(session, lead_conditions(filters), paths=paths)
        close = (filters.close_from, filters.close_to)
        return converted.closing(
            session, filters.currency, filters.source, close, (months, edges), paths
        )
    found = (
        converted.from_aggregates(
            session, filters.owner_id, filters.source, months, filters.currency, paths
        )
        if months
        else {}
    )
    undated = replace(filters, created_from=None, created_to=None)
    for low, high in edges:
        if filters.owner_id is None:  # every owner's: a few thousand rows by day
            edge = converted.from_days(session, filters.source, filters.currency, low, high, paths)
        else:
            conditions = [*lead_conditions(undated), Lead.created_at >= low, Lead.created_at < high]
            edge = converted.from_leads(session, conditions, paths=paths)
        converted.merge(found, edge)
    return found


def stage_totals(
    session: DbSession,
    filters: Filters,
    rates: Rates | None = None,
    found: Any = None,
    paths: bool = True,
) -> dict[PathKey, Totals]:
    """Per path, the totals of the leads the filters select.

    With ``rates`` (every currency), amounts converted to the base currency;
    without, summed as they are (one currency's). ``found``: ``groups()`` already read.
    """
    found = groups(session, filters, paths) if found is None else found
    if rates is not None:
        conditions = lead_conditions(filters)
        found = converted.split_by_day(session, found, rates, conditions, paths)
    totals = converted.convert(found, rates)
    return {
        path: Totals(leads, amount, weighted, unrated)
        for path, (leads, amount, weighted, unrated) in totals.items()
    }


def build_funnel(
    stages: list[tuple[int, str]],
    totals: dict[PathKey, Totals],
    order: list[tuple[int, str]] | None = None,
) -> Funnel:
    """The funnel from the active stages (in order) and totals per path (pure).

    A lead reached a stage if it was ever in it or a later one (``order``: every
    stage in pipeline order, inactive ones too, so a path through one counts);
    conversion is the share of a stage's reached leads that reached the next. A
    Closed Lost lead counts for the stages it passed, and is "lost here" at the
    stage it left for Closed Lost.
    """
    funnel = Funnel()
    ordered = [(i, name) for i, name in stages if name != CLOSED_LOST]
    position = positions(order or stages)
    here = by_stage(totals)
    reached = dict.fromkeys((i for i, _ in ordered), Totals())
    lost_from: dict[int | None, Totals] = {}
    lost_ids = {i for i, name in (order or stages) if name == CLOSED_LOST}
    for path, value in totals.items():
        far = furthest(path, position)
        for stage_id, _name in ordered:
            if position[stage_id] <= far:
                reached[stage_id] = reached[stage_id] + value
        if path[0] in lost_ids:
            lost_from[path[2]] = lost_from.get(path[2], Totals()) + value
    for stage_id, name in stages:
        if name == CLOSED_LOST:
            lost = here.get(stage_id, Totals())
            funnel.lost = Step(stage_id, name, lost, lost, None)
    for n, (stage_id, name) in enumerate(ordered):
        after = reached[ordered[n + 1][0]].leads if n + 1 < len(ordered) else None
        base = reached[stage_id].leads
        conversion = after / base if after is not None and base else None
        step = Step(
            stage_id,
            name,
            here.get(stage_id, Totals()),
            reached[stage_id],
            conversion,
            lost_from.get(stage_id, Totals()),
        )
        funnel.steps.append(step)
        if name == CLOSED_WON:
            funnel.won = step.here
    return funnel


def stale_limit(stage: LeadStage) -> int | None:
    """Days an open deal may sit in ``stage`` before it is stale (None: no limit).

    A closed or inactive stage has none, whatever its ``rotting_days`` says.
    """
    if not stage.is_active or stage.name in CLOSED_STAGE_NAMES:
        return None
    return stage.rotting_days or None


def within_rule(user: User, filters: Filters) -> Filters:
    """``filters`` as ``user`` may see them: a sales rep's pipeline is their own leads."""
    owner = policy.pipeline_owner(user)
    return filters if owner is None else replace(filters, owner_id=owner)


def funnel(session: DbSession, user: User, filters: Filters, for_board: bool = False) -> Funnel:
    """The funnel ``user`` may see for ``filters``, and its cohorts.

    ``for_board``: only who is in each stage now, without paths or cohorts. Three
    small statements (stages, rates, sums by path and month), and one per period a
    rate starts inside (rare).
    """
    filters = within_rule(user, filters)
    if filters.as_of is not None and not for_board:
        return funnel_as_of(session, filters, filters.as_of)
    every = stages_in_order(session)  # one statement: the order, and which are active
    order = [(stage.id, stage.name) for stage in every]
    active = [(stage.id, stage.name) for stage in every if stage.is_active]
    rates = load_rates(session) if filters.currency is None else None
    paths = not for_board  # the board shows who is where now: no paths, no cohorts
    found = groups(session, filters, paths)
    totals = stage_totals(session, filters, rates, found, paths)
    result = build_funnel(active, totals, order)
    result.rates = rates
    result.cohorts = cohorts(found, active, order) if paths else []
    result.limits = {stage.id: limit for stage in every if (limit := stale_limit(stage))}
    return result


def funnel_as_of(session: DbSession, filters: Filters, day: date) -> Funnel:
    """The funnel at the end of ``day`` (``filters`` already within the user's rule).

    Amounts convert at the rates valid that day; no cohorts, no stale limits (those
    are today's). See crm/sales/asof.py for where the numbers come from.
    """
    every = stages_in_order(session)
    order = [(stage.id, stage.name) for stage in every]
    active = [(stage.id, stage.name) for stage in every if stage.is_active]
    rates = load_rates(session) if filters.currency is None else None
    if filters.created_from and filters.created_from > day:
        found: converted.Groups = {}  # nothing created in the range had been created yet
    elif not filters.dated:
        found = asof.flowed(session, day, filters.owner_id, filters.currency, filters.source)
    elif not filters.rewinds:
        found = _by_date(session, filters, day)  # every owner's, one range: flows by its dates
    else:
        made = min(filters.created_to or day, day)
        found = groups(session, replace(filters, created_to=made, as_of=None))
        found = asof.rewound(session, found, lead_conditions(filters), day)
    totals = {
        path: Totals(leads, amount, weighted, unrated)
        for path, (leads, amount, weighted, unrated) in converted.convert(found, rates).items()
    }
    result = build_funnel(active, totals, order)
    result.rates = rates
    return result


def _by_date(session: DbSession, filters: Filters, day: date) -> converted.Groups:
    """Every owner's leads in the creation or the expected-close range, as of ``day``.

    The range's whole months from the flows by month of that date, the days of its
    partial months at either end from the flows by day. A creation range's month of
    ``day`` counts whole when the range runs to it: no lead created later had come in.
    """
    if filters.created_from or filters.created_to:
        made = min(filters.created_to or day, day)
        end = _next_month(day) if made == day else made + timedelta(days=1)
        months, edges = split_by_month(filters.created_from, end)
        by = "created"
    else:
        close_end = filters.close_to + timedelta(days=1) if filters.close_to else None
        months, edges = split_by_month(filters.close_from, close_end)
        by = "close"
    parts = [asof.Dated(f"{by}_month", *months)] if months else []
    parts += [asof.Dated(f"{by}_day", low, high) for low, high in edges]
    found: converted.Groups = {}
    for part in parts:
        converted.merge(
            found, asof.flowed(session, day, None, filters.currency, filters.source, part)
        )
    return found
