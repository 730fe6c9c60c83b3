"""The Flask-Admin site: one Admin per app, built in init_app (never at import)."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user

from crm.admin.template_patches import PatchedTemplateLoader
from crm.admin.urls import LISTS, admin_static_url
from crm.admin.views.activity import InteractionView, TaskView
from crm.admin.views.api_tokens import ApiTokensView
from crm.admin.views.audit import AuditLogView
from crm.admin.views.home import HomeView
from crm.admin.views.jobs import JobsView
from crm.admin.views.notifications import NotificationsView
from crm.admin.views.pipeline import PipelineView
from crm.admin.views.profile import ProfileView
from crm.admin.views.sales import CustomerView, LeadView
from crm.admin.views.search import SearchView
from crm.admin.views.setup import ExchangeRateView, LeadStageView, UserView
from crm.admin.views.two_factor import TwoFactorView
from crm.admin.views.webhooks import WebhookDeliveryView, WebhookView
from crm.extensions import db
from crm.reminders.service import unread
from crm.security.protections import csp_nonce


def unread_notices() -> int:
    """The navbar bell's number for the signed-in person (one indexed count)."""
    return unread(db.session, current_user.id)


def init_app(app: Flask) -> Admin:
    """Create the admin with every view, grouped Sales / Setup / Compliance."""
    assert app.jinja_env.loader is not None  # Flask always sets one
    app.jinja_env.loader = PatchedTemplateLoader(app.jinja_env.loader)
    app.jinja_env.globals["crm_admin_static_url"] = admin_static_url
    app.jinja_env.globals["unread_notices"] = unread_notices
    admin = Admin(
        app,
        name="CRM admin",
        index_view=HomeView(),
        theme=Bootstrap4Theme(base_template="admin/crm_base.html", fluid=True),
        csp_nonce_generator=csp_nonce,
    )
    lists = (
        CustomerView(),
        LeadView(),
        TaskView(),
        InteractionView(),
        LeadStageView(),
        UserView(),
        ExchangeRateView(),
        AuditLogView(),
    )
    admin.add_views(
        PipelineView(),
        *lists,
        JobsView(),
        ApiTokensView(),
        WebhookView(),
        WebhookDeliveryView(),
        NotificationsView(),
        ProfileView(),
        TwoFactorView(),
        SearchView(),
    )
    app.extensions[LISTS] = {view.endpoint: view for view in lists}
    return admin
