"""List counts that stay fast at millions of rows, and say so when they are not exact.

An unfiltered list of a big table takes the planner's row estimate (from
pg_class, kept current by autovacuum's ANALYZE) instead of COUNT(*), which reads
the whole table. A filtered or searched list counts at most CAP + 1 matching rows
through the same indexes the page uses. The label says which: "about 1,000,000",
"more than 10,000", or the exact number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import func, literal_column, text
from sqlalchemy.orm import Query, Session

CAP = 10_000


class Kind(enum.Enum):
    """How a count was obtained."""

    EXACT = "exact"
    ESTIMATE = "estimate"
    AT_LEAST = "at least"


@dataclass(frozen=True)
class Count:
    """A number of rows and how far to trust it."""

    value: int
    kind: Kind = Kind.EXACT

    def label(self) -> str:
        """What the list tab shows."""
        if self.kind is Kind.ESTIMATE:
            return f"about {self.value:,}"
        if self.kind is Kind.AT_LEAST:
            return f"more than {CAP:,}"
        return f"{self.value:,}"


def estimated_rows(session: Session, table: str) -> int | None:
    """The planner's estimate of the table's rows, or None if it was never analysed."""
    estimate = session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": table},
    ).scalar()
    return None if estimate is None or estimate < 0 else int(estimate)


def capped(query: Query) -> Count:
    """Count the query's rows, stopping after CAP + 1."""
    limited = query.with_entities(literal_column("1")).order_by(None).limit(CAP + 1).subquery()
    value = query.session.query(func.count()).select_from(limited).scalar() or 0
    return Count(value, Kind.AT_LEAST if value > CAP else Kind.EXACT)


def count(session: Session, table: str, query: Query, whole_table: bool) -> Count:
    """The count a list page shows for ``query`` (already filtered and searched)."""
    if whole_table:
        estimate = estimated_rows(session, table)
        if estimate is not None and estimate > CAP:
            return Count(estimate, Kind.ESTIMATE)
    return capped(query)
