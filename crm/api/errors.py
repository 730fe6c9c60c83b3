"""JSON errors for ``/api/v1/`` (the pages keep their HTML ones).

Every error an API client gets is ``{"status": code, "error": short name,
"message": what to do}`` (and ``"errors"`` by field for bad input), never an HTML page.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

PREFIX = "/api/"


def is_api_request() -> bool:
    """Whether this request is for the JSON API (its errors are JSON too)."""
    return request.path.startswith(PREFIX)


def json_error(
    code: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """An error response: the status, its name and a message a person can act on."""
    response = jsonify(
        status=code, error=HTTP_STATUS_CODES.get(code, "Error"), message=message, **extra
    )
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


MESSAGES = {
    400: "The request could not be read: check its JSON and its parameters.",
    403: "Your role may not do this.",
    404: "Nothing here: check the address (the API lives under /api/v1/).",
    405: "This address does not take that method.",
    413: "The body is too large.",
    422: "Not done: check what 'errors' names, by place and field.",
    429: "Too many requests for this token: wait a minute, then try again.",
}


def http_error(error: HTTPException) -> Response:
    """Any HTTP error raised under ``/api/``, as JSON, keeping what the raiser gave.

    flask-smorest's ``abort(code, message=…, errors=…, headers=…)`` and webargs'
    validation messages (``messages``, by location and field) come through.
    """
    code = error.code or 500
    data = getattr(error, "data", None)
    data = data if isinstance(data, dict) else {}
    fields_ = data.get("errors") or data.get("messages")
    custom = error.description and error.description != type(error).description
    message = (
        data.get("message")
        or (error.description if custom else MESSAGES.get(code))
        or error.description
        or str(code)
    )
    extra = {"errors": fields_} if fields_ else {}
    headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
    headers.update(data.get("headers") or {})
    return json_error(code, str(message), headers, **extra)


class ErrorSchema(Schema):
    """Every API error's body (``json_error``), as the OpenAPI document describes it."""

    status = fields.Integer(required=True, metadata={"description": "The HTTP status."})
    error = fields.String(required=True, metadata={"description": "Its name."})
    message = fields.String(required=True, metadata={"description": "What to do next."})
    errors = fields.Dict(metadata={"description": "Bad input, by field."})
