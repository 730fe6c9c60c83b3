"""The spec's data retention policy: what is due for deletion, and the purge.

Leads go five years after closure (``closed_at``, migration 0013), tasks three
years after completion (completed or cancelled, by ``completed_at``),
interactions seven years after they happened, audit rows after ten years.
Customers are kept; users are kept too (see ``KEPT``). The deletes themselves
run in the database (``crm_retention_purge`` and ``crm_purge_audit_logs``),
which refuse cutoffs newer than the policy, so no caller can purge early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from crm.audit.context import actor
from crm.extensions import DbSession
from crm.models import AuditLog, Interaction, Lead, Task, TaskStatus

BATCH = 5_000  # rows per transaction: short locks, and progress to show


@dataclass(frozen=True)
class Rule:
    """One table's retention: how long, counted from what, and which rows are due."""

    model: type[Task | Interaction | Lead | AuditLog]
    years: int
    counted_from: str
    due: Callable[[datetime], Any]  # cutoff -> WHERE clause of rows due

    @property
    def table(self) -> str:
        """The table's name, as the report and the summary row give it."""
        return self.model.__tablename__

    def purge(self, cutoff: datetime, batch: int) -> Any:
        """The SELECT that deletes one batch in the database; its value is the count."""
        if self.model is AuditLog:
            return select(func.crm_purge_audit_logs(cutoff, batch))
        return select(func.crm_retention_purge(self.table, cutoff, batch))


RULES = (
    Rule(
        Task,
        3,
        "completion (completed or cancelled)",
        lambda cutoff: and_(
            Task.completed_at < cutoff,
            Task.status.in_((TaskStatus.COMPLETED, TaskStatus.CANCELLED)),
        ),
    ),
    Rule(
        Interaction,
        7,
        "the interaction",
        lambda cutoff: or_(
            Interaction.interaction_date < cutoff,
            and_(Interaction.interaction_date.is_(None), Interaction.created_at < cutoff),
        ),
    ),
    # After tasks and interactions: fewer of their lead_id are then set to NULL.
    Rule(Lead, 5, "closure (Closed Won or Closed Lost)", lambda cutoff: Lead.closed_at < cutoff),
    Rule(AuditLog, 10, "the change", lambda cutoff: AuditLog.created_at < cutoff),
)

# Tables the purge never touches, and why (printed with every run).
KEPT = {
    "customers": "kept indefinitely",
    "users": (
        "kept: active accounts by the policy; deactivated ones too, since deleting a user "
        "would cascade into their tasks and interactions and blank who made audited changes"
    ),
}


def cutoff(as_of: date, years: int) -> datetime:
    """Midnight of ``as_of``, ``years`` earlier (29 February falls back to the 28th)."""
    try:
        day = as_of.replace(year=as_of.year - years)
    except ValueError:
        day = as_of.replace(year=as_of.year - years, day=28)
    return datetime(day.year, day.month, day.day)


@dataclass(frozen=True)
class Due:
    """How many rows of one table the policy lets go as of a date."""

    rule: Rule
    cutoff: datetime
    rows: int


def plan(session: DbSession, as_of: date) -> list[Due]:
    """Count, per table, the rows older than the policy keeps them (deletes nothing)."""
    due = []
    for rule in RULES:
        limit = cutoff(as_of, rule.years)
        rows = session.scalar(select(func.count()).select_from(rule.model).where(rule.due(limit)))
        due.append(Due(rule, limit, rows or 0))
    return due


def purge(engine: Engine, due: Due, batch: int = BATCH) -> Iterator[int]:
    """Delete one table's due rows, one committed transaction per batch; yield each count."""
    while True:
        with engine.begin() as connection:
            deleted = connection.scalar(due.rule.purge(due.cutoff, batch)) or 0
        if deleted:
            yield deleted
        if deleted < batch:
            return


def apply(
    session: DbSession,
    as_of: date,
    plan_: list[Due],
    batch: int = BATCH,
    on_rows: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Purge every table ``plan_`` lists and add the summary audit row (the caller commits).

    ``on_rows(table, rows)`` hears of each batch deleted (a progress bar).
    """
    deleted: dict[str, int] = {}
    for due in plan_:
        deleted[due.rule.table] = 0
        if not due.rows:
            continue
        for rows in purge(session.get_bind(), due, batch):  # type: ignore[arg-type]
            deleted[due.rule.table] += rows
            if on_rows:
                on_rows(due.rule.table, rows)
    session.add(summary(as_of, deleted, plan_))
    return deleted


def summary(as_of: date, deleted: dict[str, int], plan_: list[Due]) -> AuditLog:
    """The one audit row a purge leaves: when, the cutoffs, and how many rows went."""
    return AuditLog(
        table_name="retention",
        record_id=0,
        action="PURGE",
        new_values={
            "as_of": as_of.isoformat(),
            "cutoffs": {due.rule.table: due.cutoff.isoformat() for due in plan_},
            "deleted": deleted,
        },
        user_agent=actor()["user_agent"] or None,
    )
