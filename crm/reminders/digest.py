"""The daily email digest: one mail per person with their due and overdue tasks.

Sent when ``SMTP_URL`` is set (``smtp://user:password@host:587?starttls=1``, or
``smtps://…`` for TLS from the start), to active people who have not turned
reminders off on their profile and have something due. Each person's send is
recorded in ``email_digests`` in the transaction that sends it, so a job run
again the same day never mails anyone twice, and a refused send records nothing.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import exists, select
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


def _due(session: DbSession, user_id: int, day: date) -> list[Task]:
    """The person's open tasks due by the end of ``day`` (overdue first), a mail's worth."""
    end = datetime.combine(day + timedelta(days=1), time.min)
    mine = (Task.assigned_to == user_id) | (
        (Task.assigned_to.is_(None)) & (Task.user_id == user_id)
    )
    return list(
        session.scalars(
            select(Task)
            .where(
                mine,
                Task.due_date < end,
                Task.status.in_((TaskStatus.PENDING, TaskStatus.IN_PROGRESS)),
            )
            .order_by(Task.due_date, Task.id)
            .limit(LISTED + 1)
        )
    )


def message(user: User, tasks: list[Task], day: date, sender: str) -> EmailMessage:
    """The digest mail for one person."""
    start = datetime.combine(day, time.min)
    overdue = [t for t in tasks if t.due_date and t.due_date < start]
    today = [t for t in tasks if t not in overdue]
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, user.email
    mail["Subject"] = (
        f"Your tasks for {day:%A %d %B}: {len(today)} due today, {len(overdue)} overdue"
    )
    lines = [f"Good morning {user.name},", ""]
    for label, group in (("Overdue", overdue), ("Due today", today)):
        if group:
            lines.append(f"{label}:")
            lines.extend(
                f"  - {t.title} (due {t.due_date:%Y-%m-%d %H:%M} UTC)" for t in group[:LISTED]
            )
            lines.append("")
    if len(tasks) > LISTED:
        lines.append("…and more: open your tasks in the CRM.")
    lines.append("You get this once a day. Turn it off on your profile in the CRM.")
    mail.set_content("\n".join(lines))
    return mail


def send_all(session: DbSession, smtp: Smtp, sender: str, day: date) -> int:
    """Mail every person with something due who wants it and has none today; how many."""
    sent_today = exists().where(email_digests.c.user_id == User.id, email_digests.c.day == day)
    people = list(
        session.scalars(
            select(User).where(
                User.is_active.is_(True), User.email_reminders.is_(True), ~sent_today
            )
        )
    )
    sent = 0
    for person in people:
        tasks = _due(session, person.id, day)
        if not tasks:
            continue
        session.execute(
            insert(email_digests).values(user_id=person.id, day=day).on_conflict_do_nothing()
        )
        try:
            _send(smtp, message(person, tasks, day, sender))
        except (OSError, smtplib.SMTPException) as exc:
            session.rollback()
            raise MailError(f"the SMTP server at {smtp.host}:{smtp.port} refused ({exc})") from None
        session.commit()
        sent += 1
    return sent


def _send(smtp: Smtp, mail: EmailMessage) -> None:
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
        client.send_message(mail)
