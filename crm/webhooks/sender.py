"""Sending due deliveries: claim, sign, post, record; retry later with exponential backoff.

Any number of senders share the work: each claims a batch (``FOR UPDATE SKIP
LOCKED``), marks it ``sending`` for a while, and commits before posting, so no
transaction stays open across the network. A sender that dies leaves its claims to
run out; the next sender takes them again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
import urllib3.connection
from flask import current_app
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crm.extensions import DbSession
from crm.jobs import queue as jobs
from crm.models import Webhook, WebhookDelivery
from crm.webhooks import signing, targets

log = logging.getLogger(__name__)
TASK = "crm.webhooks.send"
# A claim outlasts one attempt's time limit by this (room for a slow DNS answer, which
# comes before the time limit starts): then it is free again.
HOLD_MARGIN = 120
FIRST_WAIT = timedelta(seconds=30)  # then 1, 2, 4… minutes
ERROR_LIMIT = 500
CLAIM = text(
    """
    UPDATE webhook_deliveries AS d
       SET status = 'sending', attempts = d.attempts + 1,
           locked_until = clock_timestamp() + make_interval(secs => :hold)
     WHERE d.id IN (SELECT id FROM webhook_deliveries
                     WHERE status IN ('pending', 'sending')
                       AND next_attempt_at <= clock_timestamp()
                       AND (locked_until IS NULL OR locked_until < clock_timestamp())
                     ORDER BY next_attempt_at, id
                     LIMIT 1
                       FOR UPDATE SKIP LOCKED)
    RETURNING d.id
    """
)


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None: no answer) and what went wrong."""

    code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        """Whether the receiver took it (any 2xx)."""
        return self.code is not None and 200 <= self.code < 300


def body_of(delivery: WebhookDelivery) -> bytes:
    """The JSON a receiver gets: the delivery's id, its event, when, and the row."""
    occurred = delivery.created_at.replace(tzinfo=UTC).isoformat()
    document = {
        "id": delivery.id,
        "event": delivery.event,
        "occurred_at": occurred,
        "table": delivery.table_name,
        "record_id": delivery.record_id,
        "data": delivery.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def _host_header(target: targets.Target) -> str:
    """The Host header: the name (ASCII already), an IPv6 address in brackets, the port."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    default_port = target.port == (443 if target.scheme == "https" else 80)
    return host if default_port else f"{host}:{target.port}"


def _connection(target: targets.Target, timeout: float) -> Any:
    """A connection to the address checked, named for TLS as the URL names it."""
    if target.scheme == "https":
        return urllib3.connection.HTTPSConnection(
            target.address, target.port, timeout=timeout,
            server_hostname=target.host, assert_hostname=target.host,
        )  # fmt: skip
    return urllib3.connection.HTTPConnection(target.address, target.port, timeout=timeout)


def _cut(connection: Any, expired: threading.Event) -> None:
    """End a connection now, waking the read blocked on it (close alone would not)."""
    expired.set()
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def post(webhook: Webhook, delivery: WebhookDelivery) -> Outcome:
    """One attempt: sign the body and post it to the checked address.

    The whole exchange, from connecting to the last byte of the answer, must end within
    WEBHOOK_TIMEOUT_SECONDS: a timer closes the socket of a receiver answering a byte at
    a time (a per-read timeout alone would wait on it for ever).
    """
    config = current_app.config
    if not webhook.is_active:
        return Outcome(None, "The webhook is inactive: activate it to send this.")
    secret = signing.decrypt(webhook.secret)
    if secret is None:
        return Outcome(None, "The signing secret cannot be read (SECRET_KEY changed): rotate it.")
    try:
        target = targets.check(webhook.target_url, bool(config["WEBHOOK_ALLOW_PRIVATE"]))
    except targets.TargetError as exc:
        return Outcome(None, str(exc))
    body = body_of(delivery)
    stamp = int(time.time())
    headers = {
        "Host": _host_header(target),
        "Content-Type": "application/json",
        "User-Agent": "crm-webhooks/1",
        "X-CRM-Event": delivery.event,
        "X-CRM-Delivery": str(delivery.id),
        "X-CRM-Timestamp": str(stamp),
        "X-CRM-Signature": signing.signature(secret, stamp, body),
    }
    limit = float(config["WEBHOOK_TIMEOUT_SECONDS"])
    connection = _connection(target, limit)
    expired = threading.Event()
    deadline = threading.Timer(limit, _cut, (connection, expired))
    deadline.start()
    try:
        connection.request("POST", target.path, body=body, headers=headers, preload_content=False)
        response = connection.getresponse()
        status = response.status
    except Exception as exc:  # whatever the receiver or the network does: a failed attempt
        deadline.cancel()
        connection.close()
        late = f" within {limit:g} s" if expired.is_set() else ""
        return Outcome(None, f"{type(exc).__name__}: no answer from {target.host}{late}")
    try:
        if 200 <= status < 300:
            return Outcome(status, None)  # taken: its body, if any, does not matter
        answer = response.read(200).decode("utf-8", "replace")  # enough to say what failed
    except Exception:
        answer = "(the answer broke off)"
    finally:
        deadline.cancel()
        connection.close()
    return Outcome(status, f"HTTP {status}: {answer}")


def record(
    session: DbSession, delivery: WebhookDelivery, outcome: Outcome, max_attempts: int
) -> bool:
    """The attempt's result: delivered, failed for good, or due again later.

    Written only while the claim is still this sender's (its ``locked_until``): a claim
    that ran out was taken by another sender, whose result is the one kept. Whether it
    was written.
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    values: dict[str, Any] = {
        "response_code": outcome.code,
        "last_error": outcome.error[:ERROR_LIMIT] if outcome.error else None,
        "locked_until": None,
    }
    if outcome.delivered:
        values |= {"status": "delivered", "delivered_at": now}
    elif delivery.attempts >= max_attempts:
        values["status"] = "failed"
    else:
        wait = FIRST_WAIT * 2 ** (delivery.attempts - 1)
        values |= {"status": "pending", "next_attempt_at": now + wait}
    done: Any = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.locked_until == delivery.locked_until,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount)


def send_due(session: DbSession, limit: int | None = None) -> int:
    """Send every delivery due now (up to ``limit``); how many were attempted.

    One claim per delivery, held a good while longer than an attempt may last, so a
    claim does not run out while its sender still works on it (a batch would: the last
    of it waits on every post before it). Whatever happens to one delivery (its webhook
    deleted meanwhile, a database hiccup), the next is still sent.
    """
    config = current_app.config
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    hold = int(config["WEBHOOK_TIMEOUT_SECONDS"]) + HOLD_MARGIN
    sent = 0
    while limit is None or sent < limit:
        delivery_id = session.scalar(CLAIM, {"hold": hold})
        session.commit()
        if delivery_id is None:
            break
        sent += 1
        try:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.webhook is None:  # deleted meanwhile
                continue
            record(session, delivery, post(delivery.webhook, delivery), max_attempts)
            session.commit()
        except SQLAlchemyError:
            session.rollback()
            log.exception("webhook delivery %s: its result could not be recorded", delivery_id)
    return sent


def kick(session: DbSession) -> None:
    """Queue the sender now (in the caller's transaction), unless one already waits."""
    job = {"queue": "default", "task": TASK, "lock": None, "queueing_lock": TASK, "args": "{}"}
    try:
        with session.begin_nested():
            session.execute(jobs.DEFER, job)  # as the trigger does: no title, no user
    except IntegrityError:
        pass  # one is waiting: it sends these too


def redeliver(session: DbSession, ids: list[int]) -> int:
    """Send these deliveries again, from a first attempt; how many."""
    done: int = session.execute(  # type: ignore[attr-defined]
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(
            status="pending",
            attempts=0,
            next_attempt_at=text("clock_timestamp()"),
            locked_until=None,
            last_error=None,
            response_code=None,
            delivered_at=None,
        )
    ).rowcount
    kick(session)
    return done


FORGET = text(
    """
    DELETE FROM webhook_deliveries
     WHERE id IN (SELECT id FROM webhook_deliveries
                   WHERE created_at < clock_timestamp() - make_interval(days => :days)
                     AND status IN ('delivered', 'failed')
                   ORDER BY created_at, id
                   LIMIT :batch)
    """
)
FORGET_BATCH = 5_000


def forget_old(session: DbSession, days: int) -> int:
    """Delete one batch of the log's finished deliveries older than ``days``; how many.

    Run each minute by the periodic sender: up to 7 million a day, in short transactions.
    Waiting ones are kept whatever their age.
    """
    result: Any = session.execute(FORGET, {"days": days, "batch": FORGET_BATCH})
    session.commit()
    return int(result.rowcount or 0)
