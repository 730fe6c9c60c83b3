"""A lead's path through the stages (migration 0024), and how far along the funnel it went.

A group of leads is keyed by its path: the stage it is in now, the stages it
passed before (``leads.stages_passed``) and the stage it left for this one
(``leads.previous_stage_id``; for a Closed Lost lead, where it was lost).
"""

from __future__ import annotations

from crm.models.lead import CLOSED_LOST

# (stage now, stages passed before it, the stage it left for this one)
PathKey = tuple[int | None, tuple[int, ...], int | None]


def positions(order: list[tuple[int, str]]) -> dict[int, int]:
    """The funnel's stages numbered in pipeline order (every stage, Closed Lost aside)."""
    funnel = [stage_id for stage_id, name in order if name != CLOSED_LOST]
    return {stage_id: n for n, stage_id in enumerate(funnel)}


def furthest(path: PathKey, position: dict[int, int]) -> int:
    """The furthest position a lead was ever at; -1 when it was in none of them.

    Closed Lost and stages since deleted have no position: a lost deal counts for
    the stages it passed before it was lost.
    """
    stage, passed, _previous = path
    seen = [position[s] for s in (*passed, stage) if s is not None and s in position]
    return max(seen, default=-1)
