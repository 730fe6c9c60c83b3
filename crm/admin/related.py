"""Related records shown on a details page: latest first, capped, linked, row rules applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm.admin.urls import list_url, view_url
from crm.extensions import db
from crm.security import policy

SHOWN = 10


@dataclass(frozen=True)
class Related:
    """One kind of related row: which model, how it points back, how to show it."""

    title: str
    model: type[Any]
    endpoint: str
    link: Any  # the model's foreign key column to the parent
    order: Any  # a column to sort by, newest first
    columns: tuple[tuple[str, Callable[[Any], object]], ...]
    load: tuple[Any, ...] = ()


@dataclass
class Section:
    """What the template draws: a heading, up to SHOWN rows, and a "see all" link."""

    title: str
    headers: list[str]
    rows: list[tuple[str, list[object]]]  # (details URL, cells)
    more_url: str | None


def sections(parent_id: int, kinds: tuple[Related, ...]) -> list[Section]:
    """Each kind's latest rows for the parent, filtered by the user's row rules."""
    out = []
    for kind in kinds:
        if not policy.allowed(current_user, policy.MODEL_RESOURCES[kind.model]):
            continue
        query = (
            select(kind.model)
            .where(kind.link == parent_id, policy.row_filter(current_user, kind.model))
            .order_by(kind.order.desc().nulls_last(), kind.model.id.desc())
            .limit(SHOWN + 1)
            .options(*(selectinload(relation) for relation in kind.load))
        )
        found = db.session.scalars(query).all()
        more = None
        if len(found) > SHOWN:
            # See all: the kind's list filtered on the same column (its filter's key).
            more = list_url(kind.endpoint, {kind.link.key: parent_id})
        out.append(
            Section(
                title=kind.title,
                headers=[label for label, _ in kind.columns],
                rows=[
                    (
                        view_url(f"{kind.endpoint}.details_view", id=row.id),
                        [show(row) for _, show in kind.columns],
                    )
                    for row in found[:SHOWN]
                ],
                more_url=more,
            )
        )
    return out
