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
    found: dict[date, Cohort] = {}
    for (stage, passed, previous, _currency, day), (leads, _amount, _weighted) in groups.items():
        if day is None:  # no creation date: in no month's cohort
            continue
        month = day.replace(day=1)
        cohort = found.setdefault(month, Cohort(month, 0, [0] * len(funnel)))
        cohort.leads += leads
        far = furthest((stage, passed, previous), position)
        for n, stage_id in enumerate(funnel):
            if position.get(stage_id, len(position)) <= far:
                cohort.reached[n] += leads
    return [found[month] for month in sorted(found, reverse=True)[:months]]
