"""Form fields every model view uses: strict dates, and enums by their stored value."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model.form import converts
from wtforms.fields import DateField, DateTimeLocalField
from wtforms.widgets import DateInput

from crm.web import formats

DATE_MESSAGE = "Enter a date as YYYY-MM-DD, for example 2026-12-31."
DATETIME_MESSAGE = "Enter a date and time as YYYY-MM-DD HH:MM, for example 2026-12-31 14:30."
# The browser's datetime-local input sends the first; scripts and older tabs the others.
# Seconds first, so an edit form shows them and saving it unchanged keeps them.
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]


class StrictDateField(DateField):
    """A date in YYYY-MM-DD, or a clear message (never a guess)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATE_MESSAGE) from None


class StrictDateTimeField(DateTimeLocalField):
    """A date and time in ISO layout (what the browser's input sends), or a clear message.

    Shown and read in DISPLAY_TIMEZONE, as every page shows times; stored in UTC.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("format", DATETIME_FORMATS)
        super().__init__(*args, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return " ".join(self.raw_data)
        return formats.local(self.data).strftime(self.format[0]) if self.data else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(DATETIME_MESSAGE) from None
        if self.data is not None:
            self.data = formats.to_utc(self.data)

    def populate_obj(self, obj: Any, name: str) -> None:
        # The form shows seconds: saved unchanged, a stored time keeps its microseconds
        # (and the audit trail records no change that nobody made).
        current = getattr(obj, name, None)
        if isinstance(current, datetime) and current.replace(microsecond=0) == self.data:
            return
        super().populate_obj(obj, name)


class EnumValueConverter(AdminModelConverter):
    """Enum selects keyed by the stored value ("meeting"), as their options are.

    Flask-Admin coerces the row's member to its *name* ("MEETING"), which matches
    no option: an edit form showed no current value, and saving it unchanged
    blanked a user's role or a task's status, or turned a meeting into a call.
    """

    @converts("Date")
    def convert_date(self, column: Any, field_args: Any, **extra: Any) -> Any:
        """The browser's own date input, and only YYYY-MM-DD accepted.

        Flask-Admin's date picker re-read a typed "31/12/2026" as 2031-12-20 and
        saved it without a word; a native date input cannot hold a wrong date, and
        what a script posts is parsed strictly, with a message beside the field.
        """
        field_args.setdefault("widget", DateInput())
        return StrictDateField(**field_args)

    @converts("DateTime")
    def convert_datetime(self, column: Any, field_args: Any, **extra: Any) -> Any:
        """The browser's own date-and-time input; a few ISO layouts accepted, strictly."""
        field_args.setdefault("render_kw", {"step": 1})
        return StrictDateTimeField(**field_args)

    @converts("sqlalchemy.sql.sqltypes.Enum")
    def convert_enum(self, column: Any, field_args: Any, **extra: Any) -> Any:
        field = super().convert_enum(column, field_args, **extra)
        field.kwargs["coerce"] = lambda v: v.value if isinstance(v, enum.Enum) else str(v)
        return field
