"""Model views for a rep's daily work: tasks and interactions."""

from __future__ import annotations

from typing import Any

from flask_admin.actions import action
from sqlalchemy import func, update

from crm.admin import bulk
from crm.admin import filters as flt
from crm.admin import validators as v
from crm.admin.views.owned import CUSTOMER_LOOKUP, LEAD_LOOKUP, USER_LOOKUP, OwnedView
from crm.extensions import db
from crm.models import (
    Interaction,
    Task,
    TaskStatus,
)
from crm.security.policy import Resource


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
