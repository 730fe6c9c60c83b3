"""What the home page shows, by role (a service: session in, numbers out).

Every query is bounded at scale: sums come from the aggregates the database
keeps (``pipeline_totals``, ``forecast_stats``, ``forecast_months``), lists are the first few rows
through an index, and counts are capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, cast, exists, func, not_, or_, select, text
from sqlalchemy.orm import joinedload

from crm.extensions import DbSession
from crm.models import (
    AuditLog,
    Interaction,
    Lead,
    LeadStage,
    Task,
    User,
    UserRole,
    forecast_months,
    forecast_stats,
    pipeline_totals,
)
from crm.models.lead import CLOSED_LOST, CLOSED_STAGE_NAMES, CLOSED_WON
from crm.models.task import OPEN_TASKS
from crm.sales.converted import lead_sums
from crm.sales.rates import Rates
from crm.sales.rates import load as load_rates
from crm.security import policy

LISTED = 10  # rows in each list on the home page
CAP = 1_000  # counts beyond this say "more than"
STALE_DAYS = 30
# Open tasks, written as migration 0020's partial indexes' own predicate, in the SQL
# text: as bound parameters, a prepared statement's generic plan (psycopg prepares a
# statement after five runs) cannot prove the predicate, and walks every task in
# due-date order instead (2.2 s at scale 1).
OPEN_TASK = text(f"tasks.{OPEN_TASKS}")


@dataclass(frozen=True)
class Month:
    """Open pipeline expected to close in one month."""

    month: date
    amount: Decimal
    weighted: Decimal


def _closed_stages() -> Any:
    """The Closed Won / Lost stage ids, as a subquery (asked inside each statement)."""
    return select(LeadStage.id).where(LeadStage.name.in_(CLOSED_STAGE_NAMES))


def _forecast_rows(
    session: DbSession, owner_id: int | None, currency: str | None, start: date, end: date
) -> Any:
    """(close month, currency, creation month, amount, weighted) of the open pipeline.

    One owner's from ``forecast_stats`` (a range of its unique index); every
    owner's from ``forecast_months`` (the same without the owner).
    """
    table = forecast_months if owner_id is None else forecast_stats
    stats = table.c
    conditions = [
        stats.close_month >= start,
        stats.close_month < end,
        or_(stats.stage_id.is_(None), stats.stage_id.not_in(_closed_stages())),
    ]
    if currency is not None:
        conditions.append(stats.currency == currency)
    if owner_id is not None:
        conditions.append(stats.owner_id == owner_id)
    return session.execute(
        select(
            stats.close_month,
            stats.currency,
            stats.created_month,
            func.sum(stats.leads),
            func.sum(stats.amount),
            func.sum(stats.weighted),
        )
        .where(*conditions)
        .group_by(stats.close_month, stats.currency, stats.created_month)
    ).all()


def _split_rows(
    session: DbSession, owner_id: int | None, months: list[tuple[str, date]], start: date, end: date
) -> Any:
    """The same rows for the open leads of ``months`` (currency, creation month), by day."""
    created_day = cast(func.date_trunc("day", Lead.created_at), Date)
    close_month = cast(func.date_trunc("month", Lead.expected_close_date), Date)
    conditions = [
        Lead.expected_close_date >= start,
        Lead.expected_close_date < end,
        or_(Lead.stage_id.is_(None), Lead.stage_id.not_in(_closed_stages())),
        or_(
            *(
                and_(
                    Lead.currency == c,
                    Lead.created_at >= m,
                    Lead.created_at < (m + timedelta(days=32)).replace(day=1),
                )
                for c, m in months
            )
        ),
    ]
    if owner_id is not None:
        conditions.append(Lead.owner_id == owner_id)
    return session.execute(
        select(
            close_month,
            Lead.currency,
            created_day,
            *lead_sums(),
        )
        .where(*conditions)
        .group_by(close_month, Lead.currency, created_day)
    ).all()


def forecast(
    session: DbSession,
    user: User,
    currency: str | None,
    today: date,
    months: int = 12,
    rates: Rates | None = None,
) -> list[Month]:
    """Open (not closed) pipeline ``user`` may see by expected-close month, from this one.

    ``currency`` None: every currency, converted to the base currency with
    ``rates`` (amounts without a rate are left out and recorded in it).
    """
    owner_id = policy.pipeline_owner(user)
    start = today.replace(day=1)
    end = (start + timedelta(days=32 * months)).replace(day=1)
    rows = _forecast_rows(session, owner_id, currency, start, end)
    if currency is None:
        rates = rates if rates is not None else load_rates(session)
        splits = rates.split_months()
        hit = sorted({(c, created) for _m, c, created, *_sums in rows} & splits)
        if hit:
            rows = [r for r in rows if (r[1], r[2]) not in hit]
            rows += _split_rows(session, owner_id, hit, start, end)
    found: dict[date, tuple[Decimal, Decimal]] = {}
    for month, code, created, leads, amount, weighted in rows:
        factor = Decimal(1)
        if currency is None and rates is not None:
            converted = rates.factor(code, created, Decimal(amount), int(leads))
            if converted is None:
                continue
            factor = converted
        total, chance = found.get(month, (Decimal(0), Decimal(0)))
        found[month] = (total + Decimal(amount) * factor, chance + Decimal(weighted) * factor)
    result, month = [], start
    while month < end:  # every month, the empty ones too
        amount, weighted = found.get(month, (Decimal(0), Decimal(0)))
        result.append(Month(month, amount, weighted))
        month = (month + timedelta(days=32)).replace(day=1)
    return result


def win_rate(session: DbSession, user: User) -> float | None:
    """Won / (won + lost) by number of the leads ``user`` may see, every currency."""
    owner_id = policy.pipeline_owner(user)
    stats = pipeline_totals.c
    query = (
        select(LeadStage.name, func.sum(stats.leads))
        .join(LeadStage, LeadStage.id == stats.stage_id)
        .where(LeadStage.name.in_(CLOSED_STAGE_NAMES))
        .group_by(LeadStage.name)
    )
    if owner_id is not None:
        query = query.where(stats.owner_id == owner_id)
    counts = {name: int(n) for name, n in session.execute(query)}
    closed = counts.get(CLOSED_WON, 0) + counts.get(CLOSED_LOST, 0)
    return counts.get(CLOSED_WON, 0) / closed if closed else None


def open_leads_by_stage(session: DbSession, user: User) -> list[tuple[str, int]]:
    """(stage, number of leads) of ``user``'s own open leads, in stage order."""
    stats = pipeline_totals.c
    owner_id = user.id
    rows = session.execute(
        select(LeadStage.name, func.sum(stats.leads))
        .join(LeadStage, LeadStage.id == stats.stage_id)
        .where(stats.owner_id == owner_id, LeadStage.name.not_in(CLOSED_STAGE_NAMES))
        .group_by(LeadStage.name, LeadStage.order_index)
        .order_by(LeadStage.order_index)
    ).all()
    return [(name, int(n)) for name, n in rows if n]


def stale_deals(session: DbSession, user: User, now: datetime) -> list[Lead]:
    """The largest open leads with no interaction in the last STALE_DAYS days."""
    recent = exists().where(
        Interaction.lead_id == Lead.id,
        Interaction.interaction_date >= now - timedelta(days=STALE_DAYS),
    )
    query = (
        select(Lead)
        .options(joinedload(Lead.customer), joinedload(Lead.owner))
        .where(
            policy.row_filter(user, Lead),
            Lead.amount.is_not(None),
            or_(Lead.stage_id.is_(None), Lead.stage_id.not_in(_closed_stages())),
            not_(recent),
        )
        .order_by(Lead.amount.desc())
        .limit(LISTED)
    )
    return list(session.scalars(query).unique())


def overdue_tasks(session: DbSession, user: User, now: datetime) -> tuple[list[Task], int]:
    """The longest-overdue open tasks the user may read, and how many (capped)."""
    overdue = and_(Task.due_date < now, OPEN_TASK, policy.row_filter(user, Task))
    return _listed_and_counted(session, overdue, Task.due_date.asc())


def tasks_due_today(session: DbSession, user: User, now: datetime) -> tuple[list[Task], int]:
    """Open tasks due today that the user owns or is assigned."""
    start = datetime.combine(now.date(), datetime.min.time())
    due = and_(
        Task.due_date >= start,
        Task.due_date < start + timedelta(days=1),
        OPEN_TASK,
        policy.row_filter(user, Task),
    )
    return _listed_and_counted(session, due, Task.due_date.asc())


def _listed_and_counted(session: DbSession, where: Any, order: Any) -> tuple[list[Task], int]:
    rows = list(
        session.scalars(
            select(Task)
            .options(joinedload(Task.customer))
            .where(where)
            .order_by(order)
            .limit(LISTED)
        ).unique()
    )
    capped = select(Task.id).where(where).limit(CAP + 1).subquery()
    return rows, int(session.scalar(select(func.count()).select_from(capped)) or 0)


def recent_audit(session: DbSession) -> list[AuditLog]:
    """The latest changes and sign-ins, newest first."""
    return list(
        session.scalars(
            select(AuditLog)
            .options(joinedload(AuditLog.user))
            .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
            .limit(LISTED * 2)
        )
    )


def user_counts(session: DbSession) -> list[tuple[str, int, int]]:
    """(role, active, inactive) for every role."""
    rows = session.execute(
        select(User.role, User.is_active, func.count()).group_by(User.role, User.is_active)
    ).all()
    counts: dict[str, list[int]] = {role.value: [0, 0] for role in UserRole}
    for role, active, n in rows:
        if role is not None:
            counts[role.value][0 if active else 1] += n
    return [(role, active, inactive) for role, (active, inactive) in counts.items()]
