"""Keyset pages: ``?after=<cursor>&limit=N``, by id, never counting a table.

A cursor names the last row of a page (its id, encoded so clients treat it as
opaque); the next page is the rows past it in the list's order. Unlike an offset,
a cursor page costs the same deep in a million rows, and rows added meanwhile
neither repeat nor skip one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate
from sqlalchemy import ColumnElement, Select, select, union

from crm.admin.fast_list import probed
from crm.extensions import DbSession
from crm.web.ids import row_id

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
BAD_CURSOR = "Not a cursor this API gave: start again without ?after=, then follow 'next'."


def encode(last_id: int) -> str:
    """The cursor after the row ``last_id``."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


class Cursor(fields.String):
    """``?after=``: a cursor from a previous page's ``next``, read back into an id."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationError(BAD_CURSOR) from None
        found = row_id(decoded.removeprefix("id:")) if decoded.startswith("id:") else None
        if found is None:
            raise ValidationError(BAD_CURSOR)
        return found


def arguments() -> dict[str, fields.Field[Any]]:
    """The query arguments every list takes."""
    return {
        "after": Cursor(metadata={"description": "The 'next' of the page before."}),
        "limit": fields.Integer(
            load_default=DEFAULT_LIMIT,
            validate=validate.Range(
                min=1, max=MAX_LIMIT, error=f"A page holds 1 to {MAX_LIMIT} rows."
            ),
            metadata={"description": f"Rows per page (default {DEFAULT_LIMIT})."},
        ),
    }


def page(
    session: DbSession,
    model: Any,
    conditions: list[ColumnElement[bool]],
    branches: list[ColumnElement[bool]],
    after: int | None,
    limit: int,
    ascending: bool,
) -> tuple[list[Any], str | None]:
    """One page of ``model`` rows matching ``conditions`` and any of ``branches``.

    When the row rule is an OR (a rep's tasks: theirs or assigned to them), each
    part's first ids are read on their own index and merged, as the list pages do
    (crm/admin/fast_list.py); one OR would leave PostgreSQL a walk of the whole table.
    """
    key = model.id
    order = key.asc() if ascending else key.desc()
    if after is not None:
        conditions = [*conditions, key > after if ascending else key < after]
    if len(branches) == 1:
        statement: Select[Any] = (
            select(model).where(*conditions, branches[0]).order_by(order).limit(limit + 1)
        )
        rows = list(session.scalars(statement))
    else:
        firsts = [
            select(key.label("id"))
            .where(*conditions, probed(session, branch, limit + 1))
            .order_by(order)
            .limit(limit + 1)
            for branch in branches
        ]
        merged = union(*firsts).subquery()
        picked = merged.c.id.asc() if ascending else merged.c.id.desc()
        ids = select(merged.c.id).order_by(picked).limit(limit + 1)
        rows = list(session.scalars(select(model).where(key.in_(ids)).order_by(order)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode(rows[-1].id) if more else None
