"""Bulk actions with a confirmation step: a page that says what will change, then the change.

The first POST (from the list's "With selected" menu) renders the confirmation
page with the selected ids and any choice the action needs (a new owner, a
stage); its "Confirm" button posts back with ``confirmed=yes``. Every POST goes
through PolicyModelView.handle_action, so the role may use the action and every
selected row is one the person may read, or nothing happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import flash, request
from sqlalchemy import select

from crm.extensions import db

SHOWN = 20


@dataclass(frozen=True)
class Choice:
    """A value the person picks on the confirmation page."""

    field: str
    label: str
    options: Callable[[], list[tuple[str, str]]]


def confirm_or_apply(
    view: Any,
    ids: Sequence[str],
    *,
    name: str,
    title: str,
    consequence: str,
    apply: Callable[[list[int], str | None], str],
    choice: Choice | None = None,
) -> Any:
    """Render the confirmation page, or, once confirmed, apply and say what happened.

    ``apply(ids, chosen)`` changes the rows and returns the message to show.
    Returns a response (the page), or None to go back to the list.
    """
    row_ids = [int(i) for i in ids]
    options = choice.options() if choice else []
    chosen = request.form.get(choice.field) if choice else None
    confirmed = request.form.get("confirmed") == "yes"
    error = None
    if confirmed and choice and chosen not in {value for value, _ in options}:
        error = f"Choose the {choice.label.lower()} from the list."
    if confirmed and error is None:
        message = apply(row_ids, chosen)
        db.session.commit()
        flash(message, "success")
        return None
    rows = db.session.scalars(
        select(view.model).where(view.model.id.in_(row_ids)).order_by(view.model.id).limit(SHOWN)
    ).all()
    return view.render(
        "admin/bulk_confirm.html",
        action=name,
        title=title,
        consequence=consequence,
        ids=row_ids,
        rows=rows,
        more=max(len(row_ids) - SHOWN, 0),
        choice=choice,
        options=options,
        chosen=chosen,
        error=error,
        return_url=request.form.get("url") or view.get_url(".index_view"),
    )
