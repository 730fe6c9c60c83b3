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

from crm.admin.views.pipeline import currency_choices
from crm.audit.revert import AUDITED
from crm.extensions import db
from crm.maintenance import drill as drills
from crm.models import CURRENCIES
from crm.sales import charts, dashboard
from crm.sales.rates import base_currency
from crm.sales.rates import load as load_rates
from crm.security import policy
from crm.security.policy import Action, Panel, Resource


class HomeView(AdminIndexView):
    """The role-aware home page."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated)

    @expose("/")
    def index(self) -> Any:
        role = current_user.effective_role
        now = datetime.now(UTC).replace(tzinfo=None)  # the database's timestamps are UTC
        base = base_currency()
        picked = request.args.get("currency", "")
        context: dict[str, Any] = {"currencies": currency_choices(), "role": role}
        if picked and picked not in CURRENCIES:
            context["currency_problem"] = (
                f"There is no currency “{picked[:20]}” here; showing every currency in {base}. "
                "Pick one from the list."
            )
            picked = ""
        currency = picked or None
        context.update(currency=picked, shown=currency or base)
        session, user = db.session, current_user
        panels = policy.home_panels(user)
        context["panels"] = {panel.value for panel in panels}
        if Panel.PIPELINE in panels:
            rates = load_rates(session) if currency is None else None
            months = dashboard.forecast(session, user, currency, now.date(), rates=rates)
            context.update(
                months=months,
                rates=rates,
                may_read_rates=policy.allowed(user, Resource.EXCHANGE_RATES, Action.READ),
                may_add_rate=policy.allowed(user, Resource.EXCHANGE_RATES, Action.CREATE),
                forecast_json=charts.to_json(charts.forecast_figure(months, currency or base)),
                win_rate=dashboard.win_rate(session, user),
                stale=dashboard.stale_deals(session, user, now),
                overdue=dashboard.overdue_tasks(session, user, now),
            )
        if Panel.USER_COUNTS in panels:  # the admin's: the accounts, and the last drill
            context["user_counts"] = dashboard.user_counts(session)
            context["drill"] = drills.last(session)
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
