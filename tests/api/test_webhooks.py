"""Webhooks (issue 20, part 4): events from the database, signed posts, retries, the log."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, text

from crm.extensions import db
from crm.models import Webhook, WebhookDelivery
from crm.webhooks import sender, signing, targets
from tests import factories
from tests.helpers import app_on_new_database


class Receiver:
    """A real HTTP server on loopback that keeps what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"nope" if outer.status >= 300 else b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?x=1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def subscribe(url: str, *events: str, secret: str = "whsec_test") -> Webhook:
    hook = Webhook(target_url=url, events=list(events), secret=signing.encrypt(secret))
    db.session.add(hook)
    db.session.flush()
    return hook


def deliveries(conn: Connection) -> list[tuple[str, int, str]]:
    rows = conn.execute(text("SELECT event, record_id, status FROM webhook_deliveries ORDER BY id"))
    return [tuple(row) for row in rows]


def sender_jobs(conn: Connection) -> int:
    return conn.scalar(
        text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'crm.webhooks.send'")
    )


def test_changes_made_by_raw_sql_fire_the_events_subscribed_and_queue_the_sender(
    db_connection: Connection,
):
    db_connection.execute(text("INSERT INTO customers (name) VALUES ('Before any webhook')"))
    assert deliveries(db_connection) == [] and sender_jobs(db_connection) == 0
    subscribe("https://example.com/a", "customer.created", "customer.deleted")
    subscribe("https://example.com/b", "customer.updated")
    made = db_connection.scalar(text("INSERT INTO customers (name) VALUES ('Acme') RETURNING id"))
    db_connection.execute(text("UPDATE customers SET city = 'Oslo' WHERE id = :id"), {"id": made})
    db_connection.execute(text("UPDATE customers SET city = 'Oslo' WHERE id = :id"), {"id": made})
    db_connection.execute(text("DELETE FROM customers WHERE id = :id"), {"id": made})
    assert deliveries(db_connection) == [
        ("customer.created", made, "pending"),
        ("customer.updated", made, "pending"),  # the second UPDATE changed nothing
        ("customer.deleted", made, "pending"),
    ]
    assert sender_jobs(db_connection) == 1  # once per transaction that made deliveries


def test_a_lead_moving_stage_fires_stage_changed_with_where_it_came_from(
    db_connection: Connection,
):
    first, second = factories.stage(name="A"), factories.stage(name="B")
    lead = factories.lead(stage_id=first.id)
    subscribe("https://example.com/a", "lead.stage_changed")
    db_connection.execute(text("UPDATE leads SET title = 'Renamed' WHERE id = :id"), lead.__dict__)
    db_connection.execute(
        text("UPDATE leads SET stage_id = :s WHERE id = :id"), {"s": second.id, "id": lead.id}
    )
    payload = db_connection.execute(text("SELECT event, payload FROM webhook_deliveries")).one()
    assert payload.event == "lead.stage_changed"
    assert (payload.payload["stage_id"], payload.payload["from_stage_id"]) == (second.id, first.id)


def test_a_delivery_is_signed_and_posted_and_recorded(receiver: Receiver):
    subscribe(receiver.url, "task.created", secret="whsec_known")
    task = factories.task(title="Call back")
    assert sender.send_due(db.session) == 1
    headers, body = receiver.received[0]
    stamp = headers["X-CRM-Timestamp"]
    expected = hmac.new(b"whsec_known", f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-CRM-Signature"] == f"sha256={expected}"
    assert headers["X-CRM-Event"] == "task.created"
    sent = json.loads(body)
    assert (sent["event"], sent["record_id"], sent["data"]["title"]) == (
        "task.created",
        task.id,
        "Call back",
    )
    row = db.session.scalars(db.select(WebhookDelivery)).one()
    assert (row.status, row.response_code, row.attempts) == ("delivered", 200, 1)
    assert headers["X-CRM-Delivery"] == str(row.id)
    assert sender.send_due(db.session) == 0  # nothing is sent twice


def test_a_refused_delivery_is_retried_with_growing_waits_then_given_up(
    app: Flask, receiver: Receiver
):
    receiver.status = 503
    subscribe(receiver.url, "interaction.created")
    factories.interaction()
    row = db.session.scalars(db.select(WebhookDelivery)).one()
    waits = []
    for _attempt in range(app.config["WEBHOOK_MAX_ATTEMPTS"]):
        before = datetime.utcnow()
        assert sender.send_due(db.session) == 1
        db.session.refresh(row)
        if row.status == "pending":
            waits.append(round((row.next_attempt_at - before).total_seconds() / 30))
            row.next_attempt_at = before - timedelta(seconds=1)  # time passes
            db.session.commit()
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    assert (row.status, row.response_code, row.last_error) == ("failed", 503, "HTTP 503: nope")
    assert len(receiver.received) == app.config["WEBHOOK_MAX_ATTEMPTS"]


def test_private_targets_are_refused_unless_allowed(app: Flask, browser, users, receiver):
    from crm.models import UserRole

    subscribe(receiver.url, "customer.created")
    factories.customer()
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    try:
        sender.send_due(db.session)
        row = db.session.scalars(db.select(WebhookDelivery)).one()
        assert "private or local address" in (row.last_error or "")
        assert receiver.received == []
        browser.login_as(users[UserRole.ADMIN])
        page = browser.post(
            "/admin/webhooks/new/",
            {"target_url": "http://127.0.0.1/x", "events": "customer.created"},
        )
        assert "private or local address (127.0.0.1)" in page.get_data(as_text=True)
    finally:
        app.config["WEBHOOK_ALLOW_PRIVATE"] = True


def test_an_admin_subscribes_sees_the_secret_once_and_it_is_kept_encrypted(
    browser, users, receiver, db_connection: Connection
):
    from crm.models import UserRole

    browser.login_as(users[UserRole.ADMIN])
    response = browser.post(
        "/admin/webhooks/new/",
        {"target_url": receiver.url, "events": ["lead.created", "lead.stage_changed"]},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "shown only this once" in page
    secret = page.split('<code class="webhook-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in response.headers.get("Set-Cookie", "")  # a page, never the cookie
    stored = db_connection.execute(text("SELECT events, secret FROM webhooks")).one()
    assert stored.events == ["lead.created", "lead.stage_changed"]
    assert secret not in stored.secret and signing.decrypt(stored.secret) == secret
    audited = db_connection.scalar(
        text("SELECT new_values FROM audit_logs WHERE table_name = 'webhooks'")
    )
    assert "secret" not in audited and audited["url"] == receiver.url


def test_only_admins_see_webhooks(browser, users):
    from crm.models import UserRole

    browser.login_as(users[UserRole.MANAGER])
    assert browser.get("/admin/webhooks/").status_code == 403
    assert browser.get("/admin/webhook-deliveries/").status_code == 403


def test_an_admin_redelivers_from_the_log(browser, users, receiver, db_connection):
    from crm.models import UserRole

    receiver.status = 500
    subscribe(receiver.url, "customer.created")
    factories.customer()
    sender.send_due(db.session)
    row = db.session.scalars(db.select(WebhookDelivery)).one()
    row.status = "failed"
    db.session.commit()
    browser.login_as(users[UserRole.ADMIN])
    log = browser.get("/admin/webhook-deliveries/").get_data(as_text=True)
    assert "customer.created" in log and "HTTP 500: nope" in log
    browser.post("/admin/webhook-deliveries/action/", {"action": "redeliver", "rowid": [row.id]})
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
    receiver.status = 200
    assert sender.send_due(db.session) == 1
    db.session.refresh(row)
    assert row.status == "delivered"


@pytest.mark.own_database
def test_writers_never_wait_on_each_other_for_the_sender_job(server_url):
    """Two transactions changing customers while a webhook is on: neither blocks the other.

    On a database of its own: the rows are committed (and audited) for real.
    """
    with app_on_new_database(server_url, "hooks") as scratch, scratch.app_context():
        with db.engine.begin() as setup:
            setup.execute(
                text(
                    "INSERT INTO webhooks (url, events, secret) "
                    "VALUES ('https://example.com/', '{customer.updated}', 'x')"
                )
            )
            ids = setup.scalars(
                text("INSERT INTO customers (name) VALUES ('W1'), ('W2') RETURNING id")
            ).all()
        first, second = db.engine.connect(), db.engine.connect()
        try:
            first.execute(text("UPDATE customers SET city = 'A' WHERE id = :id"), {"id": ids[0]})
            second.execute(text("SET lock_timeout = '2s'"))
            second.execute(text("UPDATE customers SET city = 'B' WHERE id = :id"), {"id": ids[1]})
            second.commit()
            first.commit()
        finally:
            first.close()
            second.close()
        with db.engine.connect() as check:
            jobs = check.scalar(
                text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t"),
                {"t": sender.TASK},
            )
        assert jobs == 2  # one per transaction that made deliveries


def test_an_inactive_webhook_sends_nothing_more(receiver: Receiver):
    hook = subscribe(receiver.url, "customer.created")
    factories.customer()
    hook.is_active = False
    db.session.commit()
    sender.send_due(db.session)
    row = db.session.scalars(db.select(WebhookDelivery)).one()
    assert receiver.received == [] and "inactive" in (row.last_error or "")


def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_time_limit(app: Flask):
    class Dribble(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            try:
                for byte in b"HTTP/1.1 200 OK\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)  # each read well inside the limit, the whole far beyond
            except OSError:
                pass  # the sender hung up: as it should

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dribble)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    app.config["WEBHOOK_TIMEOUT_SECONDS"] = 1
    try:
        subscribe(f"http://127.0.0.1:{server.server_address[1]}/", "customer.created")
        factories.customer()
        started = time.monotonic()
        sender.send_due(db.session)
        assert time.monotonic() - started < 2
        row = db.session.scalars(db.select(WebhookDelivery)).one()
        assert "within 1 s" in (row.last_error or "") and row.status == "pending"
    finally:
        app.config["WEBHOOK_TIMEOUT_SECONDS"] = 10
        server.shutdown()
        server.server_close()


def test_host_names_are_sent_as_dns_and_tls_know_them():
    target = targets.Target("http", "2001:db8::1", 8080, "2001:db8::1", "/")
    assert sender._host_header(target) == "[2001:db8::1]:8080"
    assert sender._host_header(targets.Target("https", "a.example", 443, "1.2.3.4", "/")) == (
        "a.example"
    )
    with pytest.raises(targets.TargetError, match="does not resolve"):
        targets.check("https://пример.invalid/hook", allow_private=False)
    with pytest.raises(targets.TargetError, match="private or local"):
        targets.check("http://[::ffff:127.0.0.1]/", allow_private=False)
    # IPv4 inside IPv6 (compatible, NAT64, 6to4) is judged by the IPv4 address inside.
    assert not any(map(targets.public, ["::127.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1"]))
    assert targets.public("64:ff9b::808:808") and targets.public("2606:4700::1111")


def test_the_log_forgets_finished_deliveries_after_its_days(db_connection: Connection):
    subscribe("https://example.com/", "customer.created")
    for _ in range(3):
        factories.customer()
    db_connection.execute(
        text(
            "UPDATE webhook_deliveries SET created_at = now() - interval '31 days', "
            "status = CASE WHEN id = (SELECT min(id) FROM webhook_deliveries) THEN 'pending' "
            "ELSE 'delivered' END"
        )
    )
    factories.customer()  # a new one: kept
    assert sender.forget_old(db.session, 30) == 2
    assert [status for _e, _r, status in deliveries(db_connection)] == ["pending", "pending"]


def test_a_2xx_with_a_broken_body_is_still_delivered(app: Flask):
    class Short(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "100")  # promises more than it sends
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        subscribe(f"http://127.0.0.1:{server.server_address[1]}/", "customer.created")
        factories.customer()
        sender.send_due(db.session)
        row = db.session.scalars(db.select(WebhookDelivery)).one()
        db.session.refresh(row)
        assert (row.status, row.response_code) == ("delivered", 200)
    finally:
        server.shutdown()
        server.server_close()


def test_a_result_is_kept_only_by_the_sender_still_holding_the_claim(receiver: Receiver):
    subscribe(receiver.url, "customer.created")
    factories.customer()
    row = db.session.scalars(db.select(WebhookDelivery)).one()
    row.locked_until = datetime(2000, 1, 1)  # as claimed by a sender long gone
    db.session.flush()
    outcome = sender.Outcome(500, "HTTP 500: late")
    claimed = db.session.get(WebhookDelivery, row.id)
    assert claimed is not None
    db.session.execute(
        text("UPDATE webhook_deliveries SET locked_until = now() WHERE id = :id"), {"id": row.id}
    )  # another sender took it meanwhile
    assert sender.record(db.session, claimed, outcome, 8) is False
    db.session.refresh(row)
    assert row.status == "pending" and row.last_error is None


def test_a_webhook_deleted_while_its_delivery_is_sent_stops_nothing(receiver: Receiver):
    doomed = subscribe(receiver.url, "customer.created").id
    kept = subscribe(receiver.url, "customer.created").id
    factories.customer()
    original = sender.post

    def post_then_delete(webhook: Webhook, delivery: WebhookDelivery) -> sender.Outcome:
        outcome = original(webhook, delivery)
        if webhook.id == doomed:
            db.session.execute(text("DELETE FROM webhooks WHERE id = :id"), {"id": doomed})
        return outcome

    sender.post = post_then_delete  # type: ignore[assignment]
    try:
        assert sender.send_due(db.session) == 2
    finally:
        sender.post = original  # type: ignore[assignment]
    statuses = db.session.scalars(
        db.select(WebhookDelivery.status).where(WebhookDelivery.webhook_id == kept)
    ).all()
    assert statuses == ["delivered"]


def test_an_admin_whose_save_fails_keeps_the_form_and_sees_no_secret(browser, users):
    from crm.models import UserRole

    browser.login_as(users[UserRole.ADMIN])
    page = browser.post(
        "/admin/webhooks/new/", {"target_url": "ftp://127.0.0.1/x", "events": "lead.created"}
    ).get_data(as_text=True)
    assert "whsec_" not in page and "Enter a URL such as" in page
    made = browser.post(
        "/admin/webhooks/new/", {"target_url": "HTTP://127.0.0.1/x", "events": "lead.created"}
    )
    assert "whsec_" in made.get_data(as_text=True)
    assert made.headers["Cache-Control"] == "no-store"
    assert db.session.scalars(db.select(Webhook.target_url)).all() == ["http://127.0.0.1/x"]


def test_names_are_encoded_as_browsers_encode_them():
    with pytest.raises(targets.TargetError, match=r"xn--fa-hia\.invalid does not resolve"):
        targets.check("https://faß.invalid/", allow_private=False)
    assert not targets.public("64:ff9b:1::7f00:1") and not targets.public("fec0::1")
