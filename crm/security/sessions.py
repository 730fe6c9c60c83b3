"""One database row per signed-in browser (``user_sessions``, migration 0031).

The signed cookie holds ``<row id>:<secret>``; the row holds the secret's SHA-256.
Every request loads the user through the row (one statement), so deleting the
row ends that session on the next request, on every worker and machine.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import ColumnElement, delete, or_, select, update

from crm.audit import context as audit
from crm.extensions import db
from crm.models import User, UserSession


def utcnow() -> datetime:
    """Now, as the naive UTC the TIMESTAMP columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def digest(secret: str) -> str:
    """The SHA-256 (hex) the database keeps of a random secret (sessions, API tokens)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create(user: User) -> str:
    """A new session row for ``user`` from this request; the key its cookie keeps."""
    secret = secrets.token_urlsafe(32)
    # Sessions left to expire (never signed out) go when their user signs in again.
    db.session.execute(delete(UserSession).where(UserSession.user_id == user.id, _expired()))
    where = audit.actor()
    row = UserSession(
        user_id=user.id,
        secret_hash=digest(secret),
        ip_address=where["ip"] or None,
        user_agent=(where["user_agent"] or "")[:1000] or None,
    )
    db.session.add(row)
    db.session.flush()
    return f"{row.id}:{secret}"


def load(key: str) -> tuple[User, UserSession] | None:
    """The active user and session row ``key`` names, or None (ended, forged, inactive)."""
    row_id, _, secret = key.partition(":")
    if not row_id.isdigit() or not secret or len(row_id) > 18:
        return None
    found = db.session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.id == int(row_id))
    ).first()
    if found is None:
        return None
    user, row = found
    if not hmac.compare_digest(row.secret_hash, digest(secret)) or not user.may_sign_in:
        return None
    return user, row


def seen(session_id: int) -> None:
    """Stamp the session's last request (the caller does this at most once a minute)."""
    db.session.execute(
        update(UserSession).where(UserSession.id == session_id).values(last_seen_at=utcnow())
    )


def _expired() -> ColumnElement[bool]:
    """Rows past the idle or absolute limit: their cookies no longer sign anyone in."""
    config = current_app.config
    now = utcnow()
    return or_(
        UserSession.last_seen_at < now - timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
        UserSession.created_at < now - timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]),
    )


def active(user_id: int) -> list[UserSession]:
    """The user's live sessions, most recently seen first (expired rows are deleted)."""
    db.session.execute(delete(UserSession).where(UserSession.user_id == user_id, _expired()))
    return list(
        db.session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def end(user_id: int, session_id: int) -> bool:
    """End one of the user's sessions; False if there was no such session of theirs."""
    gone = db.session.execute(
        delete(UserSession)
        .where(UserSession.user_id == user_id, UserSession.id == session_id)
        .returning(UserSession.id)
    ).first()
    return gone is not None


def end_all(user_id: int, keep: int | None = None) -> int:
    """End every session of the user (but ``keep``); how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    return len(db.session.execute(query.returning(UserSession.id)).all())
