"""Sending due deliveries: claim, sign, post, record; retry later with exponential backoff.

Any number of senders share the work: each claims a batch (``FOR UPDATE SKIP
LOCKED``), marks it ``sending`` for a while, and commits before posting, so no
transaction stays open across the network. A sender that dies leaves its claims to
run out; the next sender takes them again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import urllib3
from flask import current_app
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from crm.extensions import DbSession
from crm.jobs import queue as jobs
from crm.models import Webhook, WebhookDelivery
from crm.webhooks import signing, targets

TASK = "crm.webhooks.send"
BATCH = 50
HOLD_SECONDS = 120  # a claim longer than a delivery's timeouts: then it is free again
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
                     LIMIT :batch
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


def post(webhook: Webhook, delivery: WebhookDelivery) -> Outcome:
    """One attempt: sign the body and post it to the checked address."""
    config = current_app.config
    secret = signing.decrypt(webhook.secret)
    if secret is None:
        return Outcome(None, "The signing secret cannot be read (SECRET_KEY changed): rotate it.")
    try:
        target = targets.check(webhook.target_url, bool(config["WEBHOOK_ALLOW_PRIVATE"]))
    except targets.TargetError as exc:
        return Outcome(None, str(exc))
    body = body_of(delivery)
    stamp = int(time.time())
    default_port = target.port == (443 if target.scheme == "https" else 80)
    headers = {
        "Host": target.host if default_port else f"{target.host}:{target.port}",
        "Content-Type": "application/json",
        "User-Agent": "crm-webhooks/1",
        "X-CRM-Event": delivery.event,
        "X-CRM-Delivery": str(delivery.id),
        "X-CRM-Timestamp": str(stamp),
        "X-CRM-Signature": signing.signature(secret, stamp, body),
    }
    timeout = urllib3.Timeout(connect=5, read=float(config["WEBHOOK_TIMEOUT_SECONDS"]))
    pool: Any
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address, target.port, timeout=timeout, retries=False,
            server_hostname=target.host, assert_hostname=target.host,
        )  # fmt: skip
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False
        )
    try:
        response = pool.urlopen(
            "POST", target.path, body=body, headers=headers, redirect=False,
            assert_same_host=False, preload_content=False,
        )  # fmt: skip
        answer = response.read(200, decode_content=False).decode("utf-8", "replace")
        response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: could not reach {target.host}")
    finally:
        pool.close()
    ok = 200 <= response.status < 300
    return Outcome(response.status, None if ok else f"HTTP {response.status}: {answer}")


def record(delivery: WebhookDelivery, outcome: Outcome, max_attempts: int) -> None:
    """The attempt's result on the row: delivered, failed for good, or due again later."""
    now = datetime.now(UTC).replace(tzinfo=None)
    delivery.response_code = outcome.code
    delivery.last_error = outcome.error[:ERROR_LIMIT] if outcome.error else None
    delivery.locked_until = None
    if outcome.delivered:
        delivery.status, delivery.delivered_at = "delivered", now
    elif delivery.attempts >= max_attempts:
        delivery.status = "failed"
    else:
        delivery.status = "pending"
        delivery.next_attempt_at = now + FIRST_WAIT * 2 ** (delivery.attempts - 1)


def send_due(session: DbSession, limit: int | None = None) -> int:
    """Send every delivery due now (up to ``limit``); how many were attempted."""
    max_attempts = int(current_app.config["WEBHOOK_MAX_ATTEMPTS"])
    sent = 0
    while limit is None or sent < limit:
        batch = BATCH if limit is None else min(BATCH, limit - sent)
        claimed = list(session.scalars(CLAIM, {"hold": HOLD_SECONDS, "batch": batch}))
        session.commit()
        if not claimed:
            break
        for delivery_id in claimed:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:  # its webhook was deleted meanwhile
                continue
            record(delivery, post(delivery.webhook, delivery), max_attempts)
            session.commit()
            sent += 1
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
