"""Model views for the sales tables: customers, leads, tasks, interactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request
from flask_admin.actions import action
from flask_login import current_user
from sqlalchemy import func, update
from wtforms import Form
from wtforms.validators import DataRequired

from crm.admin import bulk
from crm.admin import filters as flt
from crm.admin import validators as v
from crm.admin.base import PolicyModelView
from crm.admin.related import Related
from crm.admin.views.imports import ImportMixin
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
    TaskStatus,
    User,
)
from crm.sales import stages
from crm.security import policy
from crm.security.policy import Resource
from crm.web import formats
from crm.web.ids import row_id


def _money(lead: Lead) -> str:
    return formats.money(lead.amount, lead.currency)


def _date(value: Any) -> str:
    return formats.day(value.date() if isinstance(value, datetime) else value)


def _amount(_view: Any, _context: Any, lead: Lead, _name: str) -> str:
    return formats.money(lead.amount, lead.currency)


def _owner_email(_view: Any, _context: Any, row: Any, _name: str) -> str:
    return row.owner.email if row.owner else ""


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
     ("Owner", lambda r: r.owner and r.owner.name), ("Created", lambda r: _date(r.created_at))),
    load=(Lead.stage, Lead.owner),
)  # fmt: skip


def _tasks(link: Any) -> Related:
    return Related(
        "Tasks", Task, "tasks", link, Task.created_at,
        (("Title", lambda r: r.title), ("Status", lambda r: r.status and r.status.value),
         ("Due", lambda r: _date(r.due_date)), ("Owner", lambda r: r.user and r.user.name)),
        load=(Task.user,),
    )  # fmt: skip


def _interactions(link: Any) -> Related:
    return Related(
        "Interactions", Interaction, "interactions", link, Interaction.interaction_date,
        (("Subject", lambda r: r.subject or r.type.value), ("Type", lambda r: r.type.value),
         ("When", lambda r: _date(r.interaction_date)),
         ("Logged by", lambda r: r.user and r.user.name)),
        load=(Interaction.user,),
    )  # fmt: skip


USER_LOOKUP = {"fields": ("name", "email"), "page_size": 10}
CUSTOMER_LOOKUP = {"fields": ("name", "company", "email"), "page_size": 10}
LEAD_LOOKUP = {"fields": ("title",), "page_size": 10}


class OwnedView(PolicyModelView):
    """A view whose rows have an owner-like column a sales rep may not choose.

    ``owner_field``: the relationship a rep's rows are tied to (the owner, or who
    logged an interaction). A rep never sees it in a form: a row they create is
    theirs; a row they edit keeps whoever it had (a task assigned to them, an
    interaction someone else logged on their customer), so a rep can neither take
    a row over nor leave it without an owner. Others get it pre-filled with
    themselves on new records.
    """

    owner_field = "owner"

    def _fix_owner(self, form: Form, is_new: bool) -> Form:
        if policy.sees_all_rows(current_user):
            if is_new and hasattr(form, self.owner_field) and not form[self.owner_field].data:
                form[self.owner_field].data = current_user._get_current_object()
        elif hasattr(form, self.owner_field):
            delattr(form, self.owner_field)
        return form

    def create_form(self, obj: Any = None) -> Form:
        return self._fix_owner(super().create_form(obj), is_new=True)

    def edit_form(self, obj: Any = None) -> Form:
        return self._fix_owner(super().edit_form(obj), is_new=False)

    def on_model_change(self, form: Form, model: Any, is_created: bool) -> None:
        if is_created and not policy.sees_all_rows(current_user):
            setattr(model, self.owner_field, current_user._get_current_object())
        super().on_model_change(form, model, is_created)


def _reassign(view: PolicyModelView, ids: Any, what: str) -> Any:
    """Give the selected rows a new owner (admins and managers only)."""
    model = view.model

    def apply(row_ids: list[int], chosen: str | None) -> str:
        owner = db.session.get(User, int(chosen or 0))
        if owner is None:  # the choice was checked against the list, then deactivated
            return f"Nothing changed: that person is no longer available to own {what}."
        db.session.execute(update(model).where(model.id.in_(row_ids)).values(owner_id=owner.id))
        return f"{len(row_ids)} {what} now belong to {owner.name}."

    return bulk.confirm_or_apply(
        view,
        ids,
        name="reassign",
        title="Reassign owner",
        consequence=f"These {what} will belong to the person you choose.",
        apply=apply,
        choice=bulk.Choice("owner_id", "New owner", flt.owners),
    )


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
    column_formatters_export = {"owner": _owner_email}
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
        return _reassign(self, ids, "customers")

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
        "owner": _owner_email,
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
        return _reassign(self, ids, "leads")

    @action("move_stage", "Move to stage")
    def action_move_stage(self, ids: Any) -> Any:
        def apply(row_ids: list[int], chosen: str | None) -> str:
            stage = db.session.get(LeadStage, int(chosen or 0))
            if stage is None:  # the choice was checked against the list, then deleted
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


class TaskView(OwnedView):
    resource = Resource.TASKS
    owner_field = "user"  # a rep edits tasks assigned to them without taking them over
    column_list = (
        "title",
        "status",
        "priority",
        "due_date",
        "user",
        "assignee",
        "customer",
        "lead",
    )
    column_labels = {"user": "Owner", "assignee": "Assigned to", "due_date": "Due"}
    column_searchable_list = ("title",)
    column_filters = (
        flt.text("tasks"),
        flt.enum(Task.status, "Status"),
        flt.choice(Task.priority, "Priority", ("low", "medium", "high")),
        flt.dates(Task.due_date, "Due"),
        flt.person(Task.user_id, "Owner"),
        flt.person(Task.assigned_to, "Assigned to"),
        flt.parent(Task.customer_id, "Customer id"),
        flt.parent(Task.lead_id, "Lead id"),
    )
    column_default_sort = ("due_date", True)
    column_sortable_list = ("status", "priority", "due_date")
    column_details_list = (
        "title", "description", "status", "priority", "due_date", "completed_at", "user",
        "assignee", "customer", "lead", "created_at", "updated_at",
    )  # fmt: skip
    column_export_list = column_details_list
    form_columns = (
        "title", "description", "status", "priority", "due_date", "completed_at", "user",
        "assignee", "customer", "lead",
    )  # fmt: skip
    form_choices = {"priority": [("low", "low"), ("medium", "medium"), ("high", "high")]}
    form_ajax_refs = {
        "user": USER_LOOKUP,
        "assignee": USER_LOOKUP,
        "customer": CUSTOMER_LOOKUP,
        "lead": LEAD_LOOKUP,
    }

    @action("complete", "Mark completed")
    def action_complete(self, ids: Any) -> Any:
        def apply(row_ids: list[int], _chosen: str | None) -> str:
            done: int = db.session.execute(  # type: ignore[attr-defined]
                update(Task)
                .where(Task.id.in_(row_ids), Task.status != TaskStatus.COMPLETED)
                .values(status=TaskStatus.COMPLETED, completed_at=func.now())
            ).rowcount
            return f"{done} tasks marked completed ({len(row_ids) - done} already were)."

        return bulk.confirm_or_apply(
            self,
            ids,
            name="complete",
            title="Mark completed",
            consequence="These tasks will be marked completed, with the completion time now.",
            apply=apply,
        )

    def __init__(self) -> None:
        super().__init__(Task, "Tasks", endpoint="tasks", url="tasks", category="Sales")


class InteractionView(OwnedView):
    resource = Resource.INTERACTIONS
    owner_field = "user"
    column_list = (
        "interaction_date",
        "type",
        "subject",
        "customer",
        "lead",
        "user",
        "duration_minutes",
    )
    column_labels = {"interaction_date": "When", "user": "Logged by", "duration_minutes": "Minutes"}
    column_searchable_list = ("subject",)
    column_filters = (
        flt.text("interactions"),
        flt.enum(Interaction.type, "Type"),
        flt.dates(Interaction.interaction_date, "When"),
        flt.person(Interaction.user_id, "Logged by"),
        flt.parent(Interaction.customer_id, "Customer id"),
        flt.parent(Interaction.lead_id, "Lead id"),
    )
    column_default_sort = ("interaction_date", True)
    column_sortable_list = ("interaction_date", "type")
    column_details_list = (
        "interaction_date", "type", "subject", "description", "customer", "lead", "user",
        "duration_minutes", "outcome", "follow_up_date", "created_at", "updated_at",
    )  # fmt: skip
    column_export_list = column_details_list
    form_columns = (
        "type", "subject", "description", "customer", "lead", "user", "interaction_date",
        "duration_minutes", "outcome", "follow_up_date",
    )  # fmt: skip
    form_ajax_refs = {"customer": CUSTOMER_LOOKUP, "lead": LEAD_LOOKUP, "user": USER_LOOKUP}
    form_args = {"duration_minutes": {"validators": v.optional(v.duration)}}

    def __init__(self) -> None:
        super().__init__(
            Interaction,
            "Interactions",
            endpoint="interactions",
            url="interactions",
            category="Sales",
        )
