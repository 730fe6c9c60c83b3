"""Fields the API's schemas share: UTC moments, the forms' rules and messages, safe text.

Input is checked with the very validators the admin forms use (crm/admin/validators.py),
so a bad value gets the same sentence through the API as on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from marshmallow import ValidationError, fields, validate
from wtforms.validators import ValidationError as FormError

from crm.web.ids import MAX_ID

REQUIRED = "This field is required."  # WTForms' DataRequired, as the forms say it
MAX_INT = 2**31 - 1  # PostgreSQL's integer


class UtcDateTime(fields.DateTime):
    """A moment in UTC with its offset (RFC 3339); the database keeps naive UTC.

    Input without an offset is taken as UTC; with one, it is converted.
    """

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
                raise ValidationError("Use a date between the years 1 and 9999 (in UTC).") from None
        return moment


class Text(fields.String):
    """A string PostgreSQL can store: no NUL character, no lone surrogate; trimmed.

    ``strip=False`` keeps it as typed (a password), empty included.
    """

    def __init__(self, *, strip: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strip = strip

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Remove the NUL character: text cannot hold one.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Not valid Unicode text.") from None
        if not self.strip:
            return text
        text = text.strip()
        return text or None  # an empty string is "nothing", as a blank form field


def given(rule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``rule`` for a value that is there (a blank string reads as nothing)."""

    def check(value: Any) -> Any:
        return True if value is None else rule(value)

    return check


def text(limit: int | None = None, required: bool = False, **kwargs: Any) -> Text:
    """A varchar(limit) (or text) field; ``required``: as DataRequired, blank is missing."""
    rules: list[Any] = [kwargs.pop("validate")] if "validate" in kwargs else []
    if limit is not None:
        rules.append(given(validate.Length(max=limit, error=f"At most {limit} characters.")))
    messages: dict[str, Any] = {"required": REQUIRED, "null": REQUIRED} if required else {}
    metadata = {"maxLength": limit} if limit is not None else {}
    return Text(
        required=required,
        allow_none=True,
        validate=rules,
        error_messages=messages,
        metadata={**metadata, **kwargs.pop("metadata", {})},
        **kwargs,
    )


def filled(data: dict[str, Any], names: tuple[str, ...]) -> None:
    """Refuse a required field sent blank ("   " trims to None): the forms' message."""
    missing = {name: [REQUIRED] for name in names if name in data and data[name] is None}
    if missing:
        raise ValidationError(missing)


def from_form(rule: Callable[..., Any]) -> Callable[[Any], None]:
    """A WTForms validator (crm/admin/validators.py) as a marshmallow one: same message."""

    def check(value: Any) -> None:
        if value is None:
            return
        shim = SimpleNamespace(data=value, gettext=lambda s: s, ngettext=lambda s, _p, _n: s)
        try:
            rule(None, shim)
        except FormError as exc:
            raise ValidationError(str(exc)) from None

    return check


def choice(values: tuple[str, ...], message: str, **kwargs: Any) -> Text:
    """One of ``values`` (or nothing)."""
    return Text(
        allow_none=True,
        validate=given(validate.OneOf(values, error=message)),
        metadata={"enum": list(values), **kwargs.pop("metadata", {})},
        **kwargs,
    )


def row_ref(strict: bool = True, **kwargs: Any) -> fields.Integer:
    """Another row's id (checked against what the caller may read when it is written).

    ``strict``: a JSON number only; a query argument (text) is not strict.
    """
    return fields.Integer(
        allow_none=True,
        strict=strict,
        validate=validate.Range(min=1, max=MAX_ID, error="Not a valid id."),
        **kwargs,
    )


def amount_bound(**kwargs: Any) -> fields.Decimal:
    """A list's amount bound (``?amount_min=``): what a lead's amount can be, or zero."""

    def fits(value: Decimal) -> None:
        if not (value.is_finite() and 0 <= value < Decimal("1e13")):
            raise ValidationError("An amount from 0 to 9,999,999,999,999.99.")
        if value != value.quantize(Decimal("0.01")):
            raise ValidationError("At most two decimal places.")

    return fields.Decimal(validate=fits, **kwargs)


def integer(low: int, message: str, **kwargs: Any) -> fields.Integer:
    """An integer column with a lower bound (and PostgreSQL's upper one)."""
    return fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=low, max=MAX_INT, error=message),
        **kwargs,
    )


class Flag(fields.Boolean):
    """A JSON true or false (not "yes", 1 or "on": a client sending those has a bug)."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean: send true or false.")
        return value
