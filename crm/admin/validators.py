"""Form validators that mirror the database's constraints.

A person sees the rule beside the field before the database has to refuse the save.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from wtforms import Field, Form
from wtforms.validators import Length, NumberRange, Optional, Regexp, ValidationError

from crm.models.customer import EMAIL_PATTERN

# chk_customers_email, as PostgreSQL's ~* reads it (case-insensitive).
customer_email = Regexp(
    EMAIL_PATTERN, flags=re.IGNORECASE, message="Enter an email address like name@example.com."
)
# chk_leads_probability
probability = NumberRange(min=0, max=100, message="A percentage from 0 to 100.")
# chk_interactions_duration
duration = NumberRange(min=1, message="At least one minute (or leave it empty).")


def positive_amount(_form: Form, field: Field) -> None:
    """chk_leads_amount: more than zero or empty; numeric(15,2) fits 13 integer digits."""
    value: Decimal | None = field.data
    if value is None:
        return
    if not value.is_finite():  # "NaN", "Infinity": Decimal takes them, numeric does not
        raise ValidationError("Enter an amount such as 1500.00.")
    if value <= 0:
        raise ValidationError("The amount must be more than zero (or left empty).")
    if value >= Decimal("1e13"):
        raise ValidationError("The amount is too large: at most 9,999,999,999,999.99.")
    if value != value.quantize(Decimal("0.01")):
        # numeric(15,2) would round 12500.005 without a word; the import refuses it too.
        raise ValidationError("At most two decimal places.")


def currency_code(_form: Form, field: Field) -> None:
    """varchar(3): a three-letter ISO currency code such as USD or EUR."""
    if field.data and not re.fullmatch(r"[A-Za-z]{3}", field.data.strip()):
        raise ValidationError("Use a three-letter currency code such as USD or EUR.")
    if field.data:
        field.data = field.data.strip().upper()


def positive_rate(_form: Form, field: Field) -> None:
    """chk_exchange_rates_rate: more than zero; numeric(18,8) fits 10 integer digits."""
    value: Decimal | None = field.data
    if value is None:
        return
    if not value.is_finite() or value <= 0:
        raise ValidationError("A rate is a number above zero, such as 1.0825.")
    if value >= Decimal("1e10") or value != value.quantize(Decimal("1e-8")):
        raise ValidationError("At most ten digits before the point and eight after it.")


def optional(*rules: Any) -> list[Any]:
    """Validators for a nullable column: empty is fine, anything else obeys the rules."""
    return [Optional(), *rules]


def text(limit: int) -> list[Any]:
    """A varchar(limit) column that may be empty."""
    return [Optional(), Length(max=limit, message=f"At most {limit} characters.")]
