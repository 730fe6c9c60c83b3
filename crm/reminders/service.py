"""Notifications: the morning's due and overdue ones, the bell's count, the list, read marks.

Assignments are notified by the database itself (migration 0034's trigger). The
morning job adds one ``due`` notice per open task due today and one ``overdue``
notice per open task that fell due yesterday, to its assignee (else its owner):
one statement through an index on the open tasks' due dates, safe to run twice a
day. The list names a task only while the person may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select, text, update

from crm.extensions import DbSession
from crm.models import Notification, Task, User
from crm.security import policy

BELL_CAP = 99  # the bell says "99+" beyond this: its count stops there
PAGE = 50

MORNING = text(
    """
INSERT INTO notifications (user_id, kind, task_id, day)
SELECT COALESCE(t.assigned_to, t.user_id),
       CASE WHEN t.due_date >= :today THEN 'due' ELSE 'overdue' END, t.id, :day
  FROM tasks AS t
 WHERE t.due_date >= :yesterday AND t.due_date < :tomorrow
   AND t.status IN ('pending', 'in_progress')
   AND COALESCE(t.assigned_to, t.user_id) IS NOT NULL
ON CONFLICT (user_id, task_id, kind, day) WHERE kind IN ('due', 'overdue') DO NOTHING
"""
)


def morning(session: DbSession, day: date) -> int:
    """Add the day's due and overdue notices; how many were new (the caller commits)."""
    start = datetime.combine(day, time.min)
    result = session.execute(
        MORNING,
        {
            "day": day,
            "today": start,
            "yesterday": start - timedelta(days=1),
            "tomorrow": start + timedelta(days=1),
        },
    )
    return int(getattr(result, "rowcount", 0) or 0)


def unread(session: DbSession, user_id: int) -> int:
    """The bell's number: unread notices, counted up to BELL_CAP + 1."""
    capped = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(BELL_CAP + 1)
        .subquery()
    )
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


@dataclass(frozen=True)
class Shown:
    """A notice as the list shows it."""

    id: int
    kind: str
    task_id: int | None
    title: str | None  # None: the task is gone, or no longer the person's to read
    due: datetime | None
    owner: str | None  # the task's owner (usually who assigned it)
    created_at: datetime
    read: bool


def listed(session: DbSession, user: User, before: int | None) -> list[Shown]:
    """The person's notices, newest first, a page before ``before``."""
    readable = policy.row_filter(user, Task)
    query = (
        select(
            Notification.id,
            Notification.kind,
            case((readable, Notification.task_id)),
            case((readable, Task.title)),
            case((readable, Task.due_date)),
            case((readable, User.name)),
            Notification.created_at,
            Notification.read_at.is_not(None),
        )
        .outerjoin(Task, Task.id == Notification.task_id)
        .outerjoin(User, User.id == Task.user_id)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id.desc())
        .limit(PAGE + 1)
    )
    if before:
        query = query.where(Notification.id < before)
    return [Shown(*row) for row in session.execute(query)]


def mark_read(session: DbSession, user_id: int, ids: list[int] | None = None) -> int:
    """Mark the person's notices read (these, or all); how many changed."""
    statement: Any = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=func.localtimestamp())
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
