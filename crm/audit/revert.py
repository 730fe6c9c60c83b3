"""Revert a recorded change: a service (session in, outcome out).

An UPDATE entry puts the record's changed fields back to their values before the
change; a DELETE entry re-creates the record with its old id and values. The
values go through ``jsonb_populate_record``, so PostgreSQL turns the recorded
JSON back into each column's type. The revert is an ordinary write, so the audit
trigger records it like any other change, attributed to whoever reverted.

It runs in a savepoint: when a constraint blocks it (the customer a lead pointed
to is gone, the name is taken again…) nothing changes and the message says which.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from crm.extensions import DbSession
from crm.models import (
    AuditLog,
    Customer,
    ExchangeRate,
    Interaction,
    Lead,
    LeadStage,
    Task,
    User,
)

AUDITED = {
    model.__tablename__: model
    for model in (User, Customer, LeadStage, Lead, Task, Interaction, ExchangeRate)
}
REVERTIBLE = ("UPDATE", "DELETE")


class RevertError(Exception):
    """The change cannot be reverted; the message says why and what to do."""


@dataclass(frozen=True)
class Reverted:
    """What the revert did, for the person who asked."""

    table: str
    record_id: int
    fields: tuple[str, ...]
    recreated: bool

    def message(self) -> str:
        """One line for the flash message."""
        if self.recreated:
            return f"Re-created {self.table} #{self.record_id} as it was before it was deleted."
        return f"Put back {', '.join(self.fields)} of {self.table} #{self.record_id}."


def in_column_order(table: str, names: list[str]) -> list[str]:
    """Field names in the table's column order (JSONB keeps keys sorted by length)."""
    model = AUDITED.get(table)
    if model is None:
        return names
    order = {name: n for n, name in enumerate(model.__table__.columns.keys())}
    return sorted(names, key=lambda name: (order.get(name, len(order)), name))


def can_revert(entry: AuditLog) -> bool:
    """Whether an entry is a change that revert knows how to undo."""
    return entry.table_name in AUDITED and entry.action in REVERTIBLE and bool(entry.old_values)


def revert(
    session: DbSession, entry: AuditLog, messages: Mapping[str, str] | None = None
) -> Reverted:
    """Undo ``entry`` (an UPDATE or DELETE of an audited table); RevertError if it cannot.

    ``messages`` words a refusal by constraint name (the admin's form messages).
    """
    if not can_revert(entry):
        raise RevertError("Only updates and deletions of records can be reverted.")
    assert entry.old_values is not None  # can_revert: it has some
    table = entry.table_name
    columns = set(AUDITED[table].__table__.columns.keys())
    fields = tuple(
        name
        for name in in_column_order(table, list(entry.old_values))
        if name in columns and name != "id"
    )
    if not fields:
        raise RevertError("This change recorded no fields that can be put back.")
    quoted = ", ".join(f'"{name}"' for name in fields)
    params = {"id": entry.record_id}
    exists = session.execute(
        text(f"SELECT 1 FROM {table} WHERE id = :id"), {"id": entry.record_id}
    ).first()
    if entry.action == "DELETE":
        if exists:
            raise RevertError(f"{table} #{entry.record_id} exists again; nothing to re-create.")
        statement = (
            f"INSERT INTO {table} (id, {quoted}) SELECT CAST(:id AS integer), {quoted} "
            f"FROM jsonb_populate_record(NULL::{table}, CAST(:old AS jsonb))"
        )
    else:
        if not exists:
            raise RevertError(
                f"{table} #{entry.record_id} has been deleted since; re-create it from its "
                "deletion in the history first."
            )
        statement = (
            f"UPDATE {table} SET ({quoted}) = (SELECT {quoted} "
            f"FROM jsonb_populate_record(NULL::{table}, CAST(:old AS jsonb))) WHERE id = :id"
        )
    try:
        with session.begin_nested():
            session.execute(text(statement), {**params, "old": json.dumps(entry.old_values)})
    except IntegrityError as exc:
        raise RevertError(_blocked_by(exc, messages or {})) from None
    except DataError:
        raise RevertError(
            "The recorded values no longer fit the table's columns, so they cannot be put back."
        ) from None
    return Reverted(table, entry.record_id, fields, recreated=entry.action == "DELETE")


def _blocked_by(exc: IntegrityError, messages: Mapping[str, str]) -> str:
    """Which constraint refused the revert, in words."""
    diag = getattr(exc.orig, "diag", None)
    if getattr(diag, "column_name", None) == "password_hash":
        return (
            "Not reverted: a deleted user cannot be re-created from the audit log, because "
            "passwords are never recorded. Create the user again instead."
        )
    name = getattr(diag, "constraint_name", None) or "a constraint"
    detail = getattr(diag, "message_detail", None) or getattr(diag, "message_primary", "")
    reason = messages.get(name) or f"the database constraint {name} blocks it. {detail}"
    return f"Not reverted: {reason}".strip()
