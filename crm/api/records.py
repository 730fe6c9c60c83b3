"""List, read, create, update and delete one kind of record: the same rules as the pages.

Every endpoint asks crm/security/policy.py, as the admin views do: a role the
matrix does not allow gets 403, a row the caller may not read is a 404 (whether
it exists or not), a related row they may not read is refused by field. Writes go
through the ORM, so the database's audit trigger records them with the token's
owner as the actor (crm/audit/context.py notes the token too).

Updates are optimistic: a read answers with an ``ETag`` (the row's version,
migration 0008); PATCH and DELETE must send it back as ``If-Match``, and a row
changed since is a 412, never a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request
from flask_login import current_user
from flask_smorest import abort
from marshmallow import Schema
from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import DataError, IntegrityError

from crm.admin.access import NOT_AVAILABLE
from crm.admin.base import CONSTRAINT_MESSAGES
from crm.api.errors import json_error
from crm.extensions import db
from crm.search.kinds import Kind, matches
from crm.search.query import parse
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.web.ids import MAX_ID

# A refused constraint -> the field it is about (the forms show it there).
CONSTRAINT_FIELDS = {
    "uk_users_email": "email",
    "uk_customers_name_company": "name",
    "chk_customers_email": "email",
    "chk_customers_industry": "industry",
    "chk_leads_probability": "probability",
    "chk_leads_amount": "amount",
    "chk_interactions_duration": "duration_minutes",
    "chk_lead_stages_rotting_days": "rotting_days",
}
NOT_YOURS = "Sales reps cannot give a record to someone else: leave this out."
Filter = Callable[[Any], ColumnElement[bool]]


class Refused(Exception):
    """Input the database or a rule refused: a JSON error with fields, nothing saved."""

    def __init__(self, errors: dict[str, list[str]], code: int = 422) -> None:
        super().__init__(errors)
        self.errors = errors
        self.code = code


@dataclass(frozen=True)
class Served:
    """One kind of record the API serves, and how."""

    name: str  # its address (/api/v1/<name>) and blueprint
    description: str
    model: Any
    resource: Resource
    out: type[Schema]
    into: type[Schema] | None = None  # None: read-only
    filters: Mapping[str, tuple[Any, Filter]] = field(default_factory=dict)
    search: Kind | None = None
    owner: str | None = None  # the column a sales rep may not choose
    references: Mapping[str, Any] = field(default_factory=dict)  # column -> model
    deletes: bool = True
    ascending: bool = False
    # Before a write: the row, the input and whether it is new; may raise Refused.
    prepare: Callable[[Any, dict[str, Any], bool], None] | None = None
    # Before a delete: a sentence why not (409), or None.
    keep: Callable[[Any], str | None] | None = None


def etag(row: Any) -> str:
    """A row's entity tag: its table, id and version (bumped by every change)."""
    version = getattr(row, "version", 1)  # audit rows never change
    return f'"{row.__tablename__}-{row.id}-v{version}"'


def need(resource: Resource, action: Action) -> None:
    """403 unless the caller's role may do ``action`` on ``resource``."""
    if not policy.allowed(current_user, resource, action):
        abort(403, message="Your role may not do this.")


def readable(kind: Served, row_id: int, lock: bool = False) -> Any:
    """The row if the caller may read it, else a 404 that says nothing more."""
    if row_id > MAX_ID:  # no row has it (and PostgreSQL's integer could not hold it)
        abort(404, message=f"No {kind.name} record {row_id} that you can read.")
    query = select(kind.model).where(
        kind.model.id == row_id, policy.row_filter(current_user, kind.model)
    )
    row = db.session.scalar(query.with_for_update() if lock else query)
    if row is None:
        abort(404, message=f"No {kind.name} record {row_id} that you can read.")
    return row


def check_version(row: Any) -> None:
    """428 without ``If-Match``, 412 when it is not the row's current ETag."""
    sent = request.headers.get("If-Match", "").strip()
    if not sent or sent == "*":
        abort(
            428,
            message="Send If-Match with the ETag of your last read of this record (GET it first), "
            "so a change made since is not overwritten unseen.",
        )
    if not request.if_match.contains(etag(row).strip('"')):
        abort(
            412,
            message="Changed since you read it: GET it again, check the change, then "
            f"retry with its new ETag {etag(row)}.",
            headers={"ETag": etag(row)},
        )


def _owner_rule(kind: Served, row: Any, data: dict[str, Any], is_new: bool) -> None:
    """A rep's rows are theirs: set on new ones, never handed over; others default to them."""
    if kind.owner is None:
        return
    me = current_user.id
    if policy.sees_all_rows(current_user):
        if is_new and data.get(kind.owner) is None:
            data[kind.owner] = me
        return
    keeps = me if is_new else getattr(row, kind.owner)
    if kind.owner in data and data[kind.owner] != keeps:
        raise Refused({kind.owner: [NOT_YOURS]})
    data[kind.owner] = keeps


def _references(kind: Served, data: dict[str, Any]) -> None:
    """Every related row named must be one the caller may read (the pickers' rule)."""
    errors = {
        name: [NOT_AVAILABLE]
        for name, model in kind.references.items()
        if data.get(name) is not None
        and not policy.readable_count(db.session, current_user, model, [data[name]])
    }
    if errors:
        raise Refused(errors)


def save(kind: Served, row: Any, data: dict[str, Any], is_new: bool) -> None:
    """Check and write ``data`` onto ``row``; a refusal rolls back and raises Refused."""
    _owner_rule(kind, row, data, is_new)
    _references(kind, data)
    if kind.prepare is not None:
        kind.prepare(row, data, is_new)
    for name, value in data.items():
        setattr(row, name, value)
    if is_new:
        db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
        message = CONSTRAINT_MESSAGES.get(
            constraint, "The database refused the change (it conflicts with other records)."
        )
        if constraint in CONSTRAINT_FIELDS:
            raise Refused({CONSTRAINT_FIELDS[constraint]: [message]}) from None
        raise Refused({"_schema": [message]}, code=409) from None
    except DataError:
        db.session.rollback()
        raise Refused(
            {"_schema": ["A value does not fit its field (too long, too large or malformed)."]}
        ) from None


def refused(exc: Refused) -> Response:
    """A refused write, as the API's JSON error: by field, nothing saved."""
    message = (
        "Not saved: it conflicts with the current data."
        if exc.code == 409
        else "Not saved: check the fields named in 'errors'."
    )
    return json_error(exc.code, message, errors={"json": exc.errors})


def conditions(kind: Served, args: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE clauses for a list's filters and ``?q=``."""
    found = [kind.filters[name][1](value) for name, value in args.items() if name in kind.filters]
    words = args.get("q")
    if words is not None and kind.search is not None:
        query = parse(words)
        if query.empty:
            empty = "Type words to search for: letters or digits, not only punctuation."
            abort(422, errors={"query": {"q": [empty]}})
        found.append(matches(kind.search, query))
    return found
