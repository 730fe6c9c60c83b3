"""Who and where for the audit trail, and the sign-in events it records.

The database writes the audit rows (migration 0010); the app tells it who is
acting. Before the first write of each transaction, the session runs
``set_config('crm.user_id' | 'crm.ip' | 'crm.user_agent', …, true)``:
transaction-local, so nothing carries over to the next transaction on a pooled
connection. Reads set nothing, so a list page costs no extra statement.

In a request the user is the signed-in one and the IP is the request's remote
address (``X-Forwarded-For`` only counts behind ``TRUSTED_PROXY_COUNT`` proxies,
applied by ProxyFix in crm/__init__.py). A CLI command is recorded with no user
and the user agent ``cli: <command>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import click
from flask import Flask, g, has_request_context, request
from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import TextClause

from crm.extensions import DbSession, db
from crm.models import AuditLog

_FLAG = "crm_audit_context"
USER_AGENT_LIMIT = 500
# Raw SQL that starts like this writes no rows (SET: a setting of this transaction).
READ_ONLY_SQL = ("SELECT", "EXPLAIN", "SHOW", "SET ")
SET_CONTEXT = text(
    "SELECT set_config('crm.user_id', :user_id, true), set_config('crm.ip', :ip, true), "
    "set_config('crm.user_agent', :user_agent, true)"
)


# A background job acts for the person who asked for it (crm/jobs/): their id, and the
# address and browser of the request that asked.
_acting: ContextVar[dict[str, str] | None] = ContextVar("crm_audit_acting", default=None)


@contextmanager
def acting_as(user_id: int | None, ip: str | None, user_agent: str | None) -> Iterator[None]:
    """Inside this block, every write is recorded as that person's, from that request."""
    token = _acting.set(
        {
            "user_id": str(user_id or ""),
            "ip": ip or "",
            "user_agent": (user_agent or "")[:USER_AGENT_LIMIT],
        }
    )
    try:
        yield
    finally:
        _acting.reset(token)


def actor() -> dict[str, str]:
    """The settings for this transaction: user id, IP and user agent ('' when unknown)."""
    if (acting := _acting.get()) is not None:
        return acting
    if has_request_context():
        user = g.get("_login_user")  # only if Flask-Login loaded one: never load here
        user_id = user.id if user is not None and user.is_authenticated else ""
        agent = request.user_agent.string
        token = g.get("api_token")
        if token is not None:  # the audit row notes which token made an API change
            agent = f"API token #{token.id} ({token.prefix}…) {agent}".rstrip()
        agent = agent[:USER_AGENT_LIMIT]
        return {"user_id": str(user_id), "ip": request.remote_addr or "", "user_agent": agent}
    command = click.get_current_context(silent=True)
    names: list[str] = []
    while command is not None and command.parent is not None:  # the root is `flask`
        names.insert(0, command.info_name or "")
        command = command.parent
    return {"user_id": "", "ip": "", "user_agent": f"cli: {' '.join(names)}" if names else ""}


def set_context(session: DbSession) -> None:
    """Tell the database who acts, once per transaction, before its first write."""
    if session.info.get(_FLAG):
        return
    connection = session.connection()  # begins the transaction first (after_begin)
    session.info[_FLAG] = True
    connection.execute(SET_CONTEXT, actor())


def _new_transaction(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info.pop(_FLAG, None)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    set_context(session)


def _before_statement(state: ORMExecuteState) -> None:
    """Writes through ``session.execute`` (bulk UPDATE/DELETE, raw SQL) carry the context too."""
    if state.is_select:
        return
    statement = state.statement
    if isinstance(statement, TextClause) and str(statement).lstrip().upper().startswith(
        READ_ONLY_SQL
    ):
        return
    set_context(state.session)


def record_sign_in(
    action: str,
    user_id: int | None,
    actor_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An audit row for an account event (docs/security.md lists them): LOGIN, LOGOUT...

    ``user_id`` is the account concerned (0 when no account has the email typed:
    nothing typed is stored, in case it was a password); ``actor_id`` is who did
    it, when known; ``details`` (never a secret) go in ``new_values``.
    """
    where = actor()
    db.session.add(
        AuditLog(
            table_name="users",
            record_id=user_id or 0,
            action=action,
            user_id=actor_id,
            new_values=details,
            ip_address=where["ip"] or None,
            user_agent=where["user_agent"] or None,
        )
    )


def init_app(app: Flask) -> None:
    """Hook the session so every write carries who and where."""
    if not event.contains(Session, "after_begin", _new_transaction):
        event.listen(Session, "after_begin", _new_transaction)
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _before_statement)
