"""Task reminders: assignment notices by the database, the morning's due and overdue
notices, the bell, the list, read marks, and the daily digest through a real SMTP
server on loopback (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from crm.extensions import db
from crm.models import Notification, TaskStatus, UserRole, email_digests
from crm.reminders import digest, service
from tests import factories
from tests.helpers import Browser

ADMIN, MANAGER, REP = UserRole.ADMIN, UserRole.MANAGER, UserRole.USER
TODAY = date(2026, 12, 1)
MORNING = datetime(2026, 12, 1, 0, 0)


def notices(user_id: int) -> list[tuple[str, int | None]]:
    rows = db.session.execute(
        select(Notification.kind, Notification.task_id)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id)
    )
    return [tuple(row) for row in rows]


def acting_as(user_id: int) -> None:
    db.session.execute(text("SELECT set_config('crm.user_id', :u, true)"), {"u": str(user_id)})


def test_assigning_a_task_to_someone_else_notifies_them(users):
    manager, rep = users[MANAGER], users[REP]
    acting_as(manager.id)
    task = factories.task(user_id=manager.id, assigned_to=rep.id)
    mine = factories.task(user_id=rep.id)
    db.session.execute(
        text("UPDATE tasks SET assigned_to = :r WHERE id = :id"), {"r": rep.id, "id": mine.id}
    )  # the rep's own task, assigned by the manager: a notice too
    acting_as(rep.id)
    self_assigned = factories.task(user_id=rep.id, assigned_to=rep.id)
    db.session.execute(text("UPDATE tasks SET title = 'Renamed' WHERE id = :id"), {"id": task.id})
    assert notices(rep.id) == [("assigned", task.id), ("assigned", mine.id)]
    assert self_assigned.id not in [t for _k, t in notices(rep.id)]


def test_the_morning_notices_due_and_newly_overdue_tasks_once(users):
    rep = users[REP]
    due = factories.task(user_id=rep.id, due_date=MORNING + timedelta(hours=15))
    late = factories.task(user_id=users[MANAGER].id, assigned_to=rep.id,
                          due_date=MORNING - timedelta(hours=3))  # fmt: skip
    older = factories.task(user_id=rep.id, due_date=MORNING - timedelta(days=3))
    done = factories.task(user_id=rep.id, due_date=MORNING + timedelta(hours=1),
                          status=TaskStatus.COMPLETED)  # fmt: skip
    db.session.execute(text("DELETE FROM notifications"))
    assert service.morning(db.session, TODAY) == 2
    assert service.morning(db.session, TODAY) == 0  # run twice: nothing more
    assert sorted(notices(rep.id)) == sorted([("due", due.id), ("overdue", late.id)])
    assert older.id not in [t for _k, t in notices(rep.id)] and done.id not in [
        t for _k, t in notices(rep.id)
    ]


def test_the_bell_counts_unread_and_the_list_marks_them_read(browser: Browser, users):
    rep = users[REP]
    tasks = [factories.task(user_id=rep.id, title=f"Call back {n}") for n in range(3)]
    for task in tasks:
        db.session.add(Notification(user_id=rep.id, kind="due", task_id=task.id, day=TODAY))
    db.session.add(Notification(user_id=users[ADMIN].id, kind="due", task_id=tasks[0].id))
    db.session.flush()
    browser.login_as(rep)
    home = browser.get("/admin/").get_data(as_text=True)
    assert 'id="notification-count">3<' in home
    page = browser.get("/admin/notifications/").get_data(as_text=True)
    assert page.count("data-notification=") == 3 and "Call back 1</a>:\n      due today" in page
    first = db.session.scalar(
        select(func.min(Notification.id)).where(Notification.user_id == rep.id)
    )
    browser.post("/admin/notifications/read", {"id": str(first)})
    assert 'id="notification-count">2<' in browser.get("/admin/").get_data(as_text=True)
    theirs = db.session.scalar(
        select(Notification.id).where(Notification.user_id == users[ADMIN].id)
    )
    browser.post("/admin/notifications/read", {"id": str(theirs)})  # not theirs to mark
    assert db.session.get(Notification, theirs).read_at is None
    browser.post("/admin/notifications/read", {})
    assert 'id="notification-count"' not in browser.get("/admin/").get_data(as_text=True)
    bad = browser.post("/admin/notifications/read", {"id": "x<script>"})
    assert bad.status_code == 302


def test_the_bell_stops_counting_at_99(users):
    rep = users[REP]
    task = factories.task(user_id=rep.id)
    db.session.execute(
        text(
            "INSERT INTO notifications (user_id, kind, task_id) "
            "SELECT :u, 'assigned', :t FROM generate_series(1, 150)"
        ),
        {"u": rep.id, "t": task.id},
    )
    assert service.unread(db.session, rep.id) == 100  # shown as 99+


class Inbox:
    """An aiosmtpd handler that keeps every mail, or refuses them all."""

    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []
        self.refuse = False
        self.refused_addresses: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refused_addresses:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse:
            return "550 mailbox unavailable"
        self.mails.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, digest.Smtp]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, digest.parse(f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()


def test_one_digest_a_day_to_each_person_who_wants_it(users, smtp_server):
    inbox, smtp = smtp_server
    rep, manager = users[REP], users[MANAGER]
    for n in range(3):
        factories.task(user_id=rep.id, title=f"Rep task {n}", due_date=MORNING + timedelta(hours=n))
    factories.task(user_id=rep.id, title="Late one", due_date=MORNING - timedelta(days=2))
    factories.task(user_id=manager.id, title="Manager task", due_date=MORNING)
    db.session.execute(
        text("UPDATE users SET email_reminders = false WHERE id = :id"), {"id": manager.id}
    )
    assert digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY) == 1
    ((to, raw),) = inbox.mails
    mail = message_from_bytes(raw)
    assert to == [rep.email] and mail["Subject"].endswith("3 due today, 1 overdue")
    body = mail.get_payload()
    assert "Late one" in body and "Rep task 2" in body and "Manager task" not in body
    assert digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY) == 0  # once a day
    assert len(inbox.mails) == 1


def test_a_refusing_server_is_one_line_and_records_nothing(users, smtp_server):
    inbox, smtp = smtp_server
    inbox.refuse = True
    factories.task(user_id=users[REP].id, due_date=MORNING)
    with pytest.raises(digest.MailError, match="refused"):
        digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY)
    assert db.session.scalar(select(func.count()).select_from(email_digests)) == 0


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "mail.example.com:25"])
def test_a_bad_smtp_url_says_what_to_write(url):
    with pytest.raises(ValueError, match="SMTP_URL must look like"):
        digest.parse(url)


def test_one_refused_recipient_does_not_stop_the_others(users, smtp_server):
    inbox, smtp = smtp_server
    rep, manager = users[REP], users[MANAGER]
    for person in (rep, manager):
        factories.task(user_id=person.id, title=f"For {person.name}", due_date=MORNING)
    inbox.refused_addresses = {manager.email}
    with pytest.raises(digest.MailError, match="refused 1 recipients"):
        digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY)
    assert [to for to, _raw in inbox.mails] == [[rep.email]]
    recorded = db.session.scalars(select(email_digests.c.user_id)).all()
    assert recorded == [rep.id]  # the refused person's day is free for a later run


def test_an_address_list_in_the_email_field_gets_no_mail(users, smtp_server):
    inbox, smtp = smtp_server
    rep = users[REP]
    db.session.execute(
        text("UPDATE users SET email = 'rep@example.com, outsider@evil.test' WHERE id = :id"),
        {"id": rep.id},
    )
    db.session.expire_all()
    factories.task(user_id=rep.id, due_date=MORNING)
    with pytest.raises(digest.MailError, match="not one address"):
        digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY)
    assert inbox.mails == []


def test_the_digest_counts_everything_and_lists_today_first(users, smtp_server):
    inbox, smtp = smtp_server
    rep = users[REP]
    for n in range(60):
        factories.task(user_id=rep.id, title=f"Old {n}", due_date=MORNING - timedelta(days=n + 1))
    for n in range(5):
        factories.task(user_id=rep.id, title=f"Today {n}", due_date=MORNING + timedelta(hours=n))
    assert digest.send_all(db.session, smtp, "CRM <crm@example.com>", TODAY) == 1
    mail = message_from_bytes(inbox.mails[0][1])
    assert mail["Subject"].endswith("5 due today, 60 overdue")
    body = mail.get_payload()
    assert body.index("Today 4") < body.index("Old 0") and "and 10 more" in body


def test_a_reassigned_task_is_not_named_to_its_former_assignee(browser: Browser, users):
    rep, admin = users[REP], users[ADMIN]
    task = factories.task(user_id=admin.id, assigned_to=rep.id, title="Secret plan")
    db.session.execute(
        text("UPDATE tasks SET assigned_to = :a, title = 'Renamed plan' WHERE id = :id"),
        {"a": admin.id, "id": task.id},
    )
    browser.login_as(rep)
    page = browser.get("/admin/notifications/").get_data(as_text=True)
    assert "A task since deleted or no longer yours" in page
    assert "Renamed plan" not in page and "Secret plan" not in page


def test_a_closed_task_assigned_is_no_news(users):
    rep = users[REP]
    acting_as(users[MANAGER].id)
    done = factories.task(
        user_id=users[MANAGER].id, assigned_to=rep.id, status=TaskStatus.COMPLETED
    )
    assert ("assigned", done.id) not in notices(rep.id)


def test_scheduled_jobs_use_the_utc_day_whatever_the_worker_zone(monkeypatch):
    import time as clock

    from crm.jobs.tasks import utc_day

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    clock.tzset()
    try:
        seven_utc = int(datetime(2026, 12, 1, 7, 0, tzinfo=UTC).timestamp())
        assert utc_day(seven_utc) == date(2026, 12, 1)  # still 30 November in Los Angeles
    finally:
        monkeypatch.delenv("TZ")
        clock.tzset()


def test_the_profile_turns_the_email_off_and_on(browser: Browser, users):
    browser.login_as(users[REP])
    browser.post("/admin/profile/reminders", {})
    db.session.refresh(users[REP])
    assert users[REP].email_reminders is False
    browser.post("/admin/profile/reminders", {"email_reminders": "on"})
    db.session.refresh(users[REP])
    assert users[REP].email_reminders is True
