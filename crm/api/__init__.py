"""``/api/v1/``: the JSON API (issue 20), documented at ``/api/v1/openapi.json``.

flask-smorest builds the OpenAPI 3 document from the marshmallow schemas the
endpoints validate and answer with. Requests authenticate with a personal API token
(``Authorization: Bearer crm_…``, crm/api/tokens.py), never with the session cookie
(API requests neither read nor write it); CSRF does not apply (no cookie, no ambient
authority); each token has its own rate limit, and each address a limit on refused
tokens. Errors are JSON (crm/api/errors.py).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, current_app, request
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from werkzeug.exceptions import InternalServerError

from crm.api.auth import refused, token_key
from crm.api.errors import PREFIX, ErrorSchema, http_error, is_api_request
from crm.security.protections import limiter

# The API addresses without a token: its document and the page that shows it.
PUBLIC = frozenset({"api-docs.openapi_json", "api_docs_page.docs"})


class _Api(Api):
    """flask-smorest's Api, with its JSON error handler kept to the API's blueprints.

    Its own registers for every HTTP error of the app, which would turn the admin
    pages' HTML error pages into JSON.
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        return None

    def register_blueprint(self, blp: Any, **options: Any) -> None:
        """Register ``blp``; its section of the document is named without the ``api_``.

        Blueprint names need the prefix (the admin has ``customers`` too); its routes name
        their section themselves (``tags=``), and this names the section's description.
        """
        add_tag = self.spec.tag
        shown = blp.name.removeprefix("api_")
        self.spec.tag = lambda found: add_tag({**found, "name": shown})
        try:
            super().register_blueprint(blp, **options)
        finally:
            del self.spec.tag


class _SessionInterface(SecureCookieSessionInterface):
    """The cookie session, except that an API request neither reads nor refreshes it."""

    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path.startswith(PREFIX):
            return self.session_class()  # empty: no cookie can sign an API request in
        return super().open_session(app, request)

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        return not is_api_request() and super().should_set_cookie(app, session)


def signs_itself_in() -> bool:
    """Whether this request needs no session: an API endpoint (its token), or no endpoint.

    Only the blueprints registered here, and the OpenAPI document; an API address
    that matches nothing is a JSON 404 (no view runs). Anything else under /api/
    still needs a signed-in session, so a view added there by mistake fails closed.
    """
    if not is_api_request():
        return False
    names = current_app.extensions.get("crm-api-blueprints", ())
    return request.endpoint is None or request.endpoint in PUBLIC or request.blueprint in names


def _server_error(error: InternalServerError) -> Any:
    """An unexpected error: JSON under /api/, Flask's own page elsewhere."""
    return http_error(error) if is_api_request() else error


def init_app(app: Flask) -> None:
    """Bind the API: its document, its blueprints, its JSON errors and rate limits."""
    # Here, not at the top: crm/web/ imports this package's errors before the views exist.
    from crm.api import account, docs, pipeline, routes
    from crm.api.resources import SERVED

    app.config.setdefault("API_TITLE", "CRM API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.session_interface = _SessionInterface()
    api = _Api(app, spec_kwargs=_spec_kwargs())
    blueprints = (account.bp, pipeline.bp, *(routes.register(kind) for kind in SERVED))
    for found in blueprints:
        limiter.limit(app.config["API_RATE_LIMIT"], key_func=token_key)(found)
        # Refused tokens per address: guessing costs a lookup each, so it is capped.
        limiter.limit(
            app.config["API_REFUSED_LIMIT"], key_func=get_remote_address, deduct_when=refused
        )(found)
        api.register_blueprint(found, url_prefix="/api/v1" + (found.url_prefix or ""))
    app.extensions["crm-api-blueprints"] = frozenset(found.name for found in blueprints)
    app.register_blueprint(docs.bp)
    app.register_error_handler(InternalServerError, _server_error)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearer": []}]
    app.extensions["crm-api"] = api


def _spec_kwargs() -> dict[str, Any]:
    about = (
        "The CRM's JSON API. Send `Authorization: Bearer crm_…`, a personal API token made "
        "on your profile. Guide: docs/api.md."
    )
    return {"info": {"description": about}}
