"""Plain pages outside the admin: the landing page and the health check."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import plotly
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
)
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from crm.api.errors import MESSAGES, http_error, is_api_request, json_error
from crm.extensions import db
from crm.maintenance import drill as drills

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> BaseResponse:
    """The site root is the admin home (sign-in first, when signed out)."""
    return redirect("/admin/")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness and database check for load balancers: 200, or 503 with the reason.

    Also the last restore drill's day and result (a failed drill does not take the
    app out of service: it is for monitoring to alert on).
    """
    db.session.execute(text("SELECT 1"))  # an outage: crm/db/outage.py answers 503
    drill = drills.last(db.session)
    backup = (
        {"verified_at": drill.checked_at.isoformat(timespec="seconds") + "Z", "ok": drill.ok}
        if drill
        else {"verified_at": None, "ok": None}
    )
    return jsonify(status="ok", database="ok", backup=backup), 200


# plotly.js ships inside the plotly package: served from here, never from a CDN
# (internal networks often have no internet). Versioned by the package's version.
PLOTLY_JS_DIR = Path(plotly.__file__).parent / "package_data"
PLOTLY_JS_URL = f"/static/vendor/plotly-{plotly.__version__}.min.js"


@functools.cache
def _plotly_js_bytes() -> bytes:
    # Held in memory (4.8 MB, once per worker): streaming the file left its handle
    # open whenever a browser navigated away mid-download.
    return (PLOTLY_JS_DIR / "plotly.min.js").read_bytes()


def plotly_js() -> BaseResponse:
    """plotly.min.js, cacheable for a year (its URL changes with each version)."""
    response = Response(_plotly_js_bytes(), mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = 365 * 24 * 3600
    response.set_etag(plotly.__version__)
    return response.make_conditional(request)


def _error_page(code: int) -> Callable[[Exception], BaseResponse | tuple[str, int]]:
    def render(exc: Exception) -> BaseResponse | tuple[str, int]:
        if is_api_request() and isinstance(exc, HTTPException):
            return http_error(exc)  # an address under /api/ that no endpoint has
        return render_template(f"errors/{code}.html"), code

    return render


def too_large(_exc: Exception) -> BaseResponse | tuple[str, int]:
    """A body over MAX_CONTENT_LENGTH: an import page says so above its form; others get 413."""
    if is_api_request():
        return json_error(413, MESSAGES[413])
    if request.path.endswith("/import/") and request.method == "POST":
        limit = current_app.config["IMPORT_MAX_MB"]
        flash(f"The file is larger than {limit} MB, the most an import takes. Split it.", "error")
        return redirect(request.path)
    return render_template("errors/413.html"), 413


def _not_allowed(exc: HTTPException) -> BaseResponse | HTTPException:
    """A method an address does not take: JSON under /api/, else werkzeug's own page."""
    return http_error(exc) if is_api_request() else exc


def init_app(app: Flask) -> None:
    """Register the blueprint and the error pages."""
    app.register_blueprint(bp)
    # A rule without converters outranks the static folder's /static/<path:filename>.
    app.add_url_rule(PLOTLY_JS_URL, "plotly_js", plotly_js)
    app.jinja_env.globals["plotly_js_url"] = PLOTLY_JS_URL
    app.register_error_handler(413, too_large)
    app.register_error_handler(405, _not_allowed)
    for code in (403, 404):
        app.register_error_handler(code, _error_page(code))
