"""/admin/notifications/: your task reminders, newest first; mark them read."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

from crm.extensions import db
from crm.reminders import service
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.web.ids import row_id

SAYS = {
    "assigned": "assigned to you",
    "due": "due today",
    "overdue": "overdue since yesterday",
}


class NotificationsView(BaseView):
    def is_visible(self) -> bool:
        return False  # the navbar's bell leads here

    def is_accessible(self) -> bool:
        # Everyone's own, like the profile: the rows are always the person's.
        return policy.allowed(current_user, Resource.PROFILE, Action.READ)

    @expose("/")
    def index(self) -> Any:
        before = row_id(request.args.get("before"))
        rows = service.listed(db.session, current_user._get_current_object(), before)
        more = len(rows) > service.PAGE
        rows = rows[: service.PAGE]
        return self.render(
            "admin/notifications.html",
            rows=rows,
            says=SAYS,
            next_before=rows[-1].id if more and rows else None,
        )

    @expose("/read", methods=("POST",))
    def read(self) -> Any:
        """Mark one notice read (``id``) or all of them (no id)."""
        chosen = request.form.get("id")
        ids = None
        if chosen is not None:
            one = row_id(chosen)
            ids = [one] if one is not None else []
        service.mark_read(db.session, current_user.id, ids)
        db.session.commit()
        return redirect(url_for(".index"))

    def __init__(self) -> None:
        super().__init__(name="Notifications", endpoint="notifications", url="notifications")
