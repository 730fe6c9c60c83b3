"""Audit rows as a person reads them: field names, names for ids, the browser in brief.

The trail stores columns and raw values (``stage_id`` 4 → 3, ``owner_id`` 1, a
whole user-agent string). Pages show "Stage: Proposal → Qualified", "Owner: Ana
Ruiz" and "Chrome on Linux", with the raw value on hover; exports keep the raw
values. Names are looked up once per page: one query per kind of record named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import select
from ua_parser import parse

from crm.audit.revert import AUDITED
from crm.extensions import DbSession
from crm.models import AuditLog, Customer, Lead, LeadStage, Task, User

# Referenced tables whose rows are named on history pages, and how.
NAMED: dict[str, tuple[type[Any], Any]] = {
    "users": (User, User.name),
    "customers": (Customer, Customer.name),
    "leads": (Lead, Lead.title),
    "lead_stages": (LeadStage, LeadStage.name),
    "tasks": (Task, Task.title),
}


def field_label(table: str, column: str) -> str:
    """A column as a person reads it: ``stage_id`` -> "Stage", ``postal_code`` -> "Postal code"."""
    model = AUDITED.get(table)
    if model is not None and column in model.__table__.columns:
        info = model.__table__.columns[column].info
        if "label" in info:
            return str(info["label"])
    words = column.removesuffix("_id").replace("_", " ")
    return words[:1].upper() + words[1:]


@cache
def references(table: str) -> dict[str, str]:
    """Columns of ``table`` that hold another row's id -> that row's table."""
    model = AUDITED.get(table)
    if model is None:
        return {}
    found = {}
    for column in model.__table__.columns:
        for key in column.foreign_keys:
            if key.column.table.name in NAMED:
                found[column.name] = key.column.table.name
    return found


class Names:
    """The names of every row the given audit entries refer to, fetched together."""

    def __init__(self, session: DbSession, entries: Iterable[AuditLog]) -> None:
        wanted: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            refs = references(entry.table_name)
            for values in (entry.old_values or {}, entry.new_values or {}):
                for column, target in refs.items():
                    if isinstance(values.get(column), int):
                        wanted[target].add(values[column])
        self._names: dict[tuple[str, int], str] = {}
        for target, ids in wanted.items():
            model, label = NAMED[target]
            rows = session.execute(select(model.id, label).where(model.id.in_(ids)))
            self._names.update(((target, row_id), str(name)) for row_id, name in rows)

    def name(self, table: str, column: str, value: Any) -> str | None:
        """The referenced row's name, "#4 (deleted)" if it is gone; None for a plain field."""
        target = references(table).get(column)
        if target is None or not isinstance(value, int):
            return None
        return self._names.get((target, value), f"#{value} (deleted)")


@lru_cache(maxsize=1024)
def browser(user_agent: str | None) -> str:
    """A user-agent string in brief: "Chrome on Linux", "curl", or "" when unknown."""
    if not user_agent:
        return ""
    result = parse(user_agent)
    agent = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os and result.os.family != "Other" else ""
    if not agent or agent == "Other":
        return "Unknown browser" + (f" on {system}" if system else "")
    return f"{agent} on {system}" if system else agent
