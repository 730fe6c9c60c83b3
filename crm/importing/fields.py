"""What an import can fill in, per kind of record, and how each cell is read.

Each parser takes a stripped, non-empty cell and returns the value to store, or
raises ValueError with the message the error report shows. The rules mirror
the database's constraints (and the admin forms), so a file that validates
imports without the database refusing it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crm.models import CUSTOMER_STATUSES, INDUSTRIES
from crm.models.customer import EMAIL_PATTERN

DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d")


@dataclass(frozen=True)
class Field:
    """A column of the target table (or a reference) a CSV column can map to."""

    name: str
    label: str
    parse: Callable[[str], Any]
    required: bool = False
    aliases: tuple[str, ...] = ()
    hint: str = ""


def text(limit: int | None = None) -> Callable[[str], str]:
    """Any text, at most ``limit`` characters (the varchar's length)."""

    def parse(value: str) -> str:
        if limit is not None and len(value) > limit:
            raise ValueError(f"At most {limit} characters (this has {len(value)}).")
        return value

    return parse


def email(value: str) -> str:
    """chk_customers_email."""
    if len(value) > 255 or not re.fullmatch(EMAIL_PATTERN, value, re.IGNORECASE):
        raise ValueError(f"{value!r} is not an email address like name@example.com.")
    return value


def choice(values: tuple[str, ...]) -> Callable[[str], str]:
    """One of ``values``, in any case."""
    by_lower = {v.lower(): v for v in values}

    def parse(value: str) -> str:
        try:
            return by_lower[value.lower()]
        except KeyError:
            raise ValueError(f"{value!r} is not one of: {', '.join(values)}.") from None

    return parse


def amount(value: str) -> Decimal:
    """chk_leads_amount: more than zero, numeric(15,2); thousands separators allowed."""
    try:
        number = Decimal(value.replace(",", "").replace(" ", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number (write 1500.00).") from None
    if not number.is_finite() or number <= 0:
        raise ValueError("The amount must be more than zero (or left empty).")
    if number >= Decimal("1e13"):
        raise ValueError("The amount is too large: at most 9,999,999,999,999.99.")
    if number != number.quantize(Decimal("0.01")):
        raise ValueError("At most two decimal places.")
    return number


def probability(value: str) -> int:
    """chk_leads_probability: a whole percentage (a trailing % is fine)."""
    try:
        number = int(value.rstrip("%").strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number from 0 to 100.") from None
    if not 0 <= number <= 100:
        raise ValueError("A percentage from 0 to 100.")
    return number


def currency(value: str) -> str:
    """varchar(3): a three-letter code, stored upper case."""
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError(f"{value!r} is not a three-letter currency code such as USD or EUR.")
    return value.upper()


def day(value: str) -> date:
    """An ISO date (YYYY-MM-DD, or with slashes)."""
    for layout in DATE_FORMATS:
        try:
            return datetime.strptime(value, layout).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31.")


OWNER = Field(
    "owner",
    "Owner (email)",
    email,
    aliases=("owner email", "owner", "assigned to", "sales rep"),
    hint="an active user's email; an empty cell: no owner (a rep: you); no column: you",
)

CUSTOMER_FIELDS = (
    Field(
        "name", "Name", text(255), required=True,
        aliases=("customer", "customer name", "contact"),
        hint="with Company, what tells customers apart",
    ),
    Field("company", "Company", text(255), aliases=("organisation", "organization", "account")),
    Field("email", "Email", email, aliases=("e-mail", "email address"), hint="name@example.com"),
    Field("phone", "Phone", text(50), aliases=("telephone", "phone number", "mobile")),
    Field("industry", "Industry", choice(INDUSTRIES), hint=", ".join(INDUSTRIES)),
    Field("website", "Website", text(255), aliases=("url", "web")),
    Field("address", "Address", text(), aliases=("street",)),
    Field("city", "City", text(100)),
    Field("state", "State", text(100), aliases=("region", "province")),
    Field("country", "Country", text(100)),
    Field("postal_code", "Postal code", text(20), aliases=("zip", "zip code", "postcode")),
    Field("status", "Status", choice(CUSTOMER_STATUSES), hint="active, inactive or prospect"),
    OWNER,
    Field("notes", "Notes", text(), aliases=("note", "comments")),
)  # fmt: skip

LEAD_FIELDS = (
    Field("title", "Title", text(255), required=True, aliases=("lead", "deal", "name")),
    Field("description", "Description", text()),
    Field(
        "amount", "Amount", amount, aliases=("value", "deal value"),
        hint="more than 0, at most two decimals",
    ),
    Field("currency", "Currency", currency, hint="three letters; empty: USD"),
    Field(
        "customer_name", "Customer name", text(255), aliases=("customer", "contact"),
        hint="an existing customer, found by name and company",
    ),
    Field(
        "customer_company", "Customer company", text(255), aliases=("company", "account"),
        hint="that customer's company, if it has one",
    ),
    Field("stage", "Stage", text(100), hint="a lead stage's name; empty: the first stage"),
    OWNER,
    Field("source", "Source", text(100), aliases=("lead source", "channel")),
    Field(
        "probability", "Probability", probability, aliases=("probability %", "chance"),
        hint="a whole percentage, 0-100",
    ),
    Field(
        "expected_close_date", "Expected close", day,
        aliases=("expected close", "close date", "closing date"), hint="YYYY-MM-DD",
    ),
)  # fmt: skip

FIELDS = {"customers": CUSTOMER_FIELDS, "leads": LEAD_FIELDS}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def guess_mapping(kind: str, header: list[str]) -> dict[int, str]:
    """CSV column index -> field name, for headers that name a field (or an alias)."""
    names: dict[str, str] = {}
    for field in FIELDS[kind]:
        for alias in (field.name, field.label, *field.aliases):
            names.setdefault(_key(alias), field.name)
    mapping: dict[int, str] = {}
    for index, column in enumerate(header):
        target = names.get(_key(column))
        if target is not None and target not in mapping.values():
            mapping[index] = target
    return mapping
