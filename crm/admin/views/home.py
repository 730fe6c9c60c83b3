"""/admin/: the home dashboard, by role.

Managers and admins: open pipeline and weighted forecast by expected-close month
(a chart), win rate, stale deals and overdue tasks; admins also user counts.
Sales reps: their tasks due today and overdue, their open leads by stage.
Support: recent audit activity. Everyone: links to what their role can open.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request
from flask_admin import AdminIndexView, expose
from flask_login import current_user

from crm.audit.revert import AUDITED
from crm.extensions import db
from crm.models import CURRENCIES
from crm.sales import charts, dashboard
from crm.security import policy
from crm.security.policy import Panel


class HomeView(AdminIndexView):
    """The role-aware home page."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated)

    @expose("/")
    def index(self) -> Any:
        role = current_user.effective_role
        now = datetime.now(UTC).replace(tzinfo=None)  # the database's timestamps are UTC
        currency = request.args.get("currency", "USD")
        context: dict[str, Any] = {"currencies": CURRENCIES, "role": role}
        if currency not in CURRENCIES:
            context["currency_problem"] = (
                f"There is no currency “{currency[:20]}” here; showing USD. Pick one from the list."
            )
            currency = "USD"
        context["currency"] = currency
        session, user = db.session, current_user
        panels = policy.home_panels(user)
        context["panels"] = {panel.value for panel in panels}
        if Panel.PIPELINE in panels:
            months = dashboard.forecast(session, user, currency, now.date())
            context.update(
                months=months,
                forecast_json=charts.to_json(charts.forecast_figure(months, currency)),
                win_rate=dashboard.win_rate(session, user),
                stale=dashboard.stale_deals(session, user, now),
                overdue=dashboard.overdue_tasks(session, user, now),
            )
        if Panel.USER_COUNTS in panels:
            context["user_counts"] = dashboard.user_counts(session)
        if Panel.MY_WORK in panels:
            context.update(
                due_today=dashboard.tasks_due_today(session, user, now),
                overdue=dashboard.overdue_tasks(session, user, now),
                by_stage=dashboard.open_leads_by_stage(session, user),
                win_rate=dashboard.win_rate(session, user),
            )
        if Panel.AUDIT in panels:
            context.update(recent=dashboard.recent_audit(session), audited=AUDITED)
        context["stale_days"] = dashboard.STALE_DAYS
        context["cap"] = dashboard.CAP
        return self.render("admin/home.html", **context)

    def __init__(self) -> None:
        super().__init__(name="Home", url="/admin", endpoint="admin")
