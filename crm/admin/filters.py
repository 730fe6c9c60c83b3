"""List filters an index can serve: equality, ranges and dates (never ``contains``)."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from flask_admin.contrib.sqla import filters as f
from flask_login import current_user
from sqlalchemy import select

from crm.extensions import db
from crm.models import User, UserRole
from crm.sales import stages
from crm.search.query import parse
from crm.search.service import KINDS, matches
from crm.security import policy
from crm.web.ids import row_id

OWNER_ROLES = (UserRole.USER, UserRole.MANAGER, UserRole.ADMIN)


def _people() -> list[tuple[str, str]]:
    """Owners a person may filter by: everyone for most roles, themselves for a rep."""
    if not has_request_context() or not current_user.is_authenticated:
        return []  # Flask-Admin also asks once at start-up; options are per request
    if "filter_people" not in g:  # several person filters on one page share one query
        query = select(User.id, User.name).where(policy.row_filter(current_user, User))
        g.filter_people = [(str(i), n) for i, n in db.session.execute(query.order_by(User.name))]
    people: list[tuple[str, str]] = g.filter_people
    return people


def owners() -> list[tuple[str, str]]:
    """People who can own customers and leads: active reps, managers and admins."""
    query = (
        select(User.id, User.name)
        .where(User.is_active.is_(True), User.role.in_(OWNER_ROLES))
        .order_by(User.name)
    )
    return [(str(i), name) for i, name in db.session.execute(query)]


def active_stages() -> list[tuple[str, str]]:
    """Stages a lead can move to."""
    return [(str(i), name) for i, name in stages.names(db.session, active_only=True)]


def _stages() -> list[tuple[str, str]]:
    if not has_request_context():
        return []  # Flask-Admin also asks once at start-up; options are per request
    return [(str(i), name) for i, name in stages.names(db.session)]


class IdEqualFilter(f.IntEqualFilter):
    """Rows whose id column equals the value; an id no row can have is invalid.

    Flask-Admin's own check lets 99999999999 through, and the query then fails.
    """

    def validate(self, value: str) -> bool:
        return row_id(value) is not None


def person(column: Any, name: str) -> IdEqualFilter:
    """Rows whose user column is the chosen person (a select of names)."""
    return IdEqualFilter(column, name, options=_people)


def stage(column: Any) -> IdEqualFilter:
    """Rows in the chosen lead stage."""
    return IdEqualFilter(column, "Stage", options=_stages)


class OneOf:
    """A filter whose value must be one of its fixed options.

    Anything else ("bogus" as a task status) is refused before a query is built:
    Flask-Admin says "Invalid Filter Value" above the list and drops the filter,
    where an enum column's cast used to fail in the database (HTTP 500).
    """

    options: list[tuple[str, str]]

    def validate(self, value: str) -> bool:
        return any(value == option for option, _label in self.options)


class ChoiceFilter(OneOf, f.FilterEqual):
    """Rows whose text column equals one of a fixed set of values."""


class EnumFilter(OneOf, f.EnumEqualFilter):
    """Rows with the chosen value of a PostgreSQL enum column."""


def choice(column: Any, name: str, values: tuple[str, ...]) -> ChoiceFilter:
    """Rows whose text column equals one of a fixed set of values."""
    return ChoiceFilter(column, name, options=[(value, value) for value in values])


def enum(column: Any, name: str) -> EnumFilter:
    """Rows with the chosen value of a PostgreSQL enum column."""
    members = column.type.enum_class
    return EnumFilter(column, name, options=[(m.name, m.value) for m in members])


def dates(column: Any, name: str) -> f.DateTimeBetweenFilter:
    """Rows whose timestamp falls in a range."""
    return f.DateTimeBetweenFilter(column, name)


def day_range(column: Any, name: str) -> f.DateBetweenFilter:
    """Rows whose date falls in a range."""
    return f.DateBetweenFilter(column, name)


def number_range(column: Any, name: str) -> list[Any]:
    """Greater-than and smaller-than filters: together, a range (keys ``amount_min``…)."""
    above, below = f.FloatGreaterFilter(column, name), f.FloatSmallerFilter(column, name)
    above.key, below.key = f"{column.key}_min", f"{column.key}_max"
    return [above, below]


def key_of(flt: Any) -> str | None:
    """A filter's stable name: its own ``key``, else its column's (never its label)."""
    own = getattr(flt, "key", None)
    if own:
        return str(own)
    column = getattr(flt, "column", None)
    return getattr(column, "key", None)


def parent(column: Any, name: str) -> IdEqualFilter:
    """Rows of one parent record (e.g. a customer's leads, a record's audit rows)."""
    return IdEqualFilter(column, name)


class FullTextFilter(f.BaseSQLAFilter):
    """Rows matching a global-search query (the search page's "see all" links here)."""

    key = "text"

    def __init__(self, kind: str) -> None:
        self.kind = next(k for k in KINDS if k.key == kind)
        super().__init__(self.kind.model.id, "Text")

    def validate(self, value: str) -> bool:
        return not parse(value).empty

    def apply(self, query: Any, value: str, alias: Any = None) -> Any:
        return query.filter(matches(self.kind, parse(value)))

    def operation(self) -> str:
        return "matches"


def text(kind: str) -> FullTextFilter:
    """Rows matching a search, through the kind's full-text index (filter key ``text``)."""
    return FullTextFilter(kind)
