"""Request-wide protections: CSRF, rate limiting, security headers with a CSP nonce."""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, render_template, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)


def csp_nonce() -> str:
    """The CSP nonce of this request (one per request, shared by every tag on the page)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def _content_security_policy() -> str:
    nonce = csp_nonce()
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            # Bootstrap and Flask-Admin set style attributes; styles cannot run code.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    seconds = current_app.config.get("HSTS_SECONDS")
    if seconds:
        headers.setdefault("Strict-Transport-Security", f"max-age={seconds}; includeSubDomains")
    if _private():
        # A shared cache or the back button must never show one person's page or
        # export to the next person at that browser.
        response.cache_control.no_store = True
    return response


def _private() -> bool:
    """Whether the response is a signed-in person's own (every page and export, not assets).

    Read from the session cookie, never by loading the user: that would query the
    database after the response was made, and during an outage turn the 503 into
    a failure of its own (crm/db/outage.py).
    """
    endpoint = request.endpoint or ""
    if endpoint == "plotly_js" or endpoint == "static" or endpoint.endswith(".static"):
        return False
    # The API's answers are a token owner's own data, whatever cookie came along.
    return session.get("_user_id") is not None or request.path.startswith("/api/")


def _csrf_failed(error: CSRFError) -> tuple[str, int]:
    """A form without a valid token: say so where the person is looking; change nothing.

    The sign-in page says it on the form itself (crm/security/auth.py's own handler).
    """
    return render_template("errors/400.html", reason=error.description), 400


def init_app(app: Flask) -> None:
    """Wire CSRF, the limiter and the headers into the app."""
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_set_headers)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
