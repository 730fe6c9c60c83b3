"""List counts that stay fast at millions of rows, and say so when they are not exact.

An unfiltered list of a big table takes the statistics' live-row count (moved by
every committed insert and delete; ``estimated_rows``) instead of COUNT(*), which
reads the whole table. A filtered or searched list counts exactly up to CAP matching rows, through
the same indexes the page uses; past that it takes the planner's estimate for the
filtered query (EXPLAIN), never less than CAP + 1. A search the planner expects
to match more than SKIP_ABOVE rows is not counted at all: its estimate stands.
The label says which: "about 111,000" or the exact number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Query

from crm.db import planner
from crm.extensions import DbSession

CAP = 1_000
# A search the planner expects to match more rows than this is not counted (see count).
SKIP_ABOVE = 10 * CAP


class Kind(enum.Enum):
    """How a count was obtained."""

    EXACT = "exact"
    ESTIMATE = "estimate"


@dataclass(frozen=True)
class Count:
    """A number of rows and how far to trust it; when exact, the rows' ids."""

    value: int
    kind: Kind = Kind.EXACT
    ids: tuple[int, ...] | None = None

    def label(self) -> str:
        """What the list tab shows."""
        if self.kind is Kind.ESTIMATE:
            return f"about {self.value:,}"
        return f"{self.value:,}"


def estimated_rows(session: DbSession, table: str) -> int | None:
    """The table's live rows as PostgreSQL's statistics count them, or None if unknown.

    The statistics' live-row count moves with every committed insert and delete
    (within about a second), so "about N" follows the table as people add rows;
    the planner's ``reltuples`` only moves when (auto)ANALYZE runs, which on a big
    table can be days apart. It stands in when the statistics were reset (after a
    crash) and the table has been analysed.
    """
    # Plus this transaction's own inserts and deletes, which the shared count has not
    # seen yet (none in a page's read-only transaction; an import's, a test's).
    live, analysed = session.execute(
        text(
            "SELECT pg_stat_get_live_tuples(oid) + pg_stat_get_xact_tuples_inserted(oid) "
            "- pg_stat_get_xact_tuples_deleted(oid), reltuples FROM pg_class "
            "WHERE oid = CAST(:table AS regclass)"
        ),
        {"table": table},
    ).one()
    if live and live > 0:
        return int(live)
    return None if analysed is None or analysed < 0 else int(analysed)


def _ids(query: Query[Any], model: type[Any]) -> Query[Any]:
    """The query reduced to the rows' ids (keeps its FROM, filters and joins)."""
    ids: Query[Any] = query.with_entities(model.id).order_by(None)
    return ids


def planner_estimate(query: Query[Any], model: type[Any]) -> int:
    """The planner's row estimate for a list's query, reduced to its ids."""
    return planner.estimate(query.session, _ids(query, model).statement)


def _capped(query: Query[Any], model: type[Any], fenced: bool) -> Any:
    """The ids of at most CAP + 1 rows of ``query``, as a subquery."""
    if fenced:
        # A search's matches in a MATERIALIZED CTE, read only as far as the cap: the
        # planner plans them as "all matches" (the trigram indexes), never as "the
        # first 1,001 rows of a sequential scan", a bet that loses badly when the
        # matches are fewer than the statistics suggest (860 ms instead of 20 seen).
        matches = _ids(query, model).cte().prefix_with("MATERIALIZED")
        return select(matches.c.id).limit(CAP + 1).subquery()
    return _ids(query, model).limit(CAP + 1).subquery()  # btree estimates are good


def count(
    session: DbSession,
    model: type[Any],
    parts: list[Query[Any]],
    whole_table: bool,
    fenced: bool = False,
) -> Count:
    """The count a list page shows for the rows matching any of ``parts``.

    ``parts``: the list's query (filtered and searched), or one query per part of
    an OR row rule (crm/security/policy.py's row_branches), each capped on its own index
    and the capped ids unioned. Up to CAP matches, the count is exact and carries
    the ids, so the page sorts those few rows instead of walking an index for them.

    ``fenced``: the query has a text search. Its planner estimate decides first:
    past SKIP_ABOVE likely matches the count is that estimate, because even a
    capped count of a common word builds the word's whole bitmap (250,000 leads
    for "renewal": 55 ms), while the page itself finds its rows in list order at
    once. Fewer likely matches are counted exactly, as any filter is.
    """
    if whole_table:
        estimate = estimated_rows(session, model.__tablename__)
        if estimate is not None and estimate > CAP:
            return Count(estimate, Kind.ESTIMATE)
    estimate = None
    if fenced:
        estimate = max(planner_estimate(part, model) for part in parts)
        if estimate > SKIP_ABOVE:
            return Count(estimate, Kind.ESTIMATE)
    found: set[int] = set()
    for part in parts:  # cheapest first (crm/security/policy.py); stop once past the cap
        found.update(session.scalars(select(_capped(part, model, fenced).c.id)))
        if len(found) > CAP:
            break
    if len(found) <= CAP:
        return Count(len(found), ids=tuple(found))
    # Past the cap, the planner's estimate of the largest part (EXPLAIN, not run; once).
    if estimate is None:
        estimate = max(planner_estimate(part, model) for part in parts)
    return Count(max(estimate, CAP + 1), Kind.ESTIMATE)
