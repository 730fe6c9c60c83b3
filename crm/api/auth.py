"""The API's requests: a personal API token each, CSRF-exempt, rate limited, JSON errors."""

from __future__ import annotations

from flask import Response, current_app, g, request
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import HTTPException

from crm.api import errors, tokens
from crm.extensions import db
from crm.security.protections import csrf
from crm.security.sessions import digest

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_key() -> str:
    """The rate limit's key: the token (as the database keys it), however the header is spelt.

    A header that carries no token counts against the client's address instead.
    """
    try:
        return "api-token:" + digest(tokens.parse(request.headers.get("Authorization")))
    except tokens.TokenError:
        return "api-address:" + (request.remote_addr or "")


def refused(response: Response) -> bool:
    """Whether a response refused the request's token (counted against its address)."""
    return response.status_code == 401


def authenticate() -> Response | None:
    """Before every API request: the token's user, or a 401 that says why.

    Flask-Login's user for the request is the token's (so the role, the row rules and
    the audit trail apply as on the pages), whatever cookie came along.
    """
    limit = current_app.config["API_MAX_BODY_KB"] * 1024
    request.max_content_length = limit  # a body sent without a length stops there too
    if (request.content_length or 0) > limit:
        return errors.json_error(413, f"The body is too large: at most {limit // 1024} KB.")
    try:
        bearer = tokens.authenticate(db.session, request.headers.get("Authorization"))
    except tokens.TokenError as exc:
        db.session.rollback()
        challenge = {"WWW-Authenticate": 'Bearer realm="crm-api"'}
        return errors.json_error(401, str(exc), challenge)
    db.session.commit()  # the token's last use
    g._login_user = bearer.user
    g.api_token = bearer.token
    if bearer.token.scope == "read" and request.method not in READS:
        return errors.json_error(
            403, "This token is read-only: make a read-write token to change data."
        )
    return None


def too_deep(_error: RecursionError) -> Response:
    """JSON nested a thousand deep: Python's parser gives up, and so does the request."""
    db.session.rollback()
    return errors.json_error(400, "The JSON is nested too deeply to read.")


def blueprint(name: str, description: str, url_prefix: str | None = None) -> ApiBlueprint:
    """An API blueprint: token-authenticated, CSRF-exempt, rate limited per token, JSON errors."""
    found = ApiBlueprint(f"api_{name}", __name__, description=description, url_prefix=url_prefix)
    found.before_request(authenticate)
    found.register_error_handler(HTTPException, errors.http_error)
    found.register_error_handler(RecursionError, too_deep)
    csrf.exempt(found)
    return found
