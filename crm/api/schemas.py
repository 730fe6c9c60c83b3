"""The records' JSON: what the API answers with (``…Out``) and what it takes (``…In``).

Input schemas refuse unknown fields, and check each value with the admin forms'
own rules and messages (crm/api/fields.py). PATCH loads the same schema partially.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

from crm.admin import validators as v
from crm.api.fields import (
    REQUIRED,
    Flag,
    Text,
    UtcDateTime,
    choice,
    filled,
    from_form,
    integer,
    row_ref,
    text,
)
from crm.models import (
    CUSTOMER_STATUSES,
    INDUSTRIES,
    InteractionType,
    TaskStatus,
    UserRole,
)

PRIORITIES = ("low", "medium", "high")
# Decimals travel as strings ("12500.00"): a JSON number would lose cents in some clients.
AMOUNT = {"type": "string", "format": "decimal", "example": "12500.00"}


class In(Schema):
    """An input body: unknown fields are refused, by name."""

    required_text: tuple[str, ...] = ()

    class Meta:
        """Unknown fields are refused, by name."""

        unknown = RAISE

    @post_load
    def _filled(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        filled(data, self.required_text)
        return data


class Stamped(Schema):
    """What every record answers with: its id, version (the ETag) and times."""

    id = fields.Integer(required=True)
    version = fields.Integer(required=True, metadata={"description": "Its ETag's number."})
    created_at = UtcDateTime(allow_none=True)


class Updated(Stamped):
    """A record that also keeps when it last changed."""

    updated_at = UtcDateTime(allow_none=True)


class CustomerOut(Updated):
    """A customer."""

    name = fields.String(required=True)
    company = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    industry = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    state = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    notes = fields.String(allow_none=True)


class CustomerIn(In):
    """A customer to create or change."""

    required_text = ("name",)
    name = text(255, required=True)
    company = text(255)
    email = text(255, validate=from_form(v.customer_email))
    phone = text(50)
    industry = choice(INDUSTRIES, "Pick an industry from the list.")
    website = text(255)
    address = text()
    city = text(100)
    state = text(100)
    country = text(100)
    postal_code = text(20)
    status = choice(CUSTOMER_STATUSES, "Pick a status from the list.")
    owner_id = row_ref(metadata={"description": "Admins and managers only."})
    notes = text()


class StageOut(Stamped):
    """A lead stage."""

    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    order_index = fields.Integer(allow_none=True)
    is_active = fields.Boolean(allow_none=True)
    rotting_days = fields.Integer(allow_none=True)


class StageIn(In):
    """A lead stage to create or change."""

    required_text = ("name",)
    name = text(100, required=True)
    description = text()
    order_index = integer(-(2**31), "Not a valid number.")
    is_active = Flag(allow_none=True)
    rotting_days = integer(1, "At least one day, or empty.")


class LeadOut(Updated):
    """A lead (amounts as decimal strings)."""

    title = fields.String(required=True)
    description = fields.String(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    stage_id = fields.Integer(allow_none=True)
    amount = fields.Decimal(as_string=True, allow_none=True, metadata=AMOUNT)
    currency = fields.String(allow_none=True)
    probability = fields.Integer(allow_none=True)
    source = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    expected_close_date = fields.Date(allow_none=True)
    closed_at = UtcDateTime(allow_none=True)
    stage_entered_at = UtcDateTime(allow_none=True)


class LeadIn(In):
    """A lead to create or change."""

    required_text = ("title",)
    title = text(255, required=True)
    description = text()
    customer_id = row_ref()
    stage_id = row_ref(metadata={"description": "Every lead is in one; new: the first."})
    amount = fields.Decimal(
        allow_none=True,
        allow_nan=True,  # refused below with the form's message, not marshmallow's
        validate=from_form(v.positive_amount),
        metadata=AMOUNT,
    )
    currency = text(3, validate=from_form(v.currency_code))
    probability = fields.Integer(allow_none=True, strict=True, validate=from_form(v.probability))
    source = text(100)
    owner_id = row_ref(metadata={"description": "Admins and managers only."})
    expected_close_date = fields.Date(allow_none=True)

    @post_load
    def _stage_and_currency(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if "stage_id" in data and data["stage_id"] is None:
            raise ValidationError({"stage_id": ["Pick a stage: every lead is in one."]})
        if data.get("currency"):
            data["currency"] = data["currency"].upper()
        return data


class TaskOut(Updated):
    """A task."""

    title = fields.String(required=True)
    description = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={"enum": [s.value for s in TaskStatus]})
    priority = fields.String(allow_none=True)
    due_date = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    user_id = fields.Integer(allow_none=True, metadata={"description": "The owner."})
    assigned_to = fields.Integer(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    lead_id = fields.Integer(allow_none=True)


class TaskIn(In):
    """A task to create or change."""

    required_text = ("title",)
    title = text(255, required=True)
    description = text()
    status = choice(tuple(s.value for s in TaskStatus), "Pick a status from the list.")
    priority = choice(PRIORITIES, "Pick a priority from the list.")
    due_date = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    user_id = row_ref(metadata={"description": "The owner: admins and managers only."})
    assigned_to = row_ref()
    customer_id = row_ref()
    lead_id = row_ref()


class InteractionOut(Updated):
    """An interaction."""

    type = fields.String(required=True, metadata={"enum": [t.value for t in InteractionType]})
    subject = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    customer_id = fields.Integer(allow_none=True)
    lead_id = fields.Integer(allow_none=True)
    user_id = fields.Integer(allow_none=True, metadata={"description": "Who logged it."})
    interaction_date = UtcDateTime(allow_none=True)
    duration_minutes = fields.Integer(allow_none=True)
    outcome = fields.String(allow_none=True)
    follow_up_date = fields.Date(allow_none=True)


class InteractionIn(In):
    """An interaction to create or change."""

    required_text = ("type",)
    type = choice(
        tuple(t.value for t in InteractionType),
        "Pick a type from the list.",
        required=True,
        error_messages={"required": REQUIRED, "null": REQUIRED},
    )
    subject = text(255)
    description = text()
    customer_id = row_ref()
    lead_id = row_ref()
    user_id = row_ref(metadata={"description": "Who logged it: admins and managers only."})
    interaction_date = UtcDateTime(allow_none=True)
    # The form's rule (at least one minute) and PostgreSQL's integer as the upper bound.
    duration_minutes = integer(1, str(v.duration.message))
    outcome = text()
    follow_up_date = fields.Date(allow_none=True)


class UserOut(Updated):
    """A person who signs in (never their password or 2FA secret)."""

    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(allow_none=True, metadata={"enum": [r.value for r in UserRole]})
    is_active = fields.Boolean(allow_none=True)
    last_login = UtcDateTime(allow_none=True)
    two_factor = fields.Boolean(required=True, metadata={"description": "Enrolled in 2FA."})


class UserIn(In):
    """A user to create or change (admins only)."""

    required_text = ("name", "email")
    name = text(255, required=True)
    email = text(255, required=True, validate=from_form(v.customer_email))
    role = choice(tuple(r.value for r in UserRole), "Pick a role from the list.")
    is_active = Flag(allow_none=True)
    password = Text(
        strip=False,  # a password is what was typed, spaces included
        load_only=True,
        validate=validate.Length(max=1000, error="At most 1000 characters."),
        metadata={"description": "Required for a new user; at least 8 characters."},
    )

    @pre_load
    def _lower_email(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("email"), str):
            data = {**data, "email": data["email"].lower()}
        return data


class AuditOut(Schema):
    """One audit row: a change, who made it, when and from where."""

    id = fields.Integer(required=True)
    table_name = fields.String(required=True)
    record_id = fields.Integer(required=True)
    action = fields.String(required=True)
    old_values = fields.Dict(allow_none=True)
    new_values = fields.Dict(allow_none=True)
    user_id = fields.Integer(allow_none=True, metadata={"description": "Who acted."})
    ip_address = fields.String(allow_none=True)
    user_agent = fields.String(
        allow_none=True, metadata={"description": "Names the API token, for API changes."}
    )
    created_at = UtcDateTime(allow_none=True)


class Page(Schema):
    """A page of a list, newest first, and the cursor of the next (null: the last page)."""

    next = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as ?after= for the next page; null on the last."},
    )


def page_of(item: type[Schema]) -> type[Schema]:
    """The list schema for ``item``: ``{"items": [...], "next": cursor}``."""
    name = item.__name__.removesuffix("Out") + "Page"
    return Page.from_dict({"items": fields.List(fields.Nested(item), required=True)}, name=name)
