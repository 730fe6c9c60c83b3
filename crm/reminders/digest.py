"""The daily email digest: one mail per person with their due and overdue tasks.

Sent when ``SMTP_URL`` is set (``smtp://user:password@host:587?starttls=1``, or
``smtps://…`` for TLS from the start), to active people who have not turned
reminders off on their profile and have something due. Each person's day is
claimed in ``email_digests`` (committed) before their mail goes, so a run
again the same day, or two at once, never mails anyone twice; a send that fails
gives the claim back. A recipient the server refuses is skipped (the others are
still mailed) and the run then fails, naming how many; a server that cannot be
reached or refuses the login fails the run at once.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects.postgresql import insert

from crm.extensions import DbSession
from crm.models import Task, TaskStatus, User, email_digests

LISTED = 50  # tasks named in one mail; the rest are counted


class MailError(Exception):
    """The SMTP setting or server refused; the message says which."""


@dataclass(frozen=True)
class Smtp:
    """Where mail goes, from SMTP_URL."""

    host: str
    port: int
    tls: bool  # TLS from the first byte (smtps)
    starttls: bool
    user: str | None
    password: str | None


def parse(url: str) -> Smtp:
    """SMTP_URL as settings; ValueError saying what to write instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(
            f"SMTP_URL must look like smtp://user:password@host:587?starttls=1 or "
            f"smtps://host:465, not {parts.scheme or 'no scheme'}://…"
        )
    query = parse_qs(parts.query)
    return Smtp(
        host=parts.hostname,
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        tls=parts.scheme == "smtps",
        starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _mine(user_id: int) -> Any:
    """The person's tasks: assigned to them, or theirs and assigned to nobody."""
    return (Task.assigned_to == user_id) | (Task.assigned_to.is_(None) & (Task.user_id == user_id))


OPEN = (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Due:
    """What one person's mail says: how many due today and overdue, and the first of each."""

    today: list[Task]
    overdue: list[Task]
    today_count: int
    overdue_count: int


def _due(session: DbSession, user_id: int, day: date) -> Due:
    """The person's open tasks due today and overdue (counted; the soonest listed)."""
    start = datetime.combine(day, time.min)
    end = start + timedelta(days=1)
    found = []
    for low, high, newest_first in ((start, end, False), (None, start, True)):
        where = [_mine(user_id), Task.status.in_(OPEN), Task.due_date < high]
        if low is not None:
            where.append(Task.due_date >= low)
        count = session.scalar(select(func.count()).select_from(Task).where(*where)) or 0
        order = Task.due_date.desc() if newest_first else Task.due_date
        listed = list(
            session.scalars(select(Task).where(*where).order_by(order, Task.id).limit(LISTED))
        )
        found.append((listed, int(count)))
    (today, today_count), (overdue, overdue_count) = found
    return Due(today, overdue, today_count, overdue_count)


def message(user: User, due: Due, day: date, sender: str) -> EmailMessage:
    """The digest mail for one person (their name and titles only in the body)."""
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, user.email
    mail["Subject"] = (
        f"Your tasks for {day:%A %d %B}: {due.today_count} due today, {due.overdue_count} overdue"
    )
    lines = [f"Good morning {user.name},", ""]
    for label, group, count in (
        ("Due today", due.today, due.today_count),
        ("Overdue (the most recent first)", due.overdue, due.overdue_count),
    ):
        if group:
            lines.append(f"{label}:")
            lines.extend(f"  - {t.title} (due {t.due_date:%Y-%m-%d %H:%M} UTC)" for t in group)
            if count > len(group):
                lines.append(f"  …and {count - len(group)} more: open your tasks in the CRM.")
            lines.append("")
    lines.append("You get this once a day. Turn it off on your profile in the CRM.")
    mail.set_content("\n".join(lines))
    return mail


def _address(text: str) -> str | None:
    """One mail address, or None when ``text`` is not exactly one (a list, a newline…)."""
    try:
        parsed = Address(addr_spec=text.strip())
    except (ValueError, IndexError, HeaderParseError):
        return None
    return parsed.addr_spec if "@" in parsed.addr_spec else None


def send_all(session: DbSession, smtp: Smtp, sender: str, day: date) -> int:
    """Mail every person with something due who wants it and has none today; how many.

    Commits as it goes (each person's claim). Raises MailError at once when the server
    cannot be used, or at the end naming the people it refused.
    """
    sent_today = exists().where(email_digests.c.user_id == User.id, email_digests.c.day == day)
    people = list(
        session.scalars(
            select(User)
            .where(User.is_active.is_(True), User.email_reminders.is_(True), ~sent_today)
            .order_by(User.id)
        )
    )
    sent, refused = 0, []
    for person in people:
        due = _due(session, person.id, day)
        address = _address(person.email)
        if not (due.today_count or due.overdue_count) or address is None:
            if address is None and (due.today_count or due.overdue_count):
                refused.append(person.email[:100])
            continue
        claimed = session.execute(
            insert(email_digests)
            .values(user_id=person.id, day=day)
            .on_conflict_do_nothing()
            .returning(email_digests.c.user_id)
        ).first()
        session.commit()  # claimed before the mail goes: never twice, even if we die now
        if claimed is None:
            continue  # another run has this person
        try:
            _send(smtp, message(person, due, day, sender), address)
        except smtplib.SMTPRecipientsRefused:
            _give_back(session, person.id, day)
            refused.append(address)
            continue
        except (OSError, smtplib.SMTPException) as exc:
            _give_back(session, person.id, day)
            raise MailError(f"the SMTP server at {smtp.host}:{smtp.port} refused ({exc})") from None
        sent += 1
    if refused:
        raise MailError(
            f"{sent} digests sent; the SMTP server refused {len(refused)} recipients, or their "
            f"address is not one address: {', '.join(refused[:5])}"
        )
    return sent


def _give_back(session: DbSession, user_id: int, day: date) -> None:
    """Release a claim whose mail did not go (a later run may try again)."""
    session.execute(
        delete(email_digests).where(email_digests.c.user_id == user_id, email_digests.c.day == day)
    )
    session.commit()


def _send(smtp: Smtp, mail: EmailMessage, to: str) -> None:
    if smtp.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=30, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=30)
    with client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        client.send_message(mail, to_addrs=[to])  # only this address, whatever To says
