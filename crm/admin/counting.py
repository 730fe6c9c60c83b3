"""List counts that stay fast at millions of rows, and say so when they are not exact.

An unfiltered list of a big table takes the planner's row estimate (pg_class,
kept current by autovacuum's ANALYZE) instead of COUNT(*), which reads the whole
table. A filtered or searched list counts exactly up to CAP matching rows, through
the same indexes the page uses; past that it takes the planner's estimate for the
filtered query (EXPLAIN), never less than CAP + 1. The label says which:
"about 111,000" or the exact number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Query, Session

CAP = 1_000


class Kind(enum.Enum):
    """How a count was obtained."""

    EXACT = "exact"
    ESTIMATE = "estimate"


@dataclass(frozen=True)
class Count:
    """A number of rows and how far to trust it."""

    value: int
    kind: Kind = Kind.EXACT

    def label(self) -> str:
        """What the list tab shows."""
        if self.kind is Kind.ESTIMATE:
            return f"about {self.value:,}"
        return f"{self.value:,}"


def estimated_rows(session: Session, table: str) -> int | None:
    """The planner's estimate of the table's rows, or None if it was never analysed."""
    estimate = session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": table},
    ).scalar()
    return None if estimate is None or estimate < 0 else int(estimate)


def _ids(query: Query, model: type) -> Query:
    """The query reduced to the rows' ids (keeps its FROM, filters and joins)."""
    return query.with_entities(model.id).order_by(None)


def _explain_instead(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    """Prefix EXPLAIN to a statement run with the ``crm_explain`` option.

    The statement goes through SQLAlchemy's own compilation, caching and bind
    processing (enums, inet…), so its plan is that of the very query the list
    runs, and no value is ever pasted into SQL text.
    """
    if context is not None and context.execution_options.get("crm_explain"):
        statement = "EXPLAIN (FORMAT JSON) " + statement
    return statement, parameters


event.listen(Engine, "before_cursor_execute", _explain_instead, retval=True)


def planner_estimate(query: Query, model: type) -> int:
    """The planner's row estimate for the query (EXPLAIN: planned, not run)."""
    statement = _ids(query, model).statement
    plan = (
        query.session.connection()
        .execute(statement, execution_options={"crm_explain": True})
        .scalar_one()
    )
    return int(plan[0]["Plan"]["Plan Rows"])


def count(
    session: Session, model: type, query: Query, whole_table: bool, fenced: bool = False
) -> Count:
    """The count a list page shows for ``query`` (already filtered and searched).

    ``fenced``: the query has a text search, whose match estimates are rough.
    """
    if whole_table:
        estimate = estimated_rows(session, model.__tablename__)
        if estimate is not None and estimate > CAP:
            return Count(estimate, Kind.ESTIMATE)
    if fenced:
        # A search's matches in a MATERIALIZED CTE, read only as far as the cap: the
        # planner plans them as "all matches" (the trigram indexes), never as "the
        # first 1,001 rows of a sequential scan", a bet that loses badly when the
        # matches are fewer than the statistics suggest (860 ms instead of 20 seen).
        matches = _ids(query, model).cte("matches").prefix_with("MATERIALIZED")
        limited = select(matches.c.id).limit(CAP + 1).subquery()
    else:  # equality and range filters: their btree estimates are good
        limited = _ids(query, model).limit(CAP + 1).subquery()
    exact = session.query(func.count()).select_from(limited).scalar() or 0
    if exact <= CAP:
        return Count(exact)
    return Count(max(planner_estimate(query, model), CAP + 1), Kind.ESTIMATE)
