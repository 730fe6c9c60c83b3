"""The pipeline as it stood at the end of a past day (issue 17, part 5: ``?as_of=``).

Two ways, both rebuilt from stage history, both ending in the funnel's groups
(crm/sales/converted.py) with the as-of day as every group's date, so amounts
convert at the rates valid that day:

- **by owner, currency and source** (the usual question): the flows the database
  keeps (migration 0028), a month's checkpoint plus the days since. Every lead
  that existed that day counts, in the stage and path it had, with its amount of
  that day, including leads deleted since. At most a month of daily rows.
- **every owner's, with a creation range or an expected-close range** (not both):
  the same flows by month of that date (the range's whole months) and by day (the
  days of its partial months at either end; migration 0035). For a creation range
  the month of the as-of day counts whole when the range runs to it or beyond,
  since no lead created after that day had come in by then.
- **one owner's with a date range, or both ranges**: those dates are not in the
  owner's flows, so the leads there now, at today's amounts:
  the aggregates' sums of the range's leads created by that day, corrected for the
  leads that have moved since (their stage, path and previous stage that day, from
  their history).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, lateral, literal, select, true, union_all
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.exc import SQLAlchemyError

from crm.extensions import DbSession
from crm.models import (
    Lead,
    LeadStageHistory,
    flows_by_date,
    pipeline_checkpoint_months,
    pipeline_checkpoints,
    pipeline_flows,
    pipeline_flows_all,
)
from crm.sales import converted
from crm.sales.converted import Groups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dated:
    """Leads whose date ``by`` (a key of ``flows_by_date``) is in [first, stop) (None: open)."""

    by: str
    first: date | None
    stop: date | None


def _end_of(day: date) -> datetime:
    """The first moment after ``day`` (the database's timestamps are UTC, as the day)."""
    return datetime.combine(day + timedelta(days=1), time.min)


def make_checkpoints(session: DbSession, day: date) -> None:
    """Make the month checkpoints ``day`` needs, if missing, and commit them.

    For the page to call before it reads anything (a cache fill: it changes no
    record): about a second at scale 1 for the first as-of view of a month, then
    nothing. If another session is making them, or the database refuses, the page
    reads the newest there is plus the days since, a little slower.
    """
    try:
        session.execute(select(func.crm_pipeline_checkpoint(day)))
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.warning("as-of checkpoints for %s not made", day, exc_info=True)


def checkpoint(session: DbSession, day: date) -> date | None:
    """The newest month checkpoint there is for ``day`` (a read: nothing made)."""
    months = pipeline_checkpoint_months.c
    return session.execute(
        select(func.max(months.month)).where(months.month <= day.replace(day=1))
    ).scalar()


def flowed(
    session: DbSession,
    day: date,
    owner_id: int | None,
    currency: str | None,
    source: str | None,
    dated: Dated | None = None,
) -> Groups:
    """Leads by path and currency at the end of ``day``: a checkpoint plus the days since.

    ``dated``: only leads with a creation or close date in those whole months or days
    (every owner's only).
    """
    made = checkpoint(session, day)
    keys: tuple[list[Any], list[Any]]
    if dated is None:
        points = pipeline_checkpoints.c
        flows = (pipeline_flows if owner_id is not None else pipeline_flows_all).c
        keys = _keys(flows, owner_id, currency, source), _keys(points, owner_id, currency, source)
    else:
        assert owner_id is None, "the flows by the leads' dates are every owner's"
        flows, points = (table.c for table in flows_by_date[dated.by])
        keys = _dated(flows, currency, source, dated), _dated(points, currency, source, dated)
    parts = [
        select(*_columns(flows)).where(
            flows.flow_day <= day, *([flows.flow_day >= made] if made else []), *keys[0]
        )
    ]
    if made:
        parts.append(select(*_columns(points)).where(points.month == made, *keys[1]))
    both = union_all(*parts).subquery()
    path = [both.c.stage_id, both.c.stages_passed, both.c.previous_stage_id, both.c.currency]
    rows = session.execute(
        select(
            *path,
            literal(day),
            func.sum(both.c.leads),
            func.sum(both.c.amount),
            func.sum(both.c.weighted),
        ).group_by(*path)
    )
    groups: Groups = {}
    converted.add(groups, rows)
    return groups


def _columns(table: Any) -> list[Any]:
    return [
        table.stage_id,
        table.stages_passed,
        table.previous_stage_id,
        table.currency,
        table.leads,
        table.amount,
        table.weighted,
    ]


def _keys(table: Any, owner_id: int | None, currency: str | None, source: str | None) -> list[Any]:
    found = [] if currency is None else [table.currency == currency]
    if owner_id is not None:
        found.append(table.owner_id == owner_id)
    if source:
        found.append(table.source == source)
    return found


def _dated(table: Any, currency: str | None, source: str | None, dated: Dated) -> list[Any]:
    found = _keys(table, None, currency, source)
    if dated.first is not None:
        found.append(table[dated.by] >= dated.first)
    if dated.stop is not None:
        found.append(table[dated.by] < dated.stop)
    return found


def on_day(groups: Groups, day: date) -> Groups:
    """``groups`` with every period set to ``day`` (merged), to convert at its rates."""
    found: Groups = {}
    for (stage, passed, previous, currency, _period), value in groups.items():
        converted.merge(found, {(stage, passed, previous, currency, day): value})
    return found


def _ids(ordered: Any) -> Any:
    """array_agg(``ordered``) as an integer array (it can be indexed)."""
    return func.array_agg(ordered, type_=ARRAY(Integer))


def _then(stop: datetime) -> Any:
    """A lead's stage, path and previous stage before ``stop``, from its history."""
    h = LeadStageHistory
    newest = (h.changed_at.desc(), h.id.desc())
    left = _ids(aggregate_order_by(h.from_stage_id.distinct(), h.from_stage_id))
    return lateral(
        select(
            _ids(aggregate_order_by(h.to_stage_id, *newest))[1].label("stage"),
            _ids(aggregate_order_by(h.from_stage_id, *newest))[1].label("previous"),
            func.coalesce(left.filter(h.from_stage_id.is_not(None)), []).label("passed"),
        )
        .where(h.lead_id == Lead.id, h.changed_at < stop)
        .correlate(Lead)
    )


def rewound(session: DbSession, current: Groups, conditions: list[Any], day: date) -> Groups:
    """``current`` (the leads ``conditions`` select, created by ``day``) as of ``day``.

    Each of them that has moved since is taken out of its path now and put back in
    its path at the end of ``day``.
    """
    stop = _end_of(day)
    then = _then(stop)
    sign = func.generate_series(-1, 1, 2).table_valued("sign").alias("s")
    now = sign.c.sign < 0
    columns = [
        case((now, Lead.stage_id), else_=then.c.stage),
        case((now, Lead.stages_passed), else_=then.c.passed),
        case((now, Lead.previous_stage_id), else_=then.c.previous),
        Lead.currency,
    ]
    signed = sign.c.sign
    rows = session.execute(
        select(
            *columns,
            literal(day),
            func.sum(signed),
            func.coalesce(func.sum(Lead.amount * signed), 0),
            func.coalesce(func.sum(Lead.amount * func.coalesce(Lead.probability, 0) * signed), 0)
            / 100.0,
        )
        .select_from(Lead)
        .join(then, true())
        .join(sign, true())
        .where(*conditions, Lead.created_at < stop, Lead.stage_entered_at >= stop)
        .group_by(*columns)  # one row per path: the leads leaving it and entering it summed
    )
    found = on_day(current, day)
    moved: Groups = {}
    converted.add(moved, rows)
    converted.merge(found, moved)
    return {key: value for key, value in found.items() if any(value)}
