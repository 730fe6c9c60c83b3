"""Model views for the sales records: customers and leads (tasks and interactions: activity.py)."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_admin.actions import action
from sqlalchemy import update
from wtforms import Form
from wtforms.validators import DataRequired

from crm.admin import bulk
from crm.admin import filters as flt
from crm.admin import validators as v
from crm.admin.related import Related
from crm.admin.views.imports import ImportMixin
from crm.admin.views.owned import (
    CUSTOMER_LOOKUP,
    USER_LOOKUP,
    OwnedView,
    owner_email,
    reassign,
    short_date,
)
from crm.extensions import db
from crm.models import (
    CURRENCIES,
    CUSTOMER_STATUSES,
    INDUSTRIES,
    LEAD_SOURCES,
    Customer,
    Interaction,
    Lead,
    LeadStage,
    Task,
)
from crm.sales import stages
from crm.security.policy import Resource
from crm.web import formats
from crm.web.ids import row_id


def _money(lead: Lead) -> str:
    return formats.money(lead.amount, lead.currency)


def _amount(_view: Any, _context: Any, lead: Lead, _name: str) -> str:
    return formats.money(lead.amount, lead.currency)


def _customer_attr(attr: str) -> Any:
    def value(_view: Any, _context: Any, row: Lead, _name: str) -> str:
        return (getattr(row.customer, attr) or "") if row.customer else ""

    return value


# Exports of the importable lists carry the import's own columns, under its labels
# (crm/importing/fields.py), so a file exported imports back unchanged: the owner
# by email, a lead's customer by name and company, its stage by name.


LEADS = Related(
    "Leads", Lead, "leads", Lead.customer_id, Lead.created_at,
    (("Title", lambda r: r.title), ("Stage", lambda r: r.stage), ("Amount", _money),
     ("Owner", lambda r: r.owner and r.owner.name),
     ("Created", lambda r: short_date(r.created_at))),
    load=(Lead.stage, Lead.owner),
)  # fmt: skip


def _tasks(link: Any) -> Related:
    return Related(
        "Tasks", Task, "tasks", link, Task.created_at,
        (("Title", lambda r: r.title), ("Status", lambda r: r.status and r.status.value),
         ("Due", lambda r: short_date(r.due_date)), ("Owner", lambda r: r.user and r.user.name)),
        load=(Task.user,),
    )  # fmt: skip


def _interactions(link: Any) -> Related:
    return Related(
        "Interactions", Interaction, "interactions", link, Interaction.interaction_date,
        (("Subject", lambda r: r.subject or r.type.value), ("Type", lambda r: r.type.value),
         ("When", lambda r: short_date(r.interaction_date)),
         ("Logged by", lambda r: r.user and r.user.name)),
        load=(Interaction.user,),
    )  # fmt: skip


class CustomerView(ImportMixin, OwnedView):
    resource = Resource.CUSTOMERS
    import_kind = "customers"
    column_list = ("name", "company", "email", "phone", "industry", "status", "owner", "created_at")
    column_labels = {"owner": "Owner", "created_at": "Created"}
    column_searchable_list = ("name", "company", "email")
    column_filters = (
        flt.text("customers"),
        flt.choice(Customer.status, "Status", CUSTOMER_STATUSES),
        flt.choice(Customer.industry, "Industry", INDUSTRIES),
        flt.person(Customer.owner_id, "Owner"),
        flt.dates(Customer.created_at, "Created"),
    )
    column_default_sort = ("created_at", True)
    # Only columns a btree index leads with (name: uk_customers_name_company).
    column_sortable_list = ("name", "company", "industry", "status", "created_at")
    column_details_list = (
        "name", "company", "email", "phone", "industry", "website", "address", "city",
        "state", "country", "postal_code", "status", "owner", "notes", "created_at", "updated_at",
    )  # fmt: skip
    column_export_list = column_details_list
    column_formatters_export = {"owner": owner_email}
    column_export_labels = {"owner": "Owner (email)", "postal_code": "Postal code"}
    form_columns = (
        "name", "company", "email", "phone", "industry", "website", "address", "city",
        "state", "country", "postal_code", "status", "owner", "notes",
    )  # fmt: skip
    form_choices = {
        "industry": [("", "—"), *[(i, i) for i in INDUSTRIES]],
        # A select, as its filter and the import know only these (was free text).
        "status": [(s, s) for s in CUSTOMER_STATUSES],
    }
    form_ajax_refs = {"owner": USER_LOOKUP}
    form_args = {
        "email": {"validators": [*v.text(255), v.customer_email]},
        "status": {"default": "active"},
    }

    def validate_form(self, form: Any) -> bool:
        """Also check uk_customers_name_company before the database has to."""
        valid = super().validate_form(form)
        if valid and hasattr(form, "name") and hasattr(form, "company"):
            editing = (
                request.args.get("id", "") if (request.endpoint or "").endswith("edit_view") else ""
            )
            clash = (
                db.session.query(Customer.id)
                .filter(Customer.name == form.name.data, Customer.company == form.company.data)
                .filter(Customer.id != (row_id(editing) or 0))
                .first()
            )
            if clash is not None:
                form.name.errors = [
                    *form.name.errors,
                    "A customer with this name already exists at this company.",
                ]
                valid = False
        return valid

    related = (
        LEADS,
        _tasks(Task.customer_id),
        _interactions(Interaction.customer_id),
    )

    @action("reassign", "Reassign owner")
    def action_reassign(self, ids: Any) -> Any:
        return reassign(self, ids, "customers")

    def __init__(self) -> None:
        super().__init__(
            Customer, "Customers", endpoint="customers", url="customers", category="Sales"
        )


class LeadView(ImportMixin, OwnedView):
    resource = Resource.LEADS
    import_kind = "leads"
    column_list = (
        "title", "customer", "stage", "amount", "probability", "owner",
        "expected_close_date", "created_at",
    )  # fmt: skip
    column_formatters = {"amount": _amount}  # "12,500.01 EUR": the currency goes with it
    column_labels = {
        "expected_close_date": "Expected close",
        "closed_at": "Closed",
        "created_at": "Created",
    }
    column_searchable_list = ("title",)
    column_filters = (
        flt.text("leads"),
        flt.stage(Lead.stage_id),
        flt.choice(Lead.source, "Source", LEAD_SOURCES),
        flt.choice(Lead.currency, "Currency", CURRENCIES),
        flt.person(Lead.owner_id, "Owner"),
        *flt.number_range(Lead.amount, "Amount"),
        flt.day_range(Lead.expected_close_date, "Expected close"),
        flt.dates(Lead.created_at, "Created"),
        flt.parent(Lead.customer_id, "Customer id"),
    )
    column_default_sort = ("created_at", True)
    column_sortable_list = ("amount", "expected_close_date", "source", "created_at")
    column_details_list = (
        "title", "description", "customer", "stage", "amount", "currency", "probability",
        "source", "owner", "expected_close_date", "closed_at", "created_at", "updated_at",
    )  # fmt: skip
    column_export_list = (
        "title", "description", "customer", "customer_company", "stage", "amount", "currency",
        "probability", "source", "owner", "expected_close_date", "closed_at", "created_at",
        "updated_at",
    )  # fmt: skip
    column_formatters_export = {
        "owner": owner_email,
        "customer": _customer_attr("name"),
        "customer_company": _customer_attr("company"),
    }
    column_export_labels = {
        "owner": "Owner (email)",
        "customer": "Customer name",
        "customer_company": "Customer company",
    }
    form_columns = (
        "title", "description", "customer", "stage", "amount", "currency", "probability",
        "source", "owner", "expected_close_date",
    )  # fmt: skip
    form_ajax_refs = {"customer": CUSTOMER_LOOKUP, "owner": USER_LOOKUP}
    form_args = {
        "amount": {"validators": v.optional(v.positive_amount), "places": 2},
        "currency": {"validators": [*v.text(3), v.currency_code], "default": "USD"},
        "probability": {"validators": v.optional(v.probability)},
        # A lead without a stage sits in no board column and no funnel stage.
        "stage": {"validators": [DataRequired("Pick a stage: every lead is in one.")]},
    }

    def create_form(self, obj: Any = None) -> Form:
        """A new lead starts in the first stage, as an imported one does."""
        form = super().create_form(obj)
        if hasattr(form, "stage") and form.stage.data is None and request.method == "GET":
            form.stage.data = stages.first(db.session)
        return form

    related = (
        _tasks(Task.lead_id),
        _interactions(Interaction.lead_id),
    )

    @action("reassign", "Reassign owner")
    def action_reassign(self, ids: Any) -> Any:
        return reassign(self, ids, "leads")

    @action("move_stage", "Move to stage")
    def action_move_stage(self, ids: Any) -> Any:
        def apply(row_ids: list[int], chosen: str | None) -> str:
            stage = db.session.get(LeadStage, int(chosen or 0))
            if stage is None:  # checked against the list, then deleted by an admin
                return "Nothing changed: that stage is no longer there."
            db.session.execute(update(Lead).where(Lead.id.in_(row_ids)).values(stage_id=stage.id))
            return f"{len(row_ids)} leads moved to {stage.name}."

        return bulk.confirm_or_apply(
            self,
            ids,
            name="move_stage",
            title="Move to stage",
            consequence="These leads will move to the stage you choose.",
            apply=apply,
            choice=bulk.Choice("stage_id", "Stage", flt.active_stages),
        )

    def __init__(self) -> None:
        super().__init__(Lead, "Leads", endpoint="leads", url="leads", category="Sales")
