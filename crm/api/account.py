"""``/api/v1/me``: who the token speaks for (issue 20)."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_login import current_user
from marshmallow import Schema, fields

from crm.api.auth import blueprint
from crm.api.fields import UtcDateTime


class TokenSchema(Schema):
    """The token a request came with (never its secret)."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True, metadata={"enum": ["read", "write"]})
    prefix = fields.String(required=True)
    expires_at = UtcDateTime(required=True)


class MeSchema(Schema):
    """The token's owner: their account, role and the token itself."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True)
    token = fields.Nested(TokenSchema, required=True)


bp = blueprint("account", "The token's owner.")


@bp.route("/me", tags=["account"])
@bp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """The token's owner and the token: check a token, or learn your role."""
    return {
        "id": current_user.id,
        "email": current_user.email,
        "name": current_user.name,
        "role": current_user.effective_role.value,
        "token": g.api_token,
    }
