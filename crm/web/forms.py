"""The base of every form: Flask-WTF's CSRF token, and input no column can hold refused.

Checked for every field at once, after the fields' own checks, so a form needs
nothing of its own: a NUL character (PostgreSQL's text cannot hold one) and a
whole number beyond PostgreSQL's ``integer`` become a message beside the field,
the form keeps what was typed, and nothing is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wtforms import Field, IntegerField

from crm.web.edge import NUL
from crm.web.ids import MAX_ID

if TYPE_CHECKING:
    from markupsafe import Markup
    from wtforms import Form as _WTForm

    class FlaskForm(_WTForm):
        """Flask-WTF's FlaskForm as the type checker sees it (the package ships no types).

        A WTForms form with the CSRF token and the request's data; these are what it adds.
        """

        def is_submitted(self) -> bool:
            """Whether the request is a submission (POST, PUT, PATCH or DELETE)."""
            ...

        def validate_on_submit(self, extra_validators: Any = None) -> bool:
            """``is_submitted() and validate()``."""
            ...

        def hidden_tag(self, *fields: Any) -> Markup:
            """The form's hidden fields (the CSRF token among them), rendered."""
            ...

else:
    from flask_wtf import FlaskForm

NUL_MESSAGE = "Remove the NUL character (a zero byte): no field can hold one."


def _too_big(field: Field) -> bool:
    """Whether ``field`` holds a whole number PostgreSQL's ``integer`` cannot."""
    return isinstance(field, IntegerField) and field.data is not None and abs(field.data) > MAX_ID


def has_nul(field: Field) -> bool:
    """Whether what was sent for ``field`` holds a NUL character."""
    return any(NUL in str(raw) for raw in field.raw_data or ())


class Form(FlaskForm):
    """FlaskForm, refusing values no column can store (see the module's docstring)."""

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own checks, then the storable-value check on every field."""
        valid = super().validate(extra_validators)
        for field in self:
            if has_nul(field):  # the cause of whatever else the field's checks said
                field.errors = [NUL_MESSAGE]
                valid = False
            elif _too_big(field) and not field.errors:  # its own range says it better
                field.errors = [f"Enter a whole number between {-MAX_ID:,} and {MAX_ID:,}."]
                valid = False
        return valid
