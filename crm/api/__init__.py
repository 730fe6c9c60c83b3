"""``/api/v1/``: the JSON API (issue 20), documented at ``/api/v1/openapi.json``.

flask-smorest builds the OpenAPI 3 document from the marshmallow schemas the
endpoints validate and answer with. Requests authenticate with a personal API token
(``Authorization: Bearer crm_…``, crm/api/tokens.py), never with the session cookie;
CSRF does not apply (no cookie, no ambient authority); each token has its own rate
limit. Errors are JSON (crm/api/errors.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from crm.api import account
from crm.api.auth import token_key
from crm.security.protections import limiter


class _Api(Api):
    """flask-smorest's Api, with its JSON error handler kept to the API's blueprints.

    Its own registers for every HTTP error of the app, which would turn the admin
    pages' HTML error pages into JSON.
    """

    def _register_error_handlers(self) -> None:
        return None


def init_app(app: Flask) -> None:
    """Bind the API: its document, its blueprints, its JSON errors and rate limit."""
    app.config.setdefault("API_TITLE", "CRM API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = _Api(app, spec_kwargs=_spec_kwargs())
    limit = app.config["API_RATE_LIMIT"]
    for found in (account.bp,):
        limiter.limit(limit, key_func=token_key)(found)
        api.register_blueprint(found, url_prefix="/api/v1")
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    app.extensions["crm-api"] = api


def _spec_kwargs() -> dict[str, Any]:
    return {"info": {"description": "The CRM's JSON API. Send Authorization: Bearer <token>."}}
