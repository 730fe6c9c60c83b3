"""Personal API tokens (issue 20, part 3): made, checked, listed and revoked.

A token is ``crm_`` and 43 random URL-safe characters (256 bits), shown once; the
database keeps its SHA-256 and its first 12 characters (``prefix``), which name it
in lists. Services here never commit: the view or command that calls them does.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from crm.extensions import DbSession
from crm.models import ApiToken, User
from crm.models.token import SCOPES
from crm.security.sessions import digest, utcnow

PREFIX = "crm_"
NAME_MAX = 100
MAX_DAYS = 365
DAY_CHOICES = (7, 30, 90, 365)  # the profile page's expiry choices
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often per token


class TokenError(ValueError):
    """A token that cannot be made, or a request whose token is refused (the message says why)."""


def check_request(name: str, scope: str, days: int) -> str:
    """The token's name, trimmed, if ``name``, ``scope`` and ``days`` are acceptable."""
    name = (name or "").strip()
    # Something visible: neither blank nor only zero-width characters (U+200B and kin).
    if not any(char.isprintable() and not char.isspace() for char in name):
        raise TokenError("Give the token a name, such as the tool that will use it.")
    if len(name) > NAME_MAX:
        raise TokenError(f"The name is {len(name)} characters long: at most {NAME_MAX}.")
    if scope not in SCOPES:
        raise TokenError(f"The scope {scope[:20]!r} is not one of: {', '.join(SCOPES)}.")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token lasts 1 to {MAX_DAYS} days, not {days}.")
    return name


def create(
    session: DbSession, user: User, name: str, scope: str, days: int
) -> tuple[ApiToken, str]:
    """A new token for ``user``: its row (flushed) and the secret, to show once."""
    name = check_request(name, scope, days)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name,
        scope=scope,
        token_hash=digest(secret),
        prefix=secret[:12],
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return row, secret


def parse(header: str | None) -> str:
    """The token an ``Authorization`` header carries, or TokenError saying what is wrong."""
    if not header:
        raise TokenError("Send a personal API token: Authorization: Bearer <token>.")
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise TokenError("Use the Bearer scheme: Authorization: Bearer <token>.")
    secret = parts[1]
    if not secret.startswith(PREFIX) or len(secret) > 200:
        raise TokenError("That is not a personal API token (they start with crm_).")
    return secret


@dataclass(frozen=True)
class Bearer:
    """Who a request's token speaks for, and the token."""

    user: User
    token: ApiToken


def authenticate(session: DbSession, header: str | None) -> Bearer:
    """The user and token an ``Authorization: Bearer …`` header names, or TokenError.

    Refused: no header, another scheme, an unknown token, a revoked or expired one,
    or one whose user is deactivated. Records the use (at most once a minute).
    """
    secret = parse(header)
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(secret))
    ).first()
    if found is None:
        raise TokenError("That token is not known: make a new one on your profile page.")
    token, user = found
    now = utcnow()
    if token.revoked_at is not None:
        raise TokenError("That token was revoked: make a new one on your profile page.")
    if token.expires_at <= now:
        raise TokenError("That token has expired: make a new one on your profile page.")
    if not user.is_active:
        raise TokenError("The account this token belongs to is deactivated.")
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        # An UPDATE that only moves last_used_at writes no audit row (migration 0041).
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        token.last_used_at = now
    return Bearer(user, token)


def owned(session: DbSession, user: User) -> list[ApiToken]:
    """``user``'s tokens, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def everyone(session: DbSession) -> list[tuple[ApiToken, User]]:
    """Every token with its owner, live ones first, newest first (for admins)."""
    live = ApiToken.revoked_at.is_(None) & (ApiToken.expires_at > utcnow())
    rows = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .order_by(live.desc(), ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [(token, user) for token, user in rows]


def revoke(session: DbSession, token_id: int, by: User, owner: User | None = None) -> bool:
    """Revoke a live token (only ``owner``'s, when given); False if none was revoked."""
    conditions = [ApiToken.id == token_id, ApiToken.revoked_at.is_(None)]
    if owner is not None:
        conditions.append(ApiToken.user_id == owner.id)
    done = session.execute(
        update(ApiToken).where(*conditions).values(revoked_at=utcnow(), revoked_by=by.id)
    )
    return bool(getattr(done, "rowcount", 0))
