"""The planner setting one global search reads its matches under, and that reading.

A search's matches are read part by part of the row rule (``first_ids``), each
part stopping as soon as enough ids are in. Plain index scans are off while a
part whose rule is on a column of the row is read (the rule then meets the words
in their index), and on for a part through a subquery and for the ranking
(``Planner``, which changes the setting only when it must).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.sql import visitors
from sqlalchemy.sql.selectable import ScalarSelect

from crm.extensions import DbSession


class Planner:
    """One search's plain-index-scan setting, changed only when it must be.

    A rule on a column of the row (owner_id = me) is read in the same index as the
    words (migration 0019), or as two bitmaps ANDed; walking the rep's rows
    through their btree and testing each instead tests all 43,000 of a big book's
    leads when the word is one they never use (570 ms). So the matches are read
    with plain index scans off, but a rule through a subquery ("on customers I
    own") and the ranking keep them (and the index-only scans that need them).
    """

    def __init__(self, session: DbSession) -> None:
        self.session = session
        self.index_scans = True

    def use_index_scans(self, on: bool) -> None:
        """Plain index scans on or off for the rest of the transaction."""
        if on != self.index_scans:
            setting = func.set_config("enable_indexscan", "on" if on else "off", True)
            self.session.execute(select(setting))  # SET LOCAL, as a function
            self.index_scans = on


def first_ids(session: DbSession, parts: list[Any], limit: int, planner: Planner) -> list[int]:
    """Up to ``limit`` ids matching any of ``parts``, each read only that far.

    Part by part, cheapest first (crm/security/policy.py), stopping once ``limit`` are in:
    a rep's own interactions often fill the pool before "on customers they own",
    the costly part, has to be read at all.
    """
    found: dict[int, None] = {}
    for part in parts:
        planner.use_index_scans(through_subquery(part))  # see Planner
        found.update(dict.fromkeys(session.scalars(part.limit(limit))))
        if len(found) >= limit:
            break
    return list(found)[:limit]


def through_subquery(part: Any) -> bool:
    """Whether a part's WHERE clause holds a subquery (``customer_id IN (SELECT …)``)."""
    return any(isinstance(e, ScalarSelect) for e in visitors.iterate(part.whereclause))
