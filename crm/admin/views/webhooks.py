"""/admin/webhooks/ and /admin/webhook-deliveries/: subscriptions and their delivery log.

Admins subscribe a URL to events; the signing secret is made here and shown once.
The log lists every delivery (status, response code, attempts, last error), newest
first, and sends the chosen ones again.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, make_response
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from wtforms import SelectMultipleField, ValidationError, widgets
from wtforms.validators import DataRequired

from crm.admin import filters as flt
from crm.admin import validators as v
from crm.admin.base import PolicyModelView
from crm.extensions import db
from crm.models import Webhook, WebhookDelivery
from crm.models.webhook import EVENTS, STATUSES
from crm.security.policy import Resource
from crm.webhooks import sender, signing, targets


class Checkboxes(SelectMultipleField):
    """A list of checkboxes: every event, each on its own line."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _public_url(form: Any, field: Any) -> None:
    """An http(s) URL on a public address (WEBHOOK_ALLOW_PRIVATE=1 allows others)."""
    try:
        targets.check(field.data or "", bool(current_app.config["WEBHOOK_ALLOW_PRIVATE"]))
    except targets.TargetError as exc:
        raise ValidationError(str(exc)) from None


class WebhookView(PolicyModelView):
    resource = Resource.WEBHOOKS
    column_list = ("target_url", "events", "is_active", "description", "created_at")
    column_labels = {"target_url": "URL", "is_active": "Active", "created_at": "Created"}
    column_formatters = {"events": lambda _v, _c, row, _n: ", ".join(row.events)}
    column_default_sort = ("id", True)
    column_sortable_list = ("created_at",)
    column_details_list = (
        "target_url", "events", "is_active", "description", "created_at", "updated_at",
    )  # fmt: skip
    column_details_exclude_list = ("secret",)
    column_export_list = ("target_url", "events", "is_active", "description", "created_at")
    form_columns = ("target_url", "events", "description", "is_active")
    form_overrides = {"events": Checkboxes}
    # Not Bootstrap's one-line "form-control" box: thirteen checkboxes in columns.
    form_widget_args = {"events": {"class": "list-unstyled crm-checkboxes"}}
    form_args = {
        "target_url": {
            "label": "URL",
            "validators": [DataRequired("Enter the URL to post to."), _public_url],
            "description": "Deliveries are POSTed here as JSON, signed with the secret shown "
            "once when you save.",
        },
        "events": {
            "choices": [(event, event) for event in EVENTS],
            "validators": [DataRequired("Pick at least one event.")],
        },
        "description": {"validators": v.text(200)},
        "is_active": {"default": True},
    }

    def on_model_change(self, form: Any, model: Webhook, is_created: bool) -> None:
        url = model.target_url.strip()
        scheme, sep, rest = url.partition("://")
        model.target_url = scheme.lower() + sep + rest  # HTTPS://… as chk_webhooks_url wants
        if is_created:
            model.secret = self._new_secret(model)
            model.created_by = current_user.id
        super().on_model_change(form, model, is_created)

    @staticmethod
    def _new_secret(webhook: Webhook) -> str:
        """A new secret for ``webhook``, kept for this response's page (never a cookie)."""
        secret = signing.new_secret()
        g.setdefault("webhook_secrets", []).append((webhook.target_url, secret))
        return signing.encrypt(secret)

    def _secrets_page(self, response: Any, saved: bool = True) -> Any:
        """The page that shows the new secrets once, in place of ``response`` (if saved).

        Not cacheable; its links go on where the form's buttons would have.
        """
        made = g.pop("webhook_secrets", None)
        if not made or not saved:
            return response
        created = g.get("crm_created_webhook")
        page = make_response(
            self.render(
                "admin/webhook_secret.html",
                secrets=made,
                edit_url=created and self.get_url(".edit_view", id=created.id),
                new_url=self.get_url(".create_view"),
            )
        )
        page.headers["Cache-Control"] = "no-store"
        return page

    def after_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        super().after_model_change(form, model, is_created)
        if is_created:
            g.crm_created_webhook = model  # saved: only now may its secret be shown

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self) -> Any:
        """The create form; once saved, the secret's page instead of the list."""
        response = super().create_view()
        return self._secrets_page(response, saved=g.get("crm_created_webhook") is not None)

    @action("rotate", "New signing secret", "Deliveries from now on use a new secret.")
    def action_rotate(self, ids: Any) -> Any:
        for webhook in db.session.query(Webhook).filter(Webhook.id.in_([int(i) for i in ids])):
            webhook.secret = self._new_secret(webhook)
        db.session.commit()
        return self._secrets_page(None)

    def __init__(self) -> None:
        super().__init__(Webhook, "Webhooks", endpoint="webhooks", url="webhooks", category="Setup")


def _status(_view: Any, _context: Any, row: WebhookDelivery, _name: str) -> str:
    return row.status + (f" ({row.response_code})" if row.response_code else "")


class WebhookDeliveryView(PolicyModelView):
    resource = Resource.WEBHOOKS
    can_create = False
    can_edit = False
    can_delete = False
    column_list = (
        "created_at", "webhook", "event", "record_id", "status", "attempts", "last_error",
        "next_attempt_at", "delivered_at",
    )  # fmt: skip
    column_labels = {
        "created_at": "Event at",
        "record_id": "Record",
        "next_attempt_at": "Next attempt",
        "delivered_at": "Delivered",
        "last_error": "Last error",
    }
    column_formatters = {"status": _status}
    column_filters = (
        flt.choice(WebhookDelivery.status, "Status", STATUSES),
        flt.choice(WebhookDelivery.event, "Event", EVENTS),
        flt.parent(WebhookDelivery.webhook_id, "Webhook id"),
    )
    column_default_sort = ("id", True)
    column_sortable_list = ()
    column_details_list = (
        "webhook", "event", "table_name", "record_id", "status", "response_code", "attempts",
        "last_error", "created_at", "next_attempt_at", "delivered_at", "payload",
    )  # fmt: skip
    column_export_list = column_details_list

    @action("redeliver", "Redeliver", "Send the selected deliveries again?")
    def action_redeliver(self, ids: Any) -> None:
        done = sender.redeliver(db.session, [int(i) for i in ids])
        db.session.commit()
        flash(f"{done} deliveries will be sent again in a moment.", "success")

    def __init__(self) -> None:
        super().__init__(
            WebhookDelivery,
            "Webhook deliveries",
            endpoint="webhook_deliveries",
            url="webhook-deliveries",
            category="Setup",
        )
