"""Cohorts: for the leads created in each month, the share that reached each stage.

Worked out from the same sums by path and creation month as the funnel
(crm/sales/pipeline.py's ``groups``), so it costs no statement of its own and
keeps every filter the funnel has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crm.models.lead import CLOSED_LOST
from crm.sales.paths import furthest, positions

MONTHS = 12  # the newest months shown


@dataclass
class Cohort:
    """The leads created in one month, and how many of them reached each stage."""

    month: date
    leads: int = 0
    reached: list[int] = field(default_factory=list)  # per funnel stage, in order

    def shares(self) -> list[float]:
        """Per funnel stage, the share of the month's leads that reached it."""
        return [n / self.leads if self.leads else 0.0 for n in self.reached]


def cohorts(
    groups: dict[Any, tuple[int, Any, Any]],
    stages: list[tuple[int, str]],
    order: list[tuple[int, str]],
    months: int = MONTHS,
) -> list[Cohort]:
    """The newest ``months`` creation months with leads, newest first.

    ``groups``: (stage, passed, previous, currency, first day of the period) ->
    (leads, amount, weighted); ``stages``: the funnel's active stages in order;
    ``order``: every stage in order (a path through an inactive one counts).
    """
    position = positions(order)
    funnel = [stage_id for stage_id, name in stages if name != CLOSED_LOST]
    at = [position.get(stage_id, len(position)) for stage_id in funnel]
    far: dict[Any, int] = {}  # per path: thousands of groups share a few dozen paths
    by_month: dict[date, dict[int, int]] = {}  # month -> furthest position -> leads
    for (stage, passed, previous, _currency, day), (leads, _amount, _weighted) in groups.items():
        if day is None:  # no creation date: in no month's cohort
            continue
        path = (stage, passed, previous)
        if path not in far:
            far[path] = furthest(path, position)
        counts = by_month.setdefault(day.replace(day=1), {})
        counts[far[path]] = counts.get(far[path], 0) + leads
    found: dict[date, Cohort] = {}
    for month, counts in by_month.items():
        cohort = found[month] = Cohort(month, sum(counts.values()), [0] * len(funnel))
        for reach, leads in counts.items():
            for n, position_n in enumerate(at):
                if position_n <= reach:
                    cohort.reached[n] += leads
    return [found[month] for month in sorted(found, reverse=True)[:months]]
