"""The API's requests: a personal API token each, CSRF-exempt, rate limited, JSON errors."""

from __future__ import annotations

import hashlib

from flask import Response, g, request
from flask_smorest import Blueprint as ApiBlueprint
from werkzeug.exceptions import HTTPException

from crm.api import errors, tokens
from crm.extensions import db
from crm.security.protections import csrf

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def token_key() -> str:
    """The rate limit's key: the token sent (digested), else the client's address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "api-token:" + hashlib.sha256(header.encode("utf-8")).hexdigest()[:32]
    return "api-address:" + (request.remote_addr or "")


def authenticate() -> Response | None:
    """Before every API request: the token's user, or a 401 that says why.

    Flask-Login's user for the request is the token's (so the role, the row rules and
    the audit trail apply as on the pages), whatever cookie came along.
    """
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


def blueprint(name: str, description: str) -> ApiBlueprint:
    """An API blueprint: token-authenticated, CSRF-exempt, rate limited per token, JSON errors."""
    found = ApiBlueprint(name, __name__, description=description)
    found.before_request(authenticate)
    found.register_error_handler(HTTPException, errors.http_error)
    csrf.exempt(found)
    return found
