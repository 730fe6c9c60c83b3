"""``/api/v1/pipeline``: the funnel's figures, as the pipeline page shows them.

The same service and filters as the page (crm/sales/pipeline.py): a sales rep's
token gets their own leads' funnel whatever owner it asks for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask_login import current_user
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from crm.api.auth import blueprint
from crm.api.fields import choice, row_ref
from crm.api.records import need
from crm.api.schemas import AMOUNT
from crm.extensions import db
from crm.models import CURRENCIES, LEAD_SOURCES
from crm.sales import pipeline
from crm.sales.rates import base_currency
from crm.security.policy import Action, Resource

RANGE_HINT = "Use a date between 1900 and 9998."
SENSIBLE = validate.Range(min=date(1900, 1, 1), max=date(9998, 12, 31), error=RANGE_HINT)


def _day(description: str) -> fields.Date:
    return fields.Date(validate=SENSIBLE, metadata={"description": description})


class PipelineQuery(Schema):
    """The pipeline page's filters."""

    currency = choice(
        CURRENCIES,
        "Pick a currency from the list.",
        metadata={"description": "Only leads in this currency, in their own amounts "
                  "(default: every lead, converted to the base currency)."},
    )  # fmt: skip
    owner_id = row_ref(
        strict=False, metadata={"description": "One owner's leads (a rep: always theirs)."}
    )
    source = choice(LEAD_SOURCES, "Pick a source from the list.")
    created_from = _day("Leads created on or after this day.")
    created_to = _day("Leads created on or before this day.")
    close_from = _day("Leads expected to close on or after this day.")
    close_to = _day("Leads expected to close on or before this day.")
    as_of = _day("The funnel as it stood at the end of this day.")

    class Meta:
        """Unknown fields are refused, by name."""

        unknown = RAISE

    @validates_schema
    def _ranges(self, data: dict[str, Any], **_kwargs: Any) -> None:
        for start, end in (("created_from", "created_to"), ("close_from", "close_to")):
            if data.get(start) and data.get(end) and data[end] < data[start]:
                raise ValidationError("The end of a range cannot come before its start.", end)
        if data.get("as_of") and data["as_of"] > datetime.now(UTC).date():
            raise ValidationError(
                "Pick today or an earlier day: the pipeline of a later one is not known yet.",
                "as_of",
            )


class TotalsOut(Schema):
    """Leads and their amounts."""

    leads = fields.Integer(required=True)
    amount = fields.Decimal(places=2, as_string=True, required=True, metadata=AMOUNT)
    weighted = fields.Decimal(places=2, as_string=True, required=True, metadata=AMOUNT)
    unrated = fields.Integer(
        required=True, metadata={"description": "Leads left out of the amounts: no rate."}
    )


class StepOut(Schema):
    """One stage of the funnel."""

    stage_id = fields.Integer(required=True)
    name = fields.String(required=True)
    here = fields.Nested(TotalsOut, required=True, metadata={"description": "In it now."})
    reached = fields.Nested(
        TotalsOut, required=True, metadata={"description": "Ever in it or a later stage."}
    )
    conversion = fields.Float(
        allow_none=True, required=True, metadata={"description": "Share that reached the next."}
    )


class FunnelOut(Schema):
    """The funnel: stages in pipeline order, Closed Lost beside them."""

    currency = fields.String(required=True, metadata={"description": "The amounts' currency."})
    steps = fields.List(fields.Nested(StepOut), required=True)
    lost = fields.Nested(StepOut, allow_none=True, required=True)
    won = fields.Nested(TotalsOut, required=True)
    win_rate = fields.Float(allow_none=True, required=True)


bp = blueprint("pipeline", "The sales pipeline's funnel.")


@bp.route("/pipeline", tags=["pipeline"])
@bp.arguments(PipelineQuery, location="query", unknown=RAISE, as_kwargs=True)
@bp.response(200, FunnelOut)
def funnel(**args: Any) -> dict[str, Any]:
    """Leads per stage, how far they went, the conversion between stages and the win rate."""
    need(Resource.PIPELINE, Action.READ)
    filters = pipeline.Filters(**args)
    found = pipeline.funnel(db.session, current_user, filters)
    return {
        "currency": filters.currency or base_currency(),
        "steps": found.steps,
        "lost": found.lost,
        "won": found.won,
        "win_rate": found.win_rate,
    }
