"""``/api/v1/docs``: the API's documentation page, from vendored assets (no CDN).

Swagger UI 5 (static/vendor/swagger-ui/) reads the OpenAPI document the endpoints
are built from; the page holds no data, so it needs no token (nor does the document).
"""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

bp = Blueprint("api_docs_page", __name__)


@bp.route("/api/v1/docs")
def docs() -> str:
    """The documentation page: every endpoint, its parameters, bodies and answers."""
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))
